package store

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// ImportResult says what a records bundle changed.
type ImportResult struct {
	Seq       uint64
	Snapshot  bool
	Residents int // listed (added or changed)
	Removed   int // office residents removed
	Cards     int
	Passes    int
	Erased    int              // erasure orders carried out now
	Deletions []DeletionRecord // face data destroyed (orders and removals)
}

func (r ImportResult) String() string {
	kind := "delta"
	if r.Snapshot {
		kind = "snapshot"
	}
	return fmt.Sprintf("records %d (%s): %d residents, %d removed, %d cards, %d passes, %d erasure orders, %d face data destroyed",
		r.Seq, kind, r.Residents, r.Removed, r.Cards, r.Passes, r.Erased, len(r.Deletions))
}

// importNote is one import's result, kept until the office acknowledges
// the event bundle it went in (SentIn).
type importNote struct {
	bundle.Import
	SentIn uint64 `json:"sent_in,omitempty"`
}

const maxImportNotes = 200

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrImport, fmt.Sprintf(format, args...))
}

// checkHeader applies the sequence and target rules to a records bundle
// that bundle.Open verified.
func checkHeader(tx *bolt.Tx, m member, h bundle.Header, r *bundle.Records) error {
	b := tx.Bucket(bucketCompound)
	applied := getU64(b, compApplied)
	switch {
	case h.Kind != bundle.KindRecords:
		return refuse("a %s bundle, not records", h.Kind)
	case subtle.ConstantTimeCompare(h.From[:], m.Office[:]) != 1:
		return refuse("signed by %s, this gate's office is %s", h.From.Fingerprint(), m.Office.Fingerprint())
	case subtle.ConstantTimeCompare(h.To[:], m.Public[:]) != 1:
		return refuse("sealed for %s, this gate is %s", h.To.Fingerprint(), m.Public.Fingerprint())
	case r.Compound != m.Name:
		return refuse("for compound %s, this gate is in %s", r.Compound, m.Name)
	case r.Gate != m.Gate:
		return refuse("for gate %s, this is gate %s", r.Gate, m.Gate)
	case h.Seq <= applied:
		return refuse("records %d is a replay or older: this gate has applied %d", h.Seq, applied)
	case !h.Snapshot() && h.Base != applied:
		return refuse("delta against %d, this gate has applied %d: needs a snapshot", h.Base, applied)
	}
	return r.Check(h.Snapshot())
}

// FaceTargets returns the residents whose face data applying r would
// destroy (erasure orders not yet carried out, residents removed or left
// out of a snapshot) that have face data now, so the face-data owner can
// take them out of the matcher first.
func (db *DB) FaceTargets(h bundle.Header, r *bundle.Records) ([]string, error) {
	var out []string
	err := db.view(func(tx *bolt.Tx) error {
		seen := map[string]bool{}
		add := func(id string) {
			if seen[id] {
				return
			}
			seen[id] = true
			if tx.Bucket(bucketDataKeys).Get([]byte(id)) != nil {
				out = append(out, id)
			}
		}
		eb := tx.Bucket(bucketErasures)
		for _, e := range r.Erase {
			if eb.Get([]byte(e.ID)) == nil {
				add(e.Resident)
			}
		}
		for _, id := range dropped(tx, h, r) {
			add(id)
		}
		return nil
	})
	return out, err
}

// dropped lists the office residents r removes: Remove.Residents of a
// delta, or those a snapshot leaves out.
func dropped(tx *bolt.Tx, h bundle.Header, r *bundle.Records) []string {
	ob := tx.Bucket(bucketOfficeRes)
	var out []string
	if !h.Snapshot() {
		for _, id := range r.Remove.Residents {
			if ob.Get([]byte(id)) != nil {
				out = append(out, id)
			}
		}
		return out
	}
	keep := make(map[string]bool, len(r.Residents))
	for _, x := range r.Residents {
		keep[x.ID] = true
	}
	ob.ForEach(func(k, _ []byte) error {
		if !keep[string(k)] {
			out = append(out, string(k))
		}
		return nil
	})
	return out
}

