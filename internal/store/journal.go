package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A Journal keeps audit entries while the store cannot take them: the
// daemon serves card and PIN read-only from a backup and records its
// decisions here, and ImportJournal moves them into the audit chain once
// the store is restored. It is a file of JSON lines in the format of
// ExportAudit, mode 0600, appended and synced one entry at a time. Its
// entries form their own hash chain (seq from 1, each linked to the one
// before), so an edited or removed line is found at import; it has no
// key, so the chain shows mistakes and damage, not a rewrite by someone
// with access to the file.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64
	seq  uint64
	prev [32]byte
	err  error // sticky: a failed append that could not be undone
	now  func() time.Time
}

// maxJournalLine bounds one line: every field is capped far below it.
const maxJournalLine = 4 << 10

// maxJournalSize bounds the journal file OpenJournal and ImportJournal
// read (about 250,000 entries); a larger one is treated as damaged.
const maxJournalSize = 1 << 30

// OpenJournal opens or creates the journal at path (0600). A journal of
// ours that others could read is made 0600; one of another user's is
// refused. An existing journal is read and its chain checked; a torn last
// line (a crash in the middle of an append, never acknowledged) is cut
// off.
//
// A damaged journal (a complete line that does not parse or does not
// follow the chain, or a file over 1 GiB) does not stop the caller: it is
// moved aside (MoveJournalAside: kept, 0600, next to path) and a new,
// empty journal is opened in its place. OpenJournal then returns the new
// journal AND a *JournalMovedError that says what was damaged and where
// the file went: the caller must keep using the journal and raise the
// alarm with the error's text. Any other error comes with a nil journal.
func OpenJournal(path string) (*Journal, error) {
	j, err := openJournalPath(path)
	if err == nil || !errors.Is(err, ErrCorrupt) {
		return j, err
	}
	moved, merr := MoveJournalAside(path)
	if merr != nil {
		return nil, fmt.Errorf("%w; moving it aside failed: %w", err, merr)
	}
	j, nerr := openJournalPath(path)
	if nerr != nil {
		return nil, fmt.Errorf("%w; it was moved to %s, but a new journal cannot be opened: %w", err, moved, nerr)
	}
	return j, &JournalMovedError{Path: path, MovedTo: moved, Err: err}
}

func openJournalPath(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open journal: %w", err)
	}
	j, err := openJournal(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: open journal %s: %w", path, err)
	}
	return j, nil
}

// JournalMovedError is returned by OpenJournal, together with a usable new
// journal, when the journal at Path was damaged: it was moved to MovedTo
// and a new one started. The entries in MovedTo are not in any audit log:
// they stay in that file, for people to read (JSON lines). Err says what
// was damaged and wraps ErrCorrupt.
type JournalMovedError struct {
	Path    string // the journal's path, now a new, empty journal
	MovedTo string // the damaged file, kept, mode 0600
	Err     error
}

func (e *JournalMovedError) Error() string {
	return fmt.Sprintf("store: the audit journal was damaged (%v): it was moved to %s and a new journal started at %s; "+
		"the entries in the moved file are in no audit log: keep it as the record of that time", e.Err, e.MovedTo, e.Path)
}

func (e *JournalMovedError) Unwrap() error { return e.Err }

// MoveJournalAside renames the journal at path to
// "<path>.damaged-<UTC time>" (with "-2", "-3"... if that exists; never
// replacing a file), makes it 0600 and syncs the directory. It returns the
// new name. OpenJournal uses it for a damaged journal; a caller may use it
// after ImportJournal refused one, to keep it and start afresh.
func MoveJournalAside(path string) (string, error) {
	base := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("store: move journal aside: %w", err)
		}
		if i > 1000 {
			return "", fmt.Errorf("store: move journal aside: %s-2 to -1000 all exist", base)
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, name); err != nil {
		return "", fmt.Errorf("store: move journal aside: %w", err)
	}
	if err := os.Chmod(name, 0o600); err != nil {
		return name, fmt.Errorf("store: move journal aside: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return name, fmt.Errorf("store: move journal aside: %w", err)
	}
	return name, nil
}

