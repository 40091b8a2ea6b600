package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkPages walks the page structure of the bbolt file at path with
// ordinary, bounds-checked reads (pread), before bbolt maps it.
//
// bbolt trusts its pages: it follows page IDs and element offsets with
// unsafe pointer arithmetic into its memory map, so a damaged page makes it
// read outside the map, which is a fault that recover cannot always catch
// (bbolt's own Tx.Check runs in a goroutine of its own). checkPages proves,
// for the meta page bbolt will use, that every page reachable from the root
// bucket and the freelist lies inside the file, says what it is, is
// referenced once, and keeps every element, key and value inside the page;
// after that, nothing bbolt reads while checking or serving this file can
// leave the map. It does not check key order or the freelist's accounting:
// Tx.Check does that afterwards.
//
// It returns the chosen meta (for the caller to compare with what bbolt
// opened) or an error wrapping ErrCorrupt that names the page and the
// problem, or ErrNotStore when the file is not a bbolt file at all.
func checkPages(path string) (pageMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return pageMeta{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return pageMeta{}, err
	}
	// Mapped, the walk reads pages without a system call each; reads
	// stay bounds-checked (a []byte), and guard turns a fault (the file
	// shrunk meanwhile) into ErrCorrupt.
	if data, unmap, err := mapFile(f, fi.Size()); err == nil {
		defer unmap()
		var m pageMeta
		err := guard(func() error {
			w := &pageWalker{r: bytes.NewReader(data), data: data, size: int64(len(data))}
			var err error
			m, err = w.check()
			return err
		})
		return m, err
	}
	return checkPagesFrom(f, fi.Size())
}

// checkPagesFrom is checkPages of the size bytes r holds.
func checkPagesFrom(r io.ReaderAt, size int64) (pageMeta, error) {
	return (&pageWalker{r: r, size: size}).check()
}

func (w *pageWalker) check() (pageMeta, error) {
	m, err := w.pickMeta()
	if err != nil {
		return pageMeta{}, err
	}
	w.meta = m
	if err := w.walk(); err != nil {
		return pageMeta{}, err
	}
	return m, nil
}

// pageMeta is the part of a bbolt meta page the walk needs.
type pageMeta struct {
	pageSize uint32
	root     uint64 // root bucket's page
	freelist uint64 // freelist page, or noFreelist
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
	checksum uint64
}

// Layout of a bbolt file (go.etcd.io/bbolt/internal/common), in the
// machine's byte order, which is the order the file was written in.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	leafElemSize     = 16 // flags u32, pos u32, ksize u32, vsize u32
	branchElemSize   = 16 // pos u32, ksize u32, pgid u64
	bucketHeaderSize = 16 // root u64, sequence u64
	metaSize         = 64 // magic, version, pageSize, flags u32; root, seq, freelist, pgid, txid, checksum u64
	boltMagic        = 0xED0CDAED
	boltVersion      = 2

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafBucket   = 0x01 // leaf element flag: the value is a nested bucket

	noFreelist   = ^uint64(0)
	maxTreeDepth = 64
)

var ne = binary.NativeEndian

type pageWalker struct {
	r    io.ReaderAt
	data []byte // the whole file, when it is mapped: pages are read in place
	size int64
	meta pageMeta
	// visit, if set (tests only), is told about each page reached: its
	// flags, element count and overflow.
	visit func(id uint64, flags uint16, count int, overflow uint64)
	seen  []uint64 // bitset of pages already reached
	bufs  [][]byte // one read buffer per tree depth
}

func (w *pageWalker) mark(id uint64) bool {
	was := w.seen[id/64]&(1<<(id%64)) != 0
	w.seen[id/64] |= 1 << (id % 64)
	return was
}

