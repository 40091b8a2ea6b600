package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// testOffice is a property office as the gate sees it: its identity,
// the compound secret, and its own sequence counter.
type testOffice struct {
	id     bundle.Identity
	secret bundle.Secret
	seq    uint64
}

func newTestOffice(t testing.TB) *testOffice {
	t.Helper()
	id, err := bundle.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := bundle.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return &testOffice{id: id, secret: s}
}

// officeHash is how the office hashes a PIN or code: the same
// HMAC-then-argon2id as pinHash, cheap parameters.
func officeHash(pepper []byte, secret string) *bundle.Hash {
	salt := bytes.Repeat([]byte{7}, 16)
	return &bundle.Hash{Time: testPIN.Time, MemoryKiB: testPIN.MemoryKiB, Threads: testPIN.Threads, Salt: salt,
		Sum: pinHash(pepper, secret, salt, testPIN, 32)}
}

func (o *testOffice) records(gate string) *bundle.Records {
	return &bundle.Records{Version: bundle.PayloadVersion, Compound: "parkview", Gate: gate, Secret: o.secret}
}

// seal makes a records bundle for gate with the next seq (base 0: a
// snapshot).
func (o *testOffice) seal(t testing.TB, to bundle.PublicKey, base uint64, r *bundle.Records) []byte {
	t.Helper()
	o.seq++
	p, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Seal(o.id, bundle.Header{Kind: bundle.KindRecords, Seq: o.seq, Base: base, To: to}, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// importBundle is what the gate's importer does: open with the pinned
// office key, decode, apply; a refusal before ApplyRecords is noted.
func importBundle(db *DB, raw []byte) (ImportResult, error) {
	c, err := db.Compound()
	if err != nil {
		return ImportResult{}, err
	}
	id, err := db.CompoundIdentity()
	if err != nil {
		return ImportResult{}, err
	}
	h, payload, err := bundle.Open(raw, c.Office, id)
	if err != nil {
		db.NoteRefusedImport("test", 0, err)
		return ImportResult{}, err
	}
	r, err := bundle.DecodeRecords(payload, h.Snapshot())
	if err != nil {
		db.NoteRefusedImport("test", h.Seq, err)
		return ImportResult{}, err
	}
	return db.ApplyRecords("office", h, r)
}

func joinTest(t testing.TB, db *DB, o *testOffice, gate string) Compound {
	t.Helper()
	c, err := db.JoinCompound("staff:test", "parkview", gate, o.id.Public())
	if err != nil {
		t.Fatalf("JoinCompound = %v, want nil", err)
	}
	return c
}

// dumpOffice is every office record and the compound's sequence state,
// for "nothing changed" comparisons.
func dumpOffice(t testing.TB, db *DB) string {
	t.Helper()
	var b strings.Builder
	err := db.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketOfficeRes, bucketOfficeCards, bucketOfficePasses, bucketErasures, bucketResidents, bucketCards, bucketPINs, bucketDataKeys, bucketTemplates} {
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "%s %x %x\n", name, k, v)
				return nil
			})
		}
		cb := tx.Bucket(bucketCompound)
		for _, k := range [][]byte{compApplied, compSchedule, compAckAudit} {
			fmt.Fprintf(&b, "compound %s %x\n", k, cb.Get(k))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const (
	resA = "r-0000000000a1"
	resB = "r-0000000000b2"
)

// baseRecords: two residents, A with a card "1001" and PIN 2468, B with
// card "2002"; a profile and a pass with code 1234567890.
func (o *testOffice) baseRecords(gate string) *bundle.Records {
	r := o.records(gate)
	r.Profiles = bundle.Profiles{"office-hours": {"workdays 08:00-18:00"}}
	r.Groups = map[string]string{"cleaners": "office-hours"}
	r.Residents = []bundle.Resident{
		{ID: resA, Name: "Wang Fang", Unit: "3-502", PIN: officeHash(o.secret.PINPepper(), "2468")},
		{ID: resB, Name: "Li Lei", Unit: "1-101", Group: "cleaners"},
	}
	r.Cards = []bundle.Card{{Token: o.secret.CardToken("1001"), Resident: resA}, {Token: o.secret.CardToken("2002"), Resident: resB}}
	hint := o.secret.CodeHintKey()
	r.Passes = []bundle.Pass{{ID: "v-0000000000c3", Name: "courier", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Until: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), Uses: 2, Hint: codeHint(hint, "1234567890"), Code: *officeHash(o.secret.CodePepper(), "1234567890")}}
	return r
}