// ApplyRecords applies a records bundle that bundle.Open verified (the
// caller opened it with CompoundIdentity and the pinned office key) in
// one transaction: nothing changes unless all of it applies. A snapshot
// replaces every office record; a delta adds, changes and removes. The
// sequence rules (docs/compound.md): a snapshot needs a seq above the
// applied one, a delta a base equal to it; anything else is refused as a
// replay or as needing a snapshot. Erasure orders are carried out once
// each; removed residents' face data is destroyed like a local deletion
// (deletion record, audit, file rewritten, backups scrubbed: an
// ErrPending error means applied, destruction on disk still owed).
// The import is audited (one entry per bundle, and one per destruction),
// refused or applied, and noted for the next event bundle.
func (db *DB) ApplyRecords(actor string, h bundle.Header, r *bundle.Records) (ImportResult, error) {
	res, err := db.applyRecords(actor, h, r)
	if err != nil && !errors.Is(err, ErrPending) {
		db.NoteRefusedImport(actor, h.Seq, err)
		return ImportResult{}, fmt.Errorf("store: import: %w", err)
	}
	return res, err
}

func (db *DB) applyRecords(actor string, h bundle.Header, r *bundle.Records) (ImportResult, error) {
	if r == nil {
		return ImportResult{}, refuse("no payload")
	}
	now, err := db.now()
	if err != nil {
		return ImportResult{}, err
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	res := ImportResult{Seq: h.Seq, Snapshot: h.Snapshot(), Residents: len(r.Residents), Cards: len(r.Cards), Passes: len(r.Passes)}
	var pending []PendingDestruction
	err = db.update(func(tx *bolt.Tx) error {
		m, err := getMember(tx)
		if err != nil {
			return err
		}
		if err := checkHeader(tx, m, h, r); err != nil {
			return err
		}
		a := applier{db: db, tx: tx, now: now, actor: actor, h: h, r: r, res: &res}
		if err := a.apply(); err != nil {
			return err
		}
		pending = a.pending
		kind := "delta against " + fmt.Sprint(h.Base)
		if h.Snapshot() {
			kind = "snapshot"
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: fmt.Sprintf("records-%d", h.Seq), Outcome: "applied",
			Detail: Detail(fmt.Sprintf("%s: %d residents, %d removed, %d cards, %d passes, %d erasures done", kind, res.Residents, res.Removed, res.Cards, res.Passes, res.Erased))})
	})
	if err != nil {
		return ImportResult{}, err
	}
	if len(pending) > 0 {
		if err := db.finish(pending); err != nil {
			for i := range res.Deletions {
				res.Deletions[i].Pending = true
			}
			return res, fmt.Errorf("store: import: records %d applied: %w: %w", h.Seq, ErrPending, err)
		}
	}
	return res, nil
}

type applier struct {
	db      *DB
	tx      *bolt.Tx
	now     time.Time
	actor   string
	h       bundle.Header
	r       *bundle.Records
	res     *ImportResult
	pending []PendingDestruction
}

func (a *applier) apply() error {
	tx, r := a.tx, a.r
	cb := tx.Bucket(bucketCompound)
	if err := cb.Put(compSecret, a.db.keys.seal(labelCompoundSecret, r.Secret[:])); err != nil {
		return err
	}
	sj, err := json.Marshal(scheduleJSON{Profiles: r.Profiles, Groups: r.Groups})
	if err != nil {
		return err
	}
	if err := cb.Put(compSchedule, sj); err != nil {
		return err
	}
	for _, id := range dropped(tx, a.h, r) {
		if err := a.remove(id); err != nil {
			return err
		}
	}
	if err := a.residents(); err != nil {
		return err
	}
	if err := a.cards(); err != nil {
		return err
	}
	if err := a.passes(); err != nil {
		return err
	}
	if err := a.erase(); err != nil {
		return err
	}
	if err := a.acks(); err != nil {
		return err
	}
	if err := cb.Put(compApplied, be64(a.h.Seq)); err != nil {
		return err
	}
	return addImportNote(tx, bundle.Import{Seq: a.h.Seq, At: a.now, OK: true})
}

