package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// auditRangeChunk is how many entries one read transaction of
// WalkAuditRange reads. The walk never holds a transaction while fn runs,
// so a slow reader of an export (a pipe, a full disk) never keeps bbolt
// from growing its map under the gate's own appends; and at most this many
// entries are in memory at once.
const auditRangeChunk = 1024

// AuditRecord is one stored entry of the audit chain as WalkAuditRange
// passes it on: the entry, or, when its bytes do not decode, only its Seq,
// why (Damaged) and its bytes (Raw).
type AuditRecord struct {
	AuditEntry
	Damaged string // why the entry does not decode; empty when it does
	Raw     []byte // the stored bytes of a damaged entry; nil otherwise
	// Problem says why this entry does not verify (altered, does not link
	// to the one before, stored under another seq, damaged); empty when it
	// verifies.
	Problem string
}

// AuditRange is the part of the audit chain an export covers, and what
// checking it found.
//
// The range is one contiguous piece of the chain, so that whoever holds it
// can re-link it: from the first entry recorded at or after From to the
// entry before the first one recorded at or after To. The bounds are found
// assuming the gate's clock only moves forward; ClockBack counts the times
// it did not in the piece of chain walked (an entry older than the one
// before), in which case entries recorded around the bounds may lie outside
// the range (a whole export, without bounds, has them all).
//
// The check walks from the entry before the range (the anchor) to the
// sealed head: every entry decodes, sits under its own seq, links to the one
// before and hashes to its stored hash, and the head, sealed with the
// device's key, names the last entry. Only the head's seal keeps someone who
// can write the file but has not the key from rewriting the chain after an
// altered entry, so the walk always reaches the head.
type AuditRange struct {
	From, To time.Time // as asked
	// First and Last are the seqs of the first and last entry in the
	// range; Last is First-1 when no entry is.
	First, Last uint64
	Exported    uint64 // records passed to fn
	// Anchor is the hash of entry First-1 (zero when First is 1): the first
	// entry of the range links to it, and the export of the range before
	// ends with it (its LastHash).
	Anchor   [32]byte
	LastHash [32]byte // the hash of entry Last (Anchor when the range is empty)
	Head     uint64   // the sealed head's seq when the walk ended
	HeadHash [32]byte
	Walked   uint64 // entries read, from First-1 (or 1) to the end of the chain
	// FirstBad is the first entry from First-1 to the head that does not
	// verify, Problem what is wrong with it; 0 and "" when all verified.
	FirstBad  uint64
	Problem   string
	Bad       int // entries that do not verify
	ClockBack int // entries recorded at an earlier time than the one before them
}

// OK reports whether the range, and the chain from it to the sealed head,
// verified.
func (r AuditRange) OK() bool { return r.Problem == "" }