func codeHint(key []byte, code string) []byte { return visitorKeys{hint: key}.codeHint(code) }

func TestCompoundSnapshotCardPINPass(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	res, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north")))
	if err != nil {
		t.Fatalf("import snapshot = %v, want nil", err)
	}
	if res.Residents != 2 || res.Cards != 2 || res.Passes != 1 {
		t.Errorf("import = %s, want 2 residents, 2 cards, 1 pass", res)
	}
	id, err := db.LookupCard("1001")
	if err != nil || id != resA {
		t.Errorf("LookupCard(1001) = %q, %v, want %s", id, err, resA)
	}
	if _, err := db.LookupCard("9999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard(9999) = %v, want ErrNotFound", err)
	}
	for pin, want := range map[string]bool{"2468": true, "1111": false} {
		if ok, err := db.VerifyPIN(resA, pin); err != nil || ok != want {
			t.Errorf("VerifyPIN(%s, %s) = %v, %v, want %v", resA, pin, ok, err, want)
		}
	}
	if _, err := db.VerifyPIN(resB, "2468"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyPIN(B without PIN) = %v, want ErrNotFound", err)
	}
	r, err := db.Resident(resB)
	if err != nil || r.Access.Group != "cleaners" || r.Status != StatusActive {
		t.Errorf("Resident(B) = %+v, %v, want active in group cleaners", r, err)
	}
	pid, err := db.FindPassCode("1234567890")
	if err != nil || pid != "v-0000000000c3" {
		t.Fatalf("FindPassCode = %q, %v, want v-0000000000c3", pid, err)
	}
	if _, err := db.UsePass(pid, "front"); err != nil {
		t.Errorf("UsePass = %v, want nil", err)
	}
	c, _ = db.Compound()
	if c.Applied != 1 || c.Residents != 2 || c.Cards != 2 || c.Profiles["office-hours"] == nil || c.Groups["cleaners"] != "office-hours" {
		t.Errorf("Compound() = %+v, want applied 1, 2 residents, 2 cards, the office's profile and group", c)
	}
	// A second snapshot keeps the pass's uses counted here.
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	ps, _ := db.Passes()
	if len(ps) != 1 || ps[0].Used != 1 || ps[0].Issuer != "office" {
		t.Errorf("Passes() after a second snapshot = %+v, want the office pass with 1 use", ps)
	}
}

func TestCompoundLocalEditsRefused(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	edits := map[string]error{
		"update": func() error {
			_, err := db.UpdateResident("staff:x", Resident{ID: resA, Name: "X", Status: StatusActive})
			return err
		}(),
		"access":        func() error { _, err := db.SetResidentAccess("staff:x", resA, Access{Profile: "x"}); return err }(),
		"assign card":   db.AssignCard("staff:x", resA, "5555"),
		"revoke card":   db.RevokeCard("staff:x", resA, "1001"),
		"card validity": db.SetCardValidity("staff:x", resA, "1001", time.Time{}, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		"set PIN":       db.SetPIN("staff:x", resA, "9999"),
		"clear PIN":     db.ClearPIN("staff:x", resA),
		"delete":        func() error { _, err := db.DeleteResident("staff:x", resA, "moved out"); return err }(),
		"revoke pass":   db.RevokePass("staff:x", "v-0000000000c3"),
	}
	for what, err := range edits {
		if !errors.Is(err, ErrManaged) || !strings.Contains(err.Error(), "managed by the property office") {
			t.Errorf("%s of an office record = %v, want ErrManaged", what, err)
		}
	}
	if id, err := db.LookupCard("1001"); err != nil || id != resA {
		t.Errorf("LookupCard(1001) after refused edits = %q, %v, want %s", id, err, resA)
	}
}

func TestCompoundRefusalsChangeNothing(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	first := o.seal(t, c.Public, 0, o.baseRecords("north"))
	if _, err := importBundle(db, first); err != nil {
		t.Fatal(err)
	}
	// A delta the gate has applied: seq 2 against 1.
	d := o.records("north")
	d.Profiles = bundle.Profiles{"office-hours": {"workdays 08:00-18:00"}}
	d.Groups = map[string]string{"cleaners": "office-hours"}
	d.Remove.Cards = [][]byte{o.secret.CardToken("2002")}
	if _, err := importBundle(db, o.seal(t, c.Public, 1, d)); err != nil {
		t.Fatalf("delta 2 against 1 = %v, want nil", err)
	}
	if _, err := db.LookupCard("2002"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard(2002) after its removal = %v, want ErrNotFound", err)
	}
	other := newTestOffice(t)
	otherGate, _ := bundle.NewIdentity()
	wrongBase := o.seal(t, c.Public, 1, d) // seq 3 against 1: the gate applied 2
	o.seq = 10
	cases := []struct {
		name, want string
		raw        []byte
	}{
		{"replay", "replay or older", first},
		{"wrong base", "delta against 1, this gate has applied 2: needs a snapshot", wrongBase},
		{"another gate's name", "for gate south, this is gate north", o.seal(t, c.Public, 0, o.baseRecords("south"))},
		{"sealed for another gate", "sealed for another recipient", o.seal(t, otherGate.Public(), 0, o.baseRecords("north"))},
		{"another office", "not from the expected sender", other.seal(t, c.Public, 0, other.baseRecords("north"))},
		{"truncated", "truncated or damaged", o.seal(t, c.Public, 0, o.baseRecords("north"))[:500]},
		{"older seq", "replay or older", func() []byte { o2 := *o; o2.seq = 1; return o2.seal(t, c.Public, 0, o.baseRecords("north")) }()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := dumpOffice(t, db)
			_, err := importBundle(db, tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("import(%s) = %v, want an error saying %q", tc.name, err, tc.want)
			}
			if after := dumpOffice(t, db); after != before {
				t.Errorf("import(%s) refused but changed the office records:\nbefore %s\nafter %s", tc.name, before, after)
			}
		})
	}
	// Every refusal is audited and reported in the next event bundle.
	_, ev, err := db.EventBundle(0)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, im := range ev.Imports {
		if !im.OK {
			refused++
		}
	}
	if refused != len(cases) || ev.Applied != 2 {
		t.Errorf("event bundle: %d refused imports, applied %d; want %d, 2", refused, ev.Applied, len(cases))
	}
	n := 0
	db.ForEachAudit(1, func(a AuditEntry) error {
		if a.Outcome == "refused" && strings.HasPrefix(a.Subject, "records-") {
			n++
		}
		return nil
	})
	if n != len(cases) {
		t.Errorf("audit: %d refused imports, want %d", n, len(cases))
	}
}