// destroy destroys a resident's face data inside the import's transaction
// as a local deletion does; with whole, the resident goes too. It returns
// the templates destroyed (0 when there were none, and then no deletion
// record unless whole found face data).
func (a *applier) destroy(residentID, reason string, whole bool, requested time.Time) (int, error) {
	tx := a.tx
	n, err := destroyFaceTx(tx, residentID)
	if err != nil {
		return 0, err
	}
	if whole {
		if err := tx.Bucket(bucketPINs).Delete([]byte(residentID)); err != nil {
			return 0, err
		}
		if _, err := deleteCards(tx, residentID); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketResidents).Delete([]byte(residentID)); err != nil {
			return 0, err
		}
	}
	if n < 0 {
		return 0, nil
	}
	if err := withdrawConsents(tx, residentID, a.now); err != nil {
		return 0, err
	}
	if requested.IsZero() || requested.After(a.now) {
		requested = a.now
	}
	rec := DeletionRecord{ReceiptID: "d-" + hex.EncodeToString(randomBytes(8)), ResidentID: residentID, Actor: a.actor, Reason: reason, At: a.now, RequestedAt: requested.UTC().Round(0), Templates: n}
	seq, err := tx.Bucket(bucketDeletions).NextSequence()
	if err != nil {
		return 0, err
	}
	if err := tx.Bucket(bucketDeletions).Put(be64(seq), encodeDeletion(rec)); err != nil {
		return 0, err
	}
	p := PendingDestruction{ReceiptID: rec.ReceiptID, ResidentID: residentID, Whole: whole, Since: a.now}
	if err := tx.Bucket(bucketPending).Put([]byte(rec.ReceiptID), encodePending(p)); err != nil {
		return 0, err
	}
	a.pending = append(a.pending, p)
	a.res.Deletions = append(a.res.Deletions, rec)
	return n, appendAudit(tx, a.db.keys, a.now, Event{Kind: KindDeletion, Actor: a.actor, Subject: residentID, Outcome: "ok",
		Detail: Detail(fmt.Sprintf("receipt %s; face data destroyed, %d templates (%s)", rec.ReceiptID, n, reason))})
}

