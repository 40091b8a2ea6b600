package store

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kind classifies an audit entry.
type Kind string

// Audit entry kinds.
const (
	KindAccess    Kind = "access"     // a gate access decision
	KindEnroll    Kind = "enroll"     // face enrollment and consent
	KindDeletion  Kind = "deletion"   // face data or resident destroyed
	KindAdmin     Kind = "admin"      // residents, cards, PINs, settings, backup, restore
	KindKeyChange Kind = "key-change" // store created, KEK rotated
)

func (k Kind) valid() bool {
	switch k {
	case KindAccess, KindEnroll, KindDeletion, KindAdmin, KindKeyChange:
		return true
	}
	return false
}

// Event is what a caller records in the audit log. It has no field that can
// hold an image or a descriptor: only short, printable text, each field
// capped (Actor, Subject, Outcome 128 bytes; Detail 160 bytes), far below
// the size of a face descriptor.
type Event struct {
	Kind    Kind
	Actor   string // who acted: "gate:front", "staff:alice", "system"
	Subject string // whom it concerns, usually a resident ID; may be empty
	Outcome string // e.g. "granted", "denied", "ok"
	Detail  string // short free text, e.g. "method=card"
}

func (ev Event) check() error {
	if !ev.Kind.valid() {
		return fmt.Errorf("%w: audit kind %q", ErrInvalid, ev.Kind)
	}
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{
		{"audit actor", ev.Actor, maxAuditText, true},
		{"audit subject", ev.Subject, maxAuditText, false},
		{"audit outcome", ev.Outcome, maxAuditText, false},
		{"audit detail", ev.Detail, maxAuditDetail, false},
	} {
		if err := checkText(f.name, f.v, f.max, f.required); err != nil {
			return err
		}
	}
	return nil
}

// AuditEntry is one link of the audit hash chain.
type AuditEntry struct {
	Seq  uint64 // 1, 2, 3... with no gaps
	Time time.Time
	Event
	PrevHash [32]byte // Hash of entry Seq-1; zero for entry 1
	Hash     [32]byte // SHA-256 of the canonical encoding of all fields above
}

// computeHash is SHA-256 over a length-prefixed encoding of every field,
// so no two different entries hash the same input.
func (a AuditEntry) computeHash() [32]byte {
	var e encoder
	e.str("gated/store/audit/v1")
	e.u64(a.Seq)
	e.time(a.Time)
	e.str(string(a.Kind))
	e.str(a.Actor)
	e.str(a.Subject)
	e.str(a.Outcome)
	e.str(a.Detail)
	e.b = append(e.b, a.PrevHash[:]...)
	return sha256.Sum256(e.b)
}

// AuditEntryHash is the hash of an audit entry with these fields (the
// chain's canonical encoding, as computeHash), for a party that holds a
// copy of a gate's chain (the property office) to check it.
func AuditEntryHash(seq uint64, t time.Time, kind, actor, subject, outcome, detail string, prev [32]byte) [32]byte {
	return AuditEntry{Seq: seq, Time: t, Event: Event{Kind: Kind(kind), Actor: actor, Subject: subject, Outcome: outcome, Detail: detail}, PrevHash: prev}.computeHash()
}

func encodeAudit(a AuditEntry) []byte {
	var e encoder
	e.u8(1)
	e.u64(a.Seq)
	e.time(a.Time)
	e.str(string(a.Kind))
	e.str(a.Actor)
	e.str(a.Subject)
	e.str(a.Outcome)
	e.str(a.Detail)
	e.b = append(e.b, a.PrevHash[:]...)
	e.b = append(e.b, a.Hash[:]...)
	return e.b
}

func decodeAudit(b []byte) (AuditEntry, error) {
	d := decoder{b: b}
	d.version(1, "audit")
	var a AuditEntry
	a.Seq = d.u64()
	a.Time = d.time()
	a.Kind = Kind(d.str(maxAuditText))
	a.Actor = d.str(maxAuditText)
	a.Subject = d.str(maxAuditText)
	a.Outcome = d.str(maxAuditText)
	a.Detail = d.str(maxAuditDetail)
	copy(a.PrevHash[:], d.fixed(32))
	copy(a.Hash[:], d.fixed(32))
	return a, d.finish()
}