func TestCompoundSnapshotDropDestroysFace(t *testing.T) {
	db, path, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	rnd := newRand(5)
	e, err := db.Enroll("kiosk", resB, testEnrollment(rnd, 2))
	if err != nil {
		t.Fatalf("Enroll(office resident) = %v, want nil (faces stay local)", err)
	}
	r := o.baseRecords("north")
	r.Residents = r.Residents[:1] // B dropped
	r.Cards = r.Cards[:1]
	res, err := importBundle(db, o.seal(t, c.Public, 0, r))
	if err != nil {
		t.Fatalf("snapshot dropping B = %v, want nil", err)
	}
	if res.Removed != 1 || len(res.Deletions) != 1 || res.Deletions[0].Templates != 2 || res.Deletions[0].ResidentID != resB {
		t.Fatalf("import = %s %+v, want B removed with a deletion record of 2 templates", res, res.Deletions)
	}
	if _, err := db.Resident(resB); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resident(B) = %v, want ErrNotFound", err)
	}
	if has, _ := db.HasFaceData(resB); has {
		t.Error("B's face data is still there")
	}
	ds, _ := db.Deletions()
	if len(ds) != 1 || ds[0].Pending {
		t.Errorf("Deletions() = %+v, want one, finished on disk", ds)
	}
	raw := readFile(t, path)
	for _, tmpl := range e.Templates {
		if bytes.Contains(raw, []byte(tmpl.ID)) {
			t.Errorf("template %s still in the file", tmpl.ID)
		}
	}
}