// corrupt formats a structural problem.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// pickMeta reads both meta pages and chooses the one bbolt would: the
// valid one (magic, version, checksum) with the higher transaction ID.
// Then it checks what bbolt does not: that the chosen page is flagged as a
// meta page, its page size is sane, and its pages fit in the file.
func (w *pageWalker) pickMeta() (pageMeta, error) {
	var hdr [pageHeaderSize + metaSize]byte
	read := func(off int64) (pageMeta, uint16, error) {
		if _, err := w.r.ReadAt(hdr[:], off); err != nil {
			return pageMeta{}, 0, err
		}
		m, err := parseMeta(hdr[pageHeaderSize:])
		return m, ne.Uint16(hdr[8:]), err
	}
	m0, f0, err0 := read(0)
	// The second meta page is one page further; bbolt takes the page size
	// from the first, or (first damaged) from wherever a valid second one
	// is.
	var m1 pageMeta
	var f1 uint16
	err1 := errors.New("not found")
	if err0 == nil {
		m1, f1, err1 = read(int64(m0.pageSize))
	} else {
		for ps := int64(1024); ps <= 1<<24 && ps < w.size-1024; ps <<= 1 {
			if m1, f1, err1 = read(ps); err1 == nil {
				break
			}
		}
	}
	var m pageMeta
	var flags uint16
	switch {
	case err0 == nil && err1 == nil:
		m, flags = m0, f0
		if m1.txid > m0.txid {
			m, flags = m1, f1
		}
	case err0 == nil:
		m, flags = m0, f0
	case err1 == nil:
		m, flags = m1, f1
	default:
		if !hasBoltMagicBytes(w.r) {
			return pageMeta{}, fmt.Errorf("%w: no bbolt header", ErrNotStore)
		}
		return pageMeta{}, corrupt("both bbolt meta pages are damaged (page 0: %v; page 1: %v)", err0, err1)
	}
	if flags != flagMeta {
		return pageMeta{}, corrupt("meta page of transaction %d has page flags %#x", m.txid, flags)
	}
	if m.pageSize < 1024 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0 {
		return pageMeta{}, corrupt("meta page: page size %d", m.pageSize)
	}
	if w.size < 0 || m.pgid > uint64(w.size)/uint64(m.pageSize) {
		return pageMeta{}, corrupt("file is %d bytes, its meta page says %d pages of %d (truncated)", w.size, m.pgid, m.pageSize)
	}
	if m.root < 2 || m.root >= m.pgid {
		return pageMeta{}, corrupt("meta page: root bucket page %d is outside [2, %d)", m.root, m.pgid)
	}
	if m.freelist == noFreelist {
		// gated never writes one; bbolt would rebuild the freelist with a
		// check that panics in a goroutine of its own on any damage, and
		// its writer would rewrite the file at open.
		return pageMeta{}, fmt.Errorf("%w: a bbolt file without a stored freelist (not written by gated)", ErrNotStore)
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return pageMeta{}, corrupt("meta page: freelist page %d is outside [2, %d)", m.freelist, m.pgid)
	}
	return m, nil
}

// parseMeta reads a meta record (after the page header) and validates it
// as bbolt does: magic, version, checksum.
func parseMeta(mb []byte) (pageMeta, error) {
	if ne.Uint32(mb[0:]) != boltMagic {
		return pageMeta{}, errors.New("no bbolt magic")
	}
	if v := ne.Uint32(mb[4:]); v != boltVersion {
		return pageMeta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(mb[:56])
	if h.Sum64() != ne.Uint64(mb[56:]) {
		return pageMeta{}, errors.New("checksum mismatch")
	}
	return pageMeta{
		pageSize: ne.Uint32(mb[8:]),
		root:     ne.Uint64(mb[16:]),
		freelist: ne.Uint64(mb[32:]),
		pgid:     ne.Uint64(mb[40:]),
		txid:     ne.Uint64(mb[48:]),
		checksum: ne.Uint64(mb[56:]),
	}, nil
}

func hasBoltMagicBytes(r io.ReaderAt) bool {
	var b [20]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return false
	}
	return ne.Uint32(b[16:]) == boltMagic
}

