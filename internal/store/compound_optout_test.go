package store

import (
	"bytes"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A membership record damaged after the store opened must not stop a
// resident's face data being destroyed: the opt-out is kept without its
// origin and goes to the office, named by this gate, once the record
// reads again (red team, issue 16).
func TestCompoundOptOutWithDamagedMembership(t *testing.T) {
	db, _, _ := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enroll("kiosk", resA, testEnrollment(newRand(9), 2)); err != nil {
		t.Fatal(err)
	}
	var good []byte
	db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCompound)
		good = bytes.Clone(b.Get(compMember))
		return b.Put(compMember, []byte{1, 0xff})
	})
	if _, err := db.DestroyFaceData("kiosk", resA, "consent withdrawn"); err != nil {
		t.Fatalf("DestroyFaceData with a damaged membership record = %v, want the face data destroyed", err)
	}
	if has, _ := db.HasFaceData(resA); has {
		t.Fatal("the face data survived")
	}
	db.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCompound).Put(compMember, good) })
	_, ev, err := db.EventBundle(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.OptOuts) != 1 || ev.OptOuts[0].Origin != "north" || ev.OptOuts[0].Resident != resA {
		t.Fatalf("opt-outs = %+v, want one for %s from north", ev.OptOuts, resA)
	}
	if err := ev.Check(); err != nil {
		t.Fatalf("the event payload fails its check: %v", err)
	}
}