func openJournal(f *os.File, path string) (*Journal, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		if uid, ok := fileOwner(fi); !ok || uid != os.Geteuid() {
			return nil, fmt.Errorf("%w: journal has mode %#o and another owner (fix: chown %d %s && chmod 600 %s)", ErrInsecureStoreFile, uint32(mode), os.Geteuid(), path, path)
		}
		if err := f.Chmod(0o600); err != nil {
			return nil, err
		}
	}
	if fi.Size() > maxJournalSize {
		return nil, fmt.Errorf("%w: journal of %d bytes, more than %d", ErrCorrupt, fi.Size(), maxJournalSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxJournalSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJournalSize {
		return nil, fmt.Errorf("%w: journal of more than %d bytes", ErrCorrupt, maxJournalSize)
	}
	entries, torn, err := parseJournal(data)
	if err != nil {
		return nil, err
	}
	j := &Journal{f: f, path: path, size: int64(len(data) - torn), now: time.Now}
	if torn > 0 {
		if err := f.Truncate(j.size); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	if len(entries) > 0 {
		last := entries[len(entries)-1]
		j.seq, j.prev = last.Seq, last.Hash
	}
	if _, err := f.Seek(j.size, io.SeekStart); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return j, nil
}

// AppendAudit records ev in the journal, validated like the store's
// events, and syncs the file before returning.
func (j *Journal) AppendAudit(ev Event) (AuditEntry, error) {
	if err := ev.check(); err != nil {
		return AuditEntry{}, fmt.Errorf("store: journal %s: %w", ev.Kind, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return AuditEntry{}, fmt.Errorf("store: journal: %w", ErrClosed)
	}
	if j.err != nil {
		return AuditEntry{}, fmt.Errorf("store: journal: an earlier append failed: %w", j.err)
	}
	now := j.now().UTC().Round(0)
	if !validTime(now) || now.IsZero() {
		return AuditEntry{}, fmt.Errorf("store: journal: %w: clock reads %v", ErrInvalid, now)
	}
	a := AuditEntry{Seq: j.seq + 1, Time: now, Event: ev, PrevHash: j.prev}
	a.Hash = a.computeHash()
	line := encodeJournalLine(a)
	_, err := j.f.Write(line)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Undo a partial line, so the next append starts clean.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.err = terr
		} else if _, serr := j.f.Seek(j.size, io.SeekStart); serr != nil {
			j.err = serr
		}
		return AuditEntry{}, fmt.Errorf("store: journal: %w", err)
	}
	j.size += int64(len(line))
	j.seq, j.prev = a.Seq, a.Hash
	return a, nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("store: close journal: %w", err)
	}
	return nil
}

func encodeJournalLine(a AuditEntry) []byte {
	var b bytes.Buffer
	writeAuditJSON(&b, a) // a bytes.Buffer does not fail
	return b.Bytes()
}

// parseJournalLine decodes one line (without its newline) strictly: the
// fields of ExportAudit and no others, a valid event, a hash that matches
// the entry, and exactly the bytes encodeJournalLine writes for it.
func parseJournalLine(line []byte) (AuditEntry, error) {
	if len(line) > maxJournalLine {
		return AuditEntry{}, fmt.Errorf("line of %d bytes", len(line))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var j auditJSON
	if err := dec.Decode(&j); err != nil {
		return AuditEntry{}, fmt.Errorf("not an audit entry: %v", err)
	}
	a := AuditEntry{Seq: j.Seq, Time: j.Time, Event: Event{Kind: j.Kind, Actor: j.Actor, Subject: j.Subject, Outcome: j.Outcome, Detail: j.Detail}}
	if err := a.Event.check(); err != nil {
		return AuditEntry{}, err
	}
	if a.Seq == 0 || a.Time.IsZero() || !validTime(a.Time) {
		return AuditEntry{}, fmt.Errorf("seq %d, time %v", a.Seq, a.Time)
	}
	prev, err1 := hex.DecodeString(j.Prev)
	hash, err2 := hex.DecodeString(j.Hash)
	if err1 != nil || err2 != nil || len(prev) != 32 || len(hash) != 32 {
		return AuditEntry{}, errors.New("hashes are not 64 hex digits")
	}
	copy(a.PrevHash[:], prev)
	copy(a.Hash[:], hash)
	if a.computeHash() != a.Hash {
		return AuditEntry{}, errors.New("hash does not match the entry (altered)")
	}
	a.Time = a.Time.UTC()
	if want := encodeJournalLine(a); !bytes.Equal(want[:len(want)-1], line) {
		return AuditEntry{}, errors.New("not in canonical form")
	}
	return a, nil
}

// parseJournal parses a whole journal and checks its chain. torn is the
// length of an unterminated last line, which is not parsed. An
// unterminated tail longer than a line can be is damage, not a torn
// append: cutting it off could lose entries.
func parseJournal(data []byte) (entries []AuditEntry, torn int, err error) {
	var prev [32]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) > maxJournalLine {
				return nil, 0, fmt.Errorf("%w: journal ends with %d bytes without a newline after line %d, more than a line can be (not a torn append)", ErrCorrupt, len(data), len(entries))
			}
			return entries, len(data), nil
		}
		line := data[:i]
		data = data[i+1:]
		n := len(entries) + 1
		a, err := parseJournalLine(line)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: journal line %d: %v", ErrCorrupt, n, err)
		}
		if a.Seq != uint64(n) || a.PrevHash != prev {
			return nil, 0, fmt.Errorf("%w: journal line %d: entry %d does not follow entry %d (a line was removed or moved)", ErrCorrupt, n, a.Seq, n-1)
		}
		prev = a.Hash
		entries = append(entries, a)
	}
	return entries, 0, nil
}