// WalkAuditRange calls fn with each entry recorded in [from, to), in order,
// and verifies the chain from the entry before them to the sealed head (see
// AuditRange). A zero from starts at the first entry; a zero to runs to the
// end. A broken chain is not an error: the records are passed on as stored,
// each with its Problem, and the AuditRange says what is wrong. The error is
// fn's, or the store's.
func (db *DB) WalkAuditRange(from, to time.Time, fn func(AuditRecord) error) (AuditRange, error) {
	r := AuditRange{From: from, To: to}
	err := db.view(func(tx *bolt.Tx) error {
		r.First = firstAuditAtOrAfter(tx.Bucket(bucketAudit), from)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("store: audit range: %w", err)
	}
	r.Last = r.First - 1
	w := rangeWalk{r: &r, emitting: true, want: max(r.First-1, 1)}
	if r.First == 1 {
		w.linked = true // entry 1 links to the zero hash
	}
	for !w.done {
		var batch []AuditRecord
		err := db.view(func(tx *bolt.Tx) error {
			batch = w.chunk(tx, db.keys)
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("store: audit range: %w", err)
		}
		for _, rec := range batch {
			if err := callFn(fn, rec); err != nil {
				return r, err
			}
			r.Exported++
		}
	}
	if r.Exported == 0 {
		r.LastHash = r.Anchor
	}
	return r, nil
}

// firstAuditAtOrAfter is the smallest seq whose entry was recorded at or
// after from (one past the last entry when none was), by binary search on
// the entries' times.
func firstAuditAtOrAfter(b *bolt.Bucket, from time.Time) uint64 {
	c := b.Cursor()
	k, _ := c.Last()
	if k == nil || len(k) != 8 {
		return 1
	}
	end := binary.BigEndian.Uint64(k) + 1
	if from.IsZero() {
		return 1
	}
	n := int(min(end-1, 1<<62))
	i := sort.Search(n, func(i int) bool {
		// The first entry at or after seq i+1 that has a readable time.
		for k, v := c.Seek(be64(uint64(i + 1))); k != nil; k, v = c.Next() {
			if t, ok := auditTime(v); ok {
				return !t.Before(from)
			}
		}
		return true
	})
	return uint64(i + 1)
}

// auditTime reads an encoded entry's time without decoding the rest.
func auditTime(v []byte) (time.Time, bool) {
	if len(v) < 17 || v[0] != 1 {
		return time.Time{}, false
	}
	n := int64(binary.BigEndian.Uint64(v[9:17]))
	if n <= 0 {
		return time.Time{}, false
	}
	return intToTime(n), true
}

// rangeWalk is WalkAuditRange's state between read transactions.
type rangeWalk struct {
	r        *AuditRange
	want     uint64 // the seq the next stored entry should have
	prev     [32]byte
	linked   bool // prev is the hash the next entry must link to
	lastTime time.Time
	emitting bool // entries are still in the range
	last     uint64
	done     bool
}

func (w *rangeWalk) bad(rec *AuditRecord, seq uint64, format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	if w.r.Problem == "" {
		w.r.FirstBad, w.r.Problem = seq, p
	}
	w.r.Bad++
	if rec != nil && rec.Problem == "" {
		rec.Problem = p
	}
}

// chunk reads up to auditRangeChunk entries from w.want on; when it reaches
// the end of the chain it checks the sealed head in the same transaction.
func (w *rangeWalk) chunk(tx *bolt.Tx, keys deviceKeys) []AuditRecord {
	var out []AuditRecord
	c := tx.Bucket(bucketAudit).Cursor()
	k, v := c.Seek(be64(w.want))
	for n := 0; k != nil && n < auditRangeChunk; n++ {
		w.step(k, v, &out)
		k, v = c.Next()
	}
	if k != nil {
		return out
	}
	w.done = true
	w.checkHead(tx, keys)
	return out
}

// step checks one stored entry and, while the range lasts, passes it on.
func (w *rangeWalk) step(k, v []byte, out *[]AuditRecord) {
	r := w.r
	if len(k) != 8 {
		w.bad(nil, w.want, "key of %d bytes in the audit bucket", len(k))
		return
	}
	seq := binary.BigEndian.Uint64(k)
	if seq > w.want {
		w.bad(nil, w.want, "entry %d is missing (next present is %d)", w.want, seq)
		w.want, w.linked = seq, false
	}
	r.Walked++
	inRange := seq >= r.First
	rec := AuditRecord{}
	a, err := decodeAudit(v)
	if err != nil {
		rec.Seq, rec.Damaged, rec.Raw = seq, "does not decode: "+err.Error(), bytes.Clone(v)
		w.bad(&rec, seq, "entry does not decode: %v", err)
		w.linked = false
	} else {
		rec.AuditEntry = a
		switch {
		case a.Seq != seq:
			w.bad(&rec, seq, "entry is stored under seq %d but says %d", seq, a.Seq)
		case w.linked && a.PrevHash != w.prev:
			w.bad(&rec, seq, "entry does not link to entry %d", seq-1)
		case a.computeHash() != a.Hash:
			w.bad(&rec, seq, "entry was altered (hash mismatch)")
		}
		if inRange && !w.lastTime.IsZero() && a.Time.Before(w.lastTime) {
			r.ClockBack++
		}
		w.lastTime = a.Time
		w.prev, w.linked = a.Hash, true
		if inRange && w.emitting && !r.To.IsZero() && !a.Time.Before(r.To) {
			w.emitting = false
		}
	}
	switch {
	case seq == r.First-1:
		r.Anchor = a.Hash // zero when it does not decode; Problem says so
	case inRange && w.emitting:
		*out = append(*out, rec)
		r.Last, r.LastHash = seq, a.Hash
	}
	w.last = seq
	w.want = seq + 1
}

// checkHead compares the sealed head with the end of the chain, as
// walkChain does.
func (w *rangeWalk) checkHead(tx *bolt.Tx, keys deviceKeys) {
	raw := tx.Bucket(bucketMeta).Get(metaAuditHead)
	if raw == nil {
		if w.last > 0 {
			w.bad(nil, w.want, "audit head is missing")
		}
		return
	}
	h, err := decodeAuditHead(raw)
	switch {
	case err != nil:
		w.bad(nil, w.want, "audit head does not decode: %v", err)
		return
	case h.MAC != h.mac(keys):
		w.bad(nil, 1, "audit head seal does not verify: chain rewritten without the key, or a foreign head")
	case h.Seq > w.last:
		w.bad(nil, w.last+1, "entries %d to %d are missing (tail cut off)", w.last+1, h.Seq)
	case h.Seq < w.last:
		w.bad(nil, h.Seq+1, "entries after the sealed head %d were added without the key", h.Seq)
	case !w.linked || h.Hash != w.prev:
		w.bad(nil, h.Seq, "last entry differs from the sealed head")
	}
	w.r.Head, w.r.HeadHash = h.Seq, h.Hash
}