func TestCompoundErasureOnceAndOptOut(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	rnd := newRand(6)
	if _, err := db.Enroll("kiosk", resA, testEnrollment(rnd, 3)); err != nil {
		t.Fatal(err)
	}
	_, ev, _ := db.EventBundle(0)
	if ev.Faces[resA] != 3 {
		t.Errorf("Faces[A] = %d, want 3", ev.Faces[resA])
	}
	order := bundle.Erasure{ID: "e-00000000000e", Resident: resA, Requested: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Origin: "south", Reason: "opted out"}
	r := o.baseRecords("north")
	r.Erase = []bundle.Erasure{order}
	res, err := importBundle(db, o.seal(t, c.Public, 0, r))
	if err != nil || res.Erased != 1 || len(res.Deletions) != 1 {
		t.Fatalf("import with an erasure order = %s, %v, want one carried out", res, err)
	}
	if has, _ := db.HasFaceData(resA); has {
		t.Error("A's face data survived the erasure order")
	}
	// Enrolled again, then the same order arrives again: not carried out twice.
	if _, err := db.Enroll("kiosk", resA, testEnrollment(rnd, 1)); err != nil {
		t.Fatal(err)
	}
	res, err = importBundle(db, o.seal(t, c.Public, 0, r))
	if err != nil || res.Erased != 0 {
		t.Fatalf("repeated order = %s, %v, want nothing erased", res, err)
	}
	if has, _ := db.HasFaceData(resA); !has {
		t.Error("a repeated erasure order destroyed the new enrollment")
	}
	// An opt-out here of an office resident is an erasure order for the others.
	if _, err := db.DestroyFaceData("kiosk", resA, "consent withdrawn"); err != nil {
		t.Fatal(err)
	}
	if due, err := db.EventsDue(); err != nil || !due {
		t.Errorf("EventsDue after an opt-out = %v, %v, want true", due, err)
	}
	h, ev, err := db.EventBundle(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Receipts) != 1 || ev.Receipts[0].Erasure != order.ID || ev.Receipts[0].Templates != 3 {
		t.Errorf("Receipts = %+v, want %s with 3 templates", ev.Receipts, order.ID)
	}
	if len(ev.OptOuts) != 1 || ev.OptOuts[0].Resident != resA || ev.OptOuts[0].Origin != "north" || bundle.CheckID('e', ev.OptOuts[0].ID) != nil {
		t.Fatalf("OptOuts = %+v, want one for A from north", ev.OptOuts)
	}
	if err := ev.Check(); err != nil {
		t.Errorf("event bundle Check = %v", err)
	}
	if h.To != o.id.Public() || h.Kind != bundle.KindEvents {
		t.Errorf("event header = %+v, want events to the office", h)
	}
	// Until acked, it is sent again; once acked, not.
	_, ev2, _ := db.EventBundle(0)
	if len(ev2.OptOuts) != 1 || len(ev2.Receipts) != 1 {
		t.Errorf("second event bundle: %d opt-outs, %d receipts, want 1, 1 (not acked yet)", len(ev2.OptOuts), len(ev2.Receipts))
	}
	r.Acked = bundle.Acks{Audit: ev2.Audit[len(ev2.Audit)-1].Seq, Events: h.Seq + 1, OptOuts: []string{ev.OptOuts[0].ID}, Receipts: []string{order.ID}}
	if _, err := importBundle(db, o.seal(t, c.Public, 0, r)); err != nil {
		t.Fatal(err)
	}
	_, ev3, _ := db.EventBundle(0)
	if len(ev3.OptOuts) != 0 || len(ev3.Receipts) != 0 {
		t.Errorf("after the acks: %d opt-outs, %d receipts, want none", len(ev3.OptOuts), len(ev3.Receipts))
	}
	if len(ev3.Audit) == 0 || ev3.Audit[0].Seq != r.Acked.Audit+1 {
		t.Errorf("after the acks the audit starts at %v, want %d", ev3.Audit, r.Acked.Audit+1)
	}
}

func TestCompoundEventAuditChain(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	joinTest(t, db, o, "north")
	for i := range 20 {
		db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "granted", Detail: fmt.Sprint(i)})
	}
	_, ev, err := db.EventBundle(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Audit) != 10 || ev.Audit[0].Seq != 1 {
		t.Fatalf("EventBundle(10) audit = %d entries from %d, want 10 from 1", len(ev.Audit), ev.Audit[0].Seq)
	}
	for _, a := range ev.Audit {
		got := AuditEntry{Seq: a.Seq, Time: a.Time, Event: Event{Kind: Kind(a.Kind), Actor: a.Actor, Subject: a.Subject, Outcome: a.Outcome, Detail: a.Detail}, PrevHash: a.Prev}.computeHash()
		if got != [32]byte(a.Hash) {
			t.Errorf("entry %d: hash does not recompute", a.Seq)
		}
	}
	if err := ev.Check(); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func TestCompoundJoinOnce(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := db.JoinCompound("staff:x", "parkview", "north", o.id.Public()); !errors.Is(err, ErrInvalid) {
		t.Errorf("second JoinCompound = %v, want ErrInvalid", err)
	}
	id, err := db.CompoundIdentity()
	if err != nil || id.Public() != c.Public {
		t.Errorf("CompoundIdentity = %v, want the key Join printed", err)
	}
	if !reflect.DeepEqual(c.Office, o.id.Public()) {
		t.Error("office key not pinned")
	}
}