// readPage reads page id and its overflow pages, after checking that they
// lie inside the high-water mark, that the page says it is page id, and
// that it is not reached twice.
func (w *pageWalker) readPage(id uint64, what string, depth int) ([]byte, error) {
	if id < 2 || id >= w.meta.pgid {
		return nil, corrupt("%s: page %d is outside [2, %d)", what, id, w.meta.pgid)
	}
	if w.mark(id) {
		return nil, corrupt("%s: page %d is reached twice", what, id)
	}
	ps := int64(w.meta.pageSize)
	if w.data != nil {
		return w.mappedPage(id, what, ps)
	}
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, make([]byte, ps))
	}
	b := w.bufs[depth][:ps]
	if _, err := w.r.ReadAt(b, int64(id)*ps); err != nil {
		return nil, corrupt("%s: page %d: %v", what, id, err)
	}
	if got := ne.Uint64(b[0:]); got != id {
		return nil, corrupt("%s: page %d says it is page %d", what, id, got)
	}
	overflow := uint64(ne.Uint32(b[12:]))
	if w.visit != nil {
		w.visit(id, ne.Uint16(b[8:]), int(ne.Uint16(b[10:])), overflow)
	}
	if overflow == 0 {
		return b, nil
	}
	if id+overflow >= w.meta.pgid {
		return nil, corrupt("%s: page %d has %d overflow pages, past the high-water mark %d", what, id, overflow, w.meta.pgid)
	}
	for o := uint64(1); o <= overflow; o++ {
		if w.mark(id + o) {
			return nil, corrupt("%s: overflow page %d of page %d is also used elsewhere", what, id+o, id)
		}
	}
	n := int64(overflow+1) * ps
	if int64(cap(w.bufs[depth])) < n {
		w.bufs[depth] = append(w.bufs[depth][:ps], make([]byte, n-ps)...)
	}
	b = w.bufs[depth][:n]
	if _, err := w.r.ReadAt(b[ps:], (int64(id)+1)*ps); err != nil {
		return nil, corrupt("%s: page %d: %v", what, id, err)
	}
	return b, nil
}

// mappedPage is readPage of a mapped file.
func (w *pageWalker) mappedPage(id uint64, what string, ps int64) ([]byte, error) {
	b := w.data[int64(id)*ps : int64(id+1)*ps]
	if got := ne.Uint64(b[0:]); got != id {
		return nil, corrupt("%s: page %d says it is page %d", what, id, got)
	}
	overflow := uint64(ne.Uint32(b[12:]))
	if w.visit != nil {
		w.visit(id, ne.Uint16(b[8:]), int(ne.Uint16(b[10:])), overflow)
	}
	if overflow == 0 {
		return b, nil
	}
	if id+overflow >= w.meta.pgid {
		return nil, corrupt("%s: page %d has %d overflow pages, past the high-water mark %d", what, id, overflow, w.meta.pgid)
	}
	for o := uint64(1); o <= overflow; o++ {
		if w.mark(id + o) {
			return nil, corrupt("%s: overflow page %d of page %d is also used elsewhere", what, id+o, id)
		}
	}
	return w.data[int64(id)*ps : int64(id+overflow+1)*ps], nil
}

func (w *pageWalker) walk() error {
	w.seen = make([]uint64, w.meta.pgid/64+1)
	if err := w.checkFreelist(); err != nil {
		return err
	}
	return w.checkTree(w.meta.root, "root bucket", 0)
}

func (w *pageWalker) checkFreelist() error {
	p, err := w.readPage(w.meta.freelist, "freelist", 0)
	if err != nil {
		return err
	}
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return corrupt("freelist page %d has flags %#x, want a freelist page", w.meta.freelist, flags)
	}
	idx, count := uint64(0), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF { // the real count is the first element
		if len(p) < pageHeaderSize+8 {
			return corrupt("freelist page %d: no room for its count", w.meta.freelist)
		}
		idx, count = 1, ne.Uint64(p[pageHeaderSize:])
	}
	room := uint64(len(p)-pageHeaderSize) / 8
	if idx+count > room || count > w.meta.pgid {
		return corrupt("freelist page %d lists %d pages, it has room for %d", w.meta.freelist, count, room-idx)
	}
	for i := idx; i < idx+count; i++ {
		id := ne.Uint64(p[pageHeaderSize+8*i:])
		if id < 2 || id >= w.meta.pgid {
			return corrupt("freelist page %d: free page %d is outside [2, %d)", w.meta.freelist, id, w.meta.pgid)
		}
	}
	return nil
}

