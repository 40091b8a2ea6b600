package store

// Hostile tests of the compound on the gate's store (issue 16 red team):
// each replays an attack on a promise of docs/compound.md.

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// Local staff assign the number of an office resident's card to a local
// resident. Local cards are looked up first, so without a refusal the
// office's card would open as the local resident at this gate, and the
// office revoking it (a stolen card) would not stop it here.
func TestRedteam16LocalCardCannotTakeOverOfficeCard(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	local, err := db.AddResident("staff:x", Resident{Name: "Local Guard"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AssignCard("staff:x", local.ID, "1001"); !errors.Is(err, ErrCardInUse) {
		t.Errorf("AssignCard(office card 1001 to a local resident) = %v, want ErrCardInUse", err)
	}
	if id, err := db.LookupCard("1001"); err != nil || id != resA {
		t.Errorf("LookupCard(1001) = %q, %v, want %s (the office's)", id, err, resA)
	}
	// The office revokes the card: it must stop opening here.
	r := o.baseRecords("north")
	r.Cards = r.Cards[1:]
	if _, err := importBundle(db, o.seal(t, c.Public, 0, r)); err != nil {
		t.Fatal(err)
	}
	if id, err := db.LookupCard("1001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard(1001) after the office revoked it = %q, %v, want ErrNotFound", id, err)
	}
}

// A bit flip in the sealed compound secret must cost only the office's
// records: the gate's own card, PIN and visitor pass keep working.
func TestRedteam16DamagedCompoundSecretKeepsLocalCredentials(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	local, err := db.AddResident("staff:x", Resident{Name: "Local Guard"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AssignCard("staff:x", local.ID, "7777"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN("staff:x", local.ID, "1357"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	p, err := db.AddPass("staff:x", NewPass{Name: "plumber", From: now.Add(-time.Hour), Until: now.Add(time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCompound)
		v := append([]byte(nil), b.Get(compSecret)...)
		v[len(v)-3] ^= 0x10
		return b.Put(compSecret, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := db.LookupCard("7777"); err != nil || id != local.ID {
		t.Errorf("LookupCard(local card) with a damaged compound secret = %q, %v, want %s", id, err, local.ID)
	}
	if ok, err := db.VerifyPIN(local.ID, "1357"); err != nil || !ok {
		t.Errorf("VerifyPIN(local) with a damaged compound secret = %v, %v, want true", ok, err)
	}
	if id, err := db.FindPassCode(p.Code); err != nil || id != p.ID {
		t.Errorf("FindPassCode(local pass) with a damaged compound secret = %q, %v, want %s", id, err, p.ID)
	}
	// The office's card is refused with the damage named, not let in.
	if id, err := db.LookupCard("1001"); err == nil {
		t.Errorf("LookupCard(office card) with a damaged compound secret = %q, nil, want an error", id)
	}
	if id, err := db.FindPassCode("1234567890"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("FindPassCode(office pass) with a damaged compound secret = %q, %v, want the damage", id, err)
	}
}

// An erasure order for a resident this gate never had is receipted with
// no templates, once.
func TestRedteam16ErasureForUnknownResident(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	r := o.baseRecords("north")
	r.Erase = []bundle.Erasure{{ID: "e-00000000ee01", Resident: "r-00000000dead", Requested: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), Origin: "office"}}
	res, err := importBundle(db, o.seal(t, c.Public, 0, r))
	if err != nil || res.Erased != 1 || len(res.Deletions) != 0 {
		t.Fatalf("import with an order for an unknown resident = %s, %v, want 1 erasure done, no deletion", res, err)
	}
	_, ev, err := db.EventBundle(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Receipts) != 1 || ev.Receipts[0].Erasure != "e-00000000ee01" || ev.Receipts[0].Templates != 0 {
		t.Errorf("EventBundle receipts = %+v, want e-00000000ee01 with 0 templates", ev.Receipts)
	}
	if err := ev.Check(); err != nil {
		t.Errorf("event bundle payload Check = %v, want nil", err)
	}
}