func (a *applier) remove(id string) error {
	if _, err := a.destroy(id, "removed by the property office", true, time.Time{}); err != nil {
		return err
	}
	if err := a.tx.Bucket(bucketOfficeRes).Delete([]byte(id)); err != nil {
		return err
	}
	// The office's cards of the resident go with it.
	cb := a.tx.Bucket(bucketOfficeCards)
	var keys [][]byte
	cb.ForEach(func(k, v []byte) error {
		if c, err := decodeCard(v); err == nil && c.ResidentID == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range keys {
		if err := cb.Delete(k); err != nil {
			return err
		}
	}
	a.res.Removed++
	return nil
}

func (a *applier) residents() error {
	rb, ob := a.tx.Bucket(bucketResidents), a.tx.Bucket(bucketOfficeRes)
	for _, x := range a.r.Residents {
		k := []byte(x.ID)
		out := Resident{ID: x.ID, Name: x.Name, Unit: x.Unit, Status: StatusActive, Minor: x.Minor, GuardianID: x.Guardian,
			CreatedAt: a.now, UpdatedAt: a.now,
			Access: Access{ValidFrom: utc(x.ValidFrom), ValidUntil: utc(x.ValidUntil), Profile: x.Profile, Group: x.Group}}
		if v := rb.Get(k); v != nil {
			if ob.Get(k) == nil {
				return refuse("resident %s is a local resident of this gate (remove it here, or give the office's resident another ID)", x.ID)
			}
			old, err := decodeResident(v)
			if err != nil {
				return fmt.Errorf("%w: resident %s: %w", ErrCorrupt, x.ID, err)
			}
			out.CreatedAt = old.CreatedAt
		}
		if err := checkResident(out); err != nil {
			return refuse("resident %s: %v", x.ID, err)
		}
		if err := rb.Put(k, encodeResident(out)); err != nil {
			return err
		}
		var o officeResident
		if x.PIN != nil {
			p := hashFromBundle(*x.PIN, a.now)
			o.PIN = &p
		}
		if err := ob.Put(k, encodeOfficeResident(o)); err != nil {
			return err
		}
	}
	for _, x := range a.r.Residents {
		if x.Guardian != "" && rb.Get([]byte(x.Guardian)) == nil {
			return refuse("resident %s: guardian %s is not at this gate", x.ID, x.Guardian)
		}
	}
	return nil
}

func (a *applier) cards() error {
	tx := a.tx
	if a.h.Snapshot() {
		if err := tx.DeleteBucket(bucketOfficeCards); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketOfficeCards); err != nil {
			return err
		}
	}
	cb, ob := tx.Bucket(bucketOfficeCards), tx.Bucket(bucketOfficeRes)
	for _, t := range a.r.Remove.Cards {
		if err := cb.Delete(t); err != nil {
			return err
		}
	}
	for _, c := range a.r.Cards {
		if ob.Get([]byte(c.Resident)) == nil {
			return refuse("card %s: resident %s is not the office's at this gate", cardTag(c.Token), c.Resident)
		}
		rec := cardRecord{ResidentID: c.Resident, AssignedAt: a.now, Access: Access{ValidFrom: utc(c.ValidFrom), ValidUntil: utc(c.ValidUntil)}}
		if v := cb.Get(c.Token); v != nil {
			if old, err := decodeCard(v); err == nil && old.ResidentID == c.Resident {
				rec.AssignedAt = old.AssignedAt
			}
		}
		if err := checkAccess(rec.Access); err != nil {
			return refuse("card %s: %v", cardTag(c.Token), err)
		}
		if err := cb.Put(bytes.Clone(c.Token), encodeCard(rec)); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) passes() error {
	pb := a.tx.Bucket(bucketOfficePasses)
	keep := map[string]bool{}
	for _, p := range a.r.Passes {
		keep[p.ID] = true
		rec := passRecord{Pass: Pass{ID: p.ID, Name: p.Name, Issuer: "office", Reader: p.Reader, From: utc(p.From).Truncate(time.Second),
			Until: utc(p.Until).Truncate(time.Second), Uses: p.Uses, Revoked: p.Revoked, CreatedAt: a.now},
			Hint: bytes.Clone(p.Hint), Code: hashFromBundle(p.Code, a.now)}
		if v := pb.Get([]byte(p.ID)); v != nil {
			if old, err := decodePass(v); err == nil {
				// Uses are counted at this gate.
				rec.Used, rec.LastUsed, rec.CreatedAt = min(old.Used, rec.Uses), old.LastUsed, old.CreatedAt
			}
		}
		if !rec.Until.After(rec.From) {
			return refuse("pass %s: validity shorter than a second", p.ID)
		}
		if err := pb.Put([]byte(p.ID), encodePass(rec)); err != nil {
			return err
		}
	}
	var gone [][]byte
	if a.h.Snapshot() {
		pb.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
	}
	for _, id := range a.r.Remove.Passes {
		gone = append(gone, []byte(id))
	}
	for _, k := range gone {
		if err := pb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) erase() error {
	eb := a.tx.Bucket(bucketErasures)
	for _, e := range a.r.Erase {
		if eb.Get([]byte(e.ID)) != nil {
			continue // carried out before (or asked here)
		}
		reason := "erasure " + e.ID
		if e.Reason != "" {
			reason += ": " + e.Reason
		}
		n, err := a.destroy(e.Resident, bundle.Truncate(reason, maxReasonLen), false, e.Requested)
		if err != nil {
			return err
		}
		if err := eb.Put([]byte(e.ID), encodeErasure(erasureRecord{ID: e.ID, Resident: e.Resident, Origin: e.Origin,
			Reason: e.Reason, Requested: utc(e.Requested), At: a.now, Order: true, Templates: n})); err != nil {
			return err
		}
		a.res.Erased++
	}
	return nil
}

func (a *applier) acks() error {
	ack := a.r.Acked
	cb, eb := a.tx.Bucket(bucketCompound), a.tx.Bucket(bucketErasures)
	if err := cb.Put(compAckAudit, be64(ack.Audit)); err != nil {
		return err
	}
	if err := cb.Put(compAckEvents, be64(ack.Events)); err != nil {
		return err
	}
	for _, id := range append(append([]string{}, ack.OptOuts...), ack.Receipts...) {
		v := eb.Get([]byte(id))
		if v == nil {
			continue
		}
		e, err := decodeErasure(v)
		if err != nil {
			return fmt.Errorf("%w: erasure %s: %w", ErrCorrupt, id, err)
		}
		if !e.Acked {
			e.Acked = true
			if err := eb.Put([]byte(id), encodeErasure(e)); err != nil {
				return err
			}
		}
	}
	notes, err := readImportNotes(cb)
	if err != nil {
		return err
	}
	kept := notes[:0]
	for _, n := range notes {
		if n.SentIn == 0 || n.SentIn > ack.Events {
			kept = append(kept, n)
		}
	}
	return writeImportNotes(cb, kept)
}

func readImportNotes(b *bolt.Bucket) ([]importNote, error) {
	var notes []importNote
	if v := b.Get(compImports); v != nil {
		if err := json.Unmarshal(v, &notes); err != nil {
			return nil, fmt.Errorf("%w: compound imports: %v", ErrCorrupt, err)
		}
	}
	return notes, nil
}

func writeImportNotes(b *bolt.Bucket, notes []importNote) error {
	if len(notes) > maxImportNotes {
		notes = notes[len(notes)-maxImportNotes:]
	}
	v, err := json.Marshal(notes)
	if err != nil {
		return err
	}
	return b.Put(compImports, v)
}

func addImportNote(tx *bolt.Tx, im bundle.Import) error {
	b := tx.Bucket(bucketCompound)
	if b == nil {
		return nil
	}
	notes, err := readImportNotes(b)
	if err != nil {
		return err
	}
	return writeImportNotes(b, append(notes, importNote{Import: im}))
}

// NoteRefusedImport audits a records bundle refused before or during
// ApplyRecords (a bad signature, another gate's, a replay...) and notes
// it for the next event bundle. seq may be 0 for a file that does not
// parse.
func (db *DB) NoteRefusedImport(actor string, seq uint64, cause error) {
	now, err := db.now()
	if err != nil {
		return
	}
	msg := strings.TrimPrefix(cause.Error(), "store: import: ")
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getMember(tx); err == nil {
			if err := addImportNote(tx, bundle.Import{Seq: seq, At: now, Error: bundle.Truncate(msg, bundle.MaxImportError)}); err != nil {
				return err
			}
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: fmt.Sprintf("records-%d", seq), Outcome: "refused", Detail: Detail(msg)})
	})
	if err != nil {
		db.log.Error("store: could not record a refused import", "seq", seq, "err", err)
	}
}