// checkTree checks the B+tree rooted at page id, and every bucket nested
// in its leaves.
func (w *pageWalker) checkTree(id uint64, bucket string, depth int) error {
	if depth > maxTreeDepth {
		return corrupt("bucket %s: tree deeper than %d levels (a loop?)", bucket, maxTreeDepth)
	}
	what := "bucket " + bucket
	// Each depth has its own buffer, so p stays valid while the children
	// (one level deeper) are read.
	p, err := w.readPage(id, what, depth)
	if err != nil {
		return err
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	switch flags {
	case flagBranch:
		if count == 0 {
			return corrupt("%s: branch page %d has no elements", what, id)
		}
		if pageHeaderSize+count*branchElemSize > len(p) {
			return corrupt("%s: branch page %d: %d elements do not fit", what, id, count)
		}
		for i := range count {
			e := pageHeaderSize + i*branchElemSize
			pos, ksize := uint64(ne.Uint32(p[e:])), uint64(ne.Uint32(p[e+4:]))
			if ksize == 0 || uint64(e)+pos+ksize > uint64(len(p)) {
				return corrupt("%s: branch page %d, element %d: key of %d bytes at %d runs past the page", what, id, i, ksize, pos)
			}
			if err := w.checkTree(ne.Uint64(p[e+8:]), bucket, depth+1); err != nil {
				return err
			}
		}
		return nil
	case flagLeaf:
		return w.checkLeaf(p, fmt.Sprintf("%s: leaf page %d", what, id), bucket, depth)
	}
	return corrupt("%s: page %d has flags %#x, want a branch or leaf page", what, id, flags)
}

// checkLeaf checks the elements of a leaf page p (a page read from the
// file, or a bucket's inline page) and follows nested buckets.
func (w *pageWalker) checkLeaf(p []byte, what, bucket string, depth int) error {
	count := int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*leafElemSize > len(p) {
		return corrupt("%s: %d elements do not fit", what, count)
	}
	for i := range count {
		e := pageHeaderSize + i*leafElemSize
		flags := ne.Uint32(p[e:])
		pos, ksize, vsize := uint64(ne.Uint32(p[e+4:])), uint64(ne.Uint32(p[e+8:])), uint64(ne.Uint32(p[e+12:]))
		if flags&^leafBucket != 0 {
			return corrupt("%s, element %d: flags %#x", what, i, flags)
		}
		start := uint64(e) + pos
		if ksize == 0 || start+ksize+vsize > uint64(len(p)) {
			return corrupt("%s, element %d: key (%d bytes) and value (%d bytes) at %d run past the page", what, i, ksize, vsize, pos)
		}
		if flags&leafBucket == 0 {
			continue
		}
		name := bucket + "/" + printableKey(p[start:start+ksize])
		if bucket == "root bucket" {
			name = printableKey(p[start : start+ksize])
		}
		v := p[start+ksize : start+ksize+vsize]
		if len(v) < bucketHeaderSize {
			return corrupt("%s, element %d: bucket %s header is %d bytes", what, i, name, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := w.checkTree(root, name, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[bucketHeaderSize:]
		if len(inline) < pageHeaderSize {
			return corrupt("bucket %s: inline page of %d bytes", name, len(inline))
		}
		if f := ne.Uint16(inline[8:]); f != flagLeaf {
			return corrupt("bucket %s: inline page has flags %#x, want a leaf", name, f)
		}
		if depth+1 > maxTreeDepth {
			return corrupt("bucket %s: buckets nested deeper than %d", name, maxTreeDepth)
		}
		if err := w.checkLeaf(inline, "bucket "+name+": inline page", name, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// printableKey shows a key in an error message: as text when it is short
// printable ASCII, else as hex.
func printableKey(k []byte) string {
	if len(k) <= 64 {
		ok := true
		for _, c := range k {
			if c < 0x21 || c > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return string(k)
		}
	}
	if len(k) > 32 {
		return fmt.Sprintf("%x…", k[:32])
	}
	return fmt.Sprintf("%x", k)
}