// readJournalFile reads a whole journal, refusing one over maxJournalSize
// (ErrCorrupt).
func readJournalFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJournalSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJournalSize {
		return nil, fmt.Errorf("%w: journal of more than %d bytes; nothing was imported and the file is kept (fix: move it aside, mv %s %s.damaged)",
			ErrCorrupt, maxJournalSize, path, path)
	}
	return data, nil
}

// journalMark is meta/journal-last: the first hash and the length of the
// last journal imported, so a journal imported but not yet removed (a
// crash in between) is not imported twice.
type journalMark struct {
	First [32]byte
	N     uint64
}

func encodeJournalMark(m journalMark) []byte {
	var e encoder
	e.u8(1)
	e.b = append(e.b, m.First[:]...)
	e.u64(m.N)
	return e.b
}

func decodeJournalMark(b []byte) (journalMark, error) {
	d := decoder{b: b}
	d.version(1, "journal mark")
	var m journalMark
	copy(m.First[:], d.fixed(32))
	m.N = d.u64()
	return m, d.finish()
}

// journalMarker prefixes the Detail of imported entries.
const journalMarker = "[store damaged] "

// ImportJournal appends every entry of the journal at path to the audit
// chain, in one transaction, keeping each entry's time and fields and
// prefixing its Detail with "[store damaged] " (cut to fit), followed by
// an entry saying how many were imported; then it removes the file. A
// torn last line is skipped with a warning. A damaged journal (a broken
// chain, a line that does not parse, over 1 GiB) is refused: nothing is
// imported, the file is left in place, and the error wraps ErrCorrupt,
// names the file and the fix (move it aside: MoveJournalAside). Importing
// a journal again (a crash after the import, before the removal) imports
// nothing and removes it. A missing file imports nothing. ErrReadOnly on a
// read-only store.
func (db *DB) ImportJournal(path string) (int, error) {
	if db.readOnly {
		return 0, fmt.Errorf("store: import journal: %w", ErrReadOnly)
	}
	data, err := readJournalFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: import journal %s: %w", path, err)
	}
	entries, torn, err := parseJournal(data)
	if err != nil {
		return 0, fmt.Errorf("store: import journal %s: %w; nothing was imported and the file is kept "+
			"(fix: keep it as the record of that time and move it aside, mv %s %s.damaged; its entries are JSON lines, readable without the key)",
			path, err, path, path)
	}
	if torn > 0 {
		db.log.Warn("journal: skipped a torn last line (a crash mid-write)", "path", path, "bytes", torn)
	}
	now, err := db.now()
	if err != nil {
		return 0, fmt.Errorf("store: import journal: %w", err)
	}
	imported := 0
	if len(entries) > 0 {
		mark := journalMark{First: entries[0].Hash, N: uint64(len(entries))}
		err = db.update(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if raw := m.Get(metaJournalLast); raw != nil {
				if old, err := decodeJournalMark(raw); err == nil && old == mark {
					return nil // imported before
				}
			}
			for _, a := range entries {
				ev := a.Event
				ev.Detail = truncate(journalMarker+ev.Detail, maxAuditDetail)
				if _, err := appendAuditEntry(tx, db.keys, a.Time, ev); err != nil {
					return fmt.Errorf("journal entry %d: %w", a.Seq, err)
				}
			}
			imported = len(entries)
			if err := appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: "system", Outcome: "ok",
				Detail: truncate(fmt.Sprintf("imported %d entries recorded while the store was damaged, from journal %s", imported, filepath.Base(path)), maxAuditDetail)}); err != nil {
				return err
			}
			return m.Put(metaJournalLast, encodeJournalMark(mark))
		})
		if err != nil {
			return 0, fmt.Errorf("store: import journal %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil {
		return imported, fmt.Errorf("store: import journal: imported %d entries, but: %w", imported, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return imported, fmt.Errorf("store: import journal: %w", err)
	}
	db.log.Info("journal imported into the audit log", "path", path, "entries", imported)
	return imported, nil
}