// EventsDue reports whether something is waiting for an event bundle: an
// import result or an erasure (receipt, opt-out) not yet sent in one.
func (db *DB) EventsDue() (bool, error) {
	due := false
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getMember(tx); err != nil {
			return err
		}
		cb := tx.Bucket(bucketCompound)
		notes, err := readImportNotes(cb)
		if err != nil {
			return err
		}
		for _, n := range notes {
			if n.SentIn == 0 {
				due = true
			}
		}
		return tx.Bucket(bucketErasures).ForEach(func(_, v []byte) error {
			e, err := decodeErasure(v)
			if err == nil && !e.Acked && erasureSentIn(cb, e.ID) == 0 {
				due = true
			}
			return nil
		})
	})
	return due, err
}

// erasureSentIn is the event bundle an erasure first went in (0: none).
func erasureSentIn(cb *bolt.Bucket, id string) uint64 { return getU64(cb, []byte("sent:"+id)) }

// EventBundle makes this gate's next event bundle (docs/compound.md): the
// audit entries after the last the office acknowledged (up to maxAudit;
// the rest next time), the erasure receipts and opt-outs it has not
// acknowledged, the face template count of each office resident, the
// imports since the office's last acknowledged event bundle, and the
// applied seq. It returns the header to seal it with (to the office) and
// the payload; the sequence number is taken whether or not the caller
// manages to write it (a gap is harmless: bundles are idempotent).
func (db *DB) EventBundle(maxAudit int) (bundle.Header, *bundle.Events, error) {
	if maxAudit <= 0 {
		maxAudit = 20000
	}
	now, err := db.now()
	if err != nil {
		return bundle.Header{}, nil, fmt.Errorf("store: event bundle: %w", err)
	}
	var h bundle.Header
	var ev *bundle.Events
	err = db.update(func(tx *bolt.Tx) error {
		m, err := getMember(tx)
		if err != nil {
			return err
		}
		cb := tx.Bucket(bucketCompound)
		seq := getU64(cb, compEventSeq) + 1
		if err := cb.Put(compEventSeq, be64(seq)); err != nil {
			return err
		}
		h = bundle.Header{Kind: bundle.KindEvents, Seq: seq, Created: now, To: m.Office}
		ev = &bundle.Events{Version: bundle.PayloadVersion, Compound: m.Name, Gate: m.Gate, Applied: getU64(cb, compApplied)}
		// Audit entries.
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(be64(getU64(cb, compAckAudit) + 1)); k != nil && len(ev.Audit) < maxAudit; k, v = c.Next() {
			a, err := decodeAudit(v)
			if err != nil {
				return fmt.Errorf("%w: audit entry %x: %w", ErrCorrupt, k, err)
			}
			ev.Audit = append(ev.Audit, bundle.AuditEntry{Seq: a.Seq, Time: a.Time, Kind: string(a.Kind), Actor: a.Actor,
				Subject: a.Subject, Outcome: a.Outcome, Detail: a.Detail, Prev: a.PrevHash, Hash: a.Hash})
		}
		// Faces per office resident.
		tb := tx.Bucket(bucketTemplates)
		err = tx.Bucket(bucketOfficeRes).ForEach(func(k, _ []byte) error {
			prefix := append(bytes.Clone(k), '/')
			n := 0
			tc := tb.Cursor()
			for tk, _ := tc.Seek(prefix); tk != nil && bytes.HasPrefix(tk, prefix); tk, _ = tc.Next() {
				n++
			}
			if n > 0 {
				if ev.Faces == nil {
					ev.Faces = map[string]int{}
				}
				ev.Faces[string(k)] = n
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Receipts and opt-outs.
		var sent [][]byte
		err = tx.Bucket(bucketErasures).ForEach(func(k, v []byte) error {
			e, err := decodeErasure(v)
			if err != nil {
				return fmt.Errorf("%w: erasure %s: %w", ErrCorrupt, printableKey(k), err)
			}
			if e.Acked {
				return nil
			}
			if e.Order {
				ev.Receipts = append(ev.Receipts, bundle.Receipt{Erasure: e.ID, Resident: e.Resident, At: e.At, Templates: e.Templates})
			} else {
				origin := e.Origin
				if origin == "" { // asked while the membership record was damaged
					origin = m.Gate
				}
				ev.OptOuts = append(ev.OptOuts, bundle.Erasure{ID: e.ID, Resident: e.Resident, Requested: e.Requested, Origin: origin, Reason: e.Reason})
			}
			if erasureSentIn(cb, e.ID) == 0 {
				sent = append(sent, []byte("sent:"+e.ID))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range sent {
			if err := cb.Put(k, be64(seq)); err != nil {
				return err
			}
		}
		// Imports not yet acknowledged.
		notes, err := readImportNotes(cb)
		if err != nil {
			return err
		}
		for i := range notes {
			ev.Imports = append(ev.Imports, notes[i].Import)
			if notes[i].SentIn == 0 {
				notes[i].SentIn = seq
			}
		}
		sort.Slice(ev.Imports, func(i, j int) bool { return ev.Imports[i].At.Before(ev.Imports[j].At) })
		return writeImportNotes(cb, notes)
	})
	if err != nil {
		return bundle.Header{}, nil, fmt.Errorf("store: event bundle: %w", err)
	}
	return h, ev, nil
}