// auditHead is the last entry's seq and hash, sealed with a key derived
// from the device secret. It catches a cut-off tail and a chain rewritten
// by someone without the KEK.
type auditHead struct {
	Seq  uint64
	Hash [32]byte
	MAC  [32]byte
}

func (h auditHead) mac(keys deviceKeys) [32]byte {
	m := hmac.New(sha256.New, keys.audit)
	m.Write(be64(h.Seq))
	m.Write(h.Hash[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

func encodeAuditHead(h auditHead) []byte {
	var e encoder
	e.u8(1)
	e.u64(h.Seq)
	e.b = append(e.b, h.Hash[:]...)
	e.b = append(e.b, h.MAC[:]...)
	return e.b
}

func decodeAuditHead(b []byte) (auditHead, error) {
	d := decoder{b: b}
	d.version(1, "audit head")
	var h auditHead
	h.Seq = d.u64()
	copy(h.Hash[:], d.fixed(32))
	copy(h.MAC[:], d.fixed(32))
	return h, d.finish()
}

// appendAudit adds ev to the chain inside tx, so the entry commits or rolls
// back with the change it records.
func appendAudit(tx *bolt.Tx, keys deviceKeys, now time.Time, ev Event) error {
	_, err := appendAuditEntry(tx, keys, now, ev)
	return err
}

func appendAuditEntry(tx *bolt.Tx, keys deviceKeys, now time.Time, ev Event) (AuditEntry, error) {
	if err := ev.check(); err != nil {
		return AuditEntry{}, err
	}
	if !validTime(now) {
		return AuditEntry{}, fmt.Errorf("%w: clock reads %v", ErrInvalid, now)
	}
	meta := tx.Bucket(bucketMeta)
	var head auditHead
	if raw := meta.Get(metaAuditHead); raw != nil {
		h, err := decodeAuditHead(raw)
		if err != nil {
			return AuditEntry{}, fmt.Errorf("%w: audit head: %w", ErrCorrupt, err)
		}
		if h.MAC != h.mac(keys) {
			return AuditEntry{}, fmt.Errorf("%w: audit head seal does not verify", ErrAuditBroken)
		}
		head = h
	}
	a := AuditEntry{Seq: head.Seq + 1, Time: now.UTC().Round(0), Event: ev, PrevHash: head.Hash}
	a.Hash = a.computeHash()
	ab := tx.Bucket(bucketAudit)
	ab.FillPercent = 0.95 // keys only ever grow: pack pages full
	if err := ab.Put(be64(a.Seq), encodeAudit(a)); err != nil {
		return AuditEntry{}, err
	}
	head = auditHead{Seq: a.Seq, Hash: a.Hash}
	head.MAC = head.mac(keys)
	if err := meta.Put(metaAuditHead, encodeAuditHead(head)); err != nil {
		return AuditEntry{}, err
	}
	if err := raiseClockFloor(tx, a.Time); err != nil {
		return AuditEntry{}, err
	}
	return a, nil
}

// AppendAudit records an event, typically an access decision, as the next
// entry of the audit chain. Store operations that change data record their
// own entries in the same transaction.
func (db *DB) AppendAudit(ev Event) (AuditEntry, error) {
	var a AuditEntry
	err := db.update(func(tx *bolt.Tx) error {
		var err error
		a, err = appendAuditEntry(tx, db.keys, db.opts.Now(), ev)
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: audit %s: %w", ev.Kind, err)
	}
	return a, nil
}

// AuditReport is the result of VerifyAudit.
type AuditReport struct {
	Entries  uint64 // entries read
	LastGood uint64 // seq of the last entry that verified
	// FirstBad is the seq of the first broken or missing link; 0 when the
	// chain verified.
	FirstBad uint64
	Problem  string // what is wrong at FirstBad; empty when the chain verified
}

// OK reports whether the chain verified.
func (r AuditReport) OK() bool { return r.Problem == "" }

// VerifyAudit walks the whole chain and finds the first broken or missing
// link: an altered entry, a removed or reordered one, a cut-off tail (the
// sealed head disagrees), or a chain rewritten without the KEK. A broken
// chain returns the report and an error wrapping ErrAuditBroken.
func (db *DB) VerifyAudit() (AuditReport, error) {
	var r AuditReport
	err := db.view(func(tx *bolt.Tx) error {
		r = verifyChain(tx, db.keys)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("store: verify audit: %w", err)
	}
	if !r.OK() {
		return r, fmt.Errorf("store: verify audit: %w at entry %d: %s", ErrAuditBroken, r.FirstBad, r.Problem)
	}
	return r, nil
}

func verifyChain(tx *bolt.Tx, keys deviceKeys) AuditReport {
	return walkChain(tx, keys, true).report
}

// AuditBreak is one entry of the audit chain that does not verify.
type AuditBreak struct {
	Seq     uint64
	Problem string // as AuditReport.Problem says it
}

// AuditDamageError says that entries of the audit chain do not verify (a
// bad sector, bit rot) while the rest of the store is sound. AutoBackup
// returns it in BackupInfo.AuditDamage, with the backup taken: the store
// works, and each backup keeps the damaged entries as they are, checked
// against the store's own. It wraps ErrAuditBroken.
//
// The entries cannot be repaired: the hash chain exists so that a changed
// or lost entry shows, and re-sealing it over the damage would hide what
// was lost, so there is no reseal.
type AuditDamageError struct {
	First AuditBreak // the first entry that does not verify
	Count int        // entries that do not verify (at least this many when More)
	More  bool
}

func (e *AuditDamageError) Error() string {
	others := ""
	switch {
	case e.More:
		others = fmt.Sprintf(", and more than %d other entries", e.Count-1)
	case e.Count > 1:
		others = fmt.Sprintf(", and %d other entries", e.Count-1)
	}
	return fmt.Sprintf("store: the audit log is damaged at entry %d (%s)%s: the gate and its backups work, "+
		"and keep the damaged entries as they are; they cannot be repaired (re-sealing the chain would hide what was lost). "+
		"See them with gated audit verify, keep a copy of every entry with gated audit export --out FILE, "+
		"and if more entries are damaged later, replace the storage: it is failing", e.First.Seq, e.First.Problem, others)
}

func (e *AuditDamageError) Unwrap() error { return ErrAuditBroken }

// maxAuditBreaks bounds the breaks one walk collects (a few hundred
// kilobytes); a chain broken in more places is not compared entry by entry.
const maxAuditBreaks = 10000

// chainWalk is what walkChain found.
type chainWalk struct {
	report AuditReport // the first problem, as VerifyAudit reports it
	// breaks are the entries that do not verify, in order, each once
	// (at most maxAuditBreaks; more says there were others).
	breaks []AuditBreak
	more   bool
	// head is what is wrong with the sealed head (missing, seal, a tail
	// cut off or added, the last entry): "" when it agrees with the chain.
	head string
}

// walkChain walks the whole audit chain. With first it stops at the first
// problem (VerifyAudit); else it goes on past broken entries and collects
// them: after an entry that does not verify, the next one is linked to its
// stored hash (if it decodes), so one damaged entry is one break, and a
// damaged hash field two (the entry and the link after it).
func walkChain(tx *bolt.Tx, keys deviceKeys, first bool) chainWalk {
	var w chainWalk
	r := &w.report
	var prev [32]byte
	linked := true // prev is the hash the next entry must link to
	var last uint64
	brk := func(seq uint64, format string, args ...any) {
		p := fmt.Sprintf(format, args...)
		if r.Problem == "" {
			r.FirstBad, r.Problem = seq, p
		}
		if len(w.breaks) < maxAuditBreaks {
			w.breaks = append(w.breaks, AuditBreak{Seq: seq, Problem: p})
		} else {
			w.more = true
		}
	}
	c := tx.Bucket(bucketAudit).Cursor()
	want := uint64(1)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if first && r.Problem != "" {
			return w
		}
		if len(k) != 8 {
			brk(want, "key of %d bytes in the audit bucket", len(k))
			continue
		}
		if seq := binary.BigEndian.Uint64(k); seq != want {
			if seq < want {
				brk(want, "entry %d is out of order", seq)
				continue
			}
			brk(want, "entry %d is missing (next present is %d)", want, seq)
			want, linked = seq, false
			if first {
				return w
			}
		}
		a, err := decodeAudit(v)
		if err != nil {
			brk(want, "entry does not decode: %v", err)
			want, linked = want+1, false
			continue
		}
		r.Entries++
		switch {
		case a.Seq != want:
			brk(want, "entry is stored under seq %d but says %d", want, a.Seq)
		case linked && a.PrevHash != prev:
			brk(want, "entry does not link to entry %d", want-1)
		case a.computeHash() != a.Hash:
			brk(want, "entry was altered (hash mismatch)")
		default:
			if r.Problem == "" {
				r.LastGood = want
			}
		}
		prev, linked, last = a.Hash, true, want
		want++
	}
	if first && r.Problem != "" {
		return w
	}
	head := func(seq uint64, format string, args ...any) {
		w.head = fmt.Sprintf(format, args...)
		if r.Problem == "" {
			r.FirstBad, r.Problem = seq, w.head
		}
	}
	raw := tx.Bucket(bucketMeta).Get(metaAuditHead)
	if raw == nil {
		if r.Entries > 0 || len(w.breaks) > 0 {
			head(want, "audit head is missing")
		}
		return w
	}
	h, err := decodeAuditHead(raw)
	switch {
	case err != nil:
		head(want, "audit head does not decode: %v", err)
	case h.MAC != h.mac(keys):
		head(1, "audit head seal does not verify: chain rewritten without the key, or a foreign head")
	case h.Seq > last:
		head(last+1, "entries %d to %d are missing (tail cut off)", last+1, h.Seq)
	case h.Seq < last:
		head(h.Seq+1, "entries after the sealed head %d were added without the key", h.Seq)
	case !linked || h.Hash != prev:
		head(h.Seq, "last entry differs from the sealed head")
	}
	return w
}

// ForEachAudit calls fn for each entry with Seq >= from, in order.
func (db *DB) ForEachAudit(from uint64, fn func(AuditEntry) error) error {
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(be64(from)); k != nil; k, v = c.Next() {
			a, err := decodeAudit(v)
			if err != nil {
				return fmt.Errorf("%w: audit entry %x: %w", ErrCorrupt, k, err)
			}
			if err := callFn(fn, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: read audit: %w", err)
	}
	return nil
}

// auditJSON is one line of ExportAudit.
type auditJSON struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"kind"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
}

// damagedAuditJSON is the line ExportAudit writes for an entry that does
// not decode: its key's seq, why, and its bytes in hex, for people.
type damagedAuditJSON struct {
	Seq     uint64 `json:"seq"`
	Damaged string `json:"damaged"`
	Raw     string `json:"raw"`
}

// ExportAudit writes entries with Seq >= from as JSON lines (for `gated
// audit export`). Hashes are hex; a reader can recompute each hash with
// the canonical encoding in docs/store.md. An entry that does not decode
// (a damaged log) does not stop the export: it is written as
// {"seq":N,"damaged":"why","raw":"hex of its bytes"}, and the entries
// after it follow.
func (db *DB) ExportAudit(w io.Writer, from uint64) error {
	bw := bufio.NewWriter(w)
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(be64(from)); k != nil; k, v = c.Next() {
			a, err := decodeAudit(v)
			if err == nil {
				err = writeAuditJSON(bw, a)
			} else {
				var seq uint64
				if len(k) == 8 {
					seq = uint64FromKey(k)
				}
				err = json.NewEncoder(bw).Encode(damagedAuditJSON{Seq: seq, Damaged: "does not decode: " + err.Error(), Raw: hex.EncodeToString(v)})
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("store: export audit: %w", err)
	}
	return nil
}

func writeAuditJSON(w io.Writer, a AuditEntry) error {
	return json.NewEncoder(w).Encode(auditJSON{Seq: a.Seq, Time: a.Time, Kind: a.Kind, Actor: a.Actor, Subject: a.Subject,
		Outcome: a.Outcome, Detail: a.Detail, Prev: hex.EncodeToString(a.PrevHash[:]), Hash: hex.EncodeToString(a.Hash[:])})
}
