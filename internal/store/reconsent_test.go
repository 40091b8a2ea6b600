package store

import (
	"errors"
	"testing"
	"time"
)

func TestReconsent(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(11)
	res, _ := addEnrolled(t, db, r, "Li", 3)
	c := testConsent()
	c.NoticeVersion = "2027-01"
	got, err := db.Reconsent("staff:test", res.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.Consents(res.ID)
	if err != nil || len(cs) != 2 || cs[1].ID != got.ID || cs[1].NoticeVersion != "2027-01" || !cs[0].WithdrawnAt.IsZero() {
		t.Fatalf("Consents = %+v, %v; want the old and the renewed consent, both standing", cs, err)
	}
	// Without face data there is nothing to consent to.
	other, _ := db.AddResident("staff:test", Resident{Name: "Wang", Unit: "1"})
	if _, err := db.Reconsent("staff:test", other.ID, testConsent()); !errors.Is(err, ErrNoFaceData) {
		t.Errorf("Reconsent without face data = %v, want ErrNoFaceData", err)
	}
	// A minor's renewal needs the guardian too.
	kid, _ := db.AddResident("staff:test", Resident{Name: "Kid", Unit: "1", Minor: true})
	e := testEnrollment(r, 2)
	e.Consent.Guardian = &Guardian{Name: "Mum", Relation: "mother"}
	if _, err := db.Enroll("staff:test", kid.ID, e); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Reconsent("staff:test", kid.ID, testConsent()); !errors.Is(err, ErrInvalid) {
		t.Errorf("Reconsent of a minor without guardian = %v, want ErrInvalid", err)
	}
}

func TestDeletionRequestedAt(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(12)
	a, _ := addEnrolled(t, db, r, "A", 2)
	b, _ := addEnrolled(t, db, r, "B", 2)
	asked := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	rec, err := db.DestroyFaceDataRequested("staff:test", a.ID, "cancellation form of 10 Nov", asked)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.RequestedAt.Equal(asked) || !rec.At.After(asked) {
		t.Errorf("record times: requested %v, done %v", rec.RequestedAt, rec.At)
	}
	if _, err := db.DestroyFaceDataRequested("staff:test", b.ID, "x", time.Now().Add(48*time.Hour)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a request in the future = %v, want ErrInvalid", err)
	}
	rec2, err := db.DestroyFaceData("staff:test", b.ID, "opt-out at the gate")
	if err != nil {
		t.Fatal(err)
	}
	if !rec2.RequestedAt.Equal(rec2.At) {
		t.Errorf("a deletion on the spot: requested %v, done %v, want equal", rec2.RequestedAt, rec2.At)
	}
	ds, err := db.Deletions()
	if err != nil || len(ds) != 2 || !ds[0].RequestedAt.Equal(asked) {
		t.Errorf("Deletions = %+v, %v", ds, err)
	}
}

func TestDeletionRecordVersion1StillReads(t *testing.T) {
	// A record as schema-1 code wrote it: version 1, no request time.
	var e encoder
	e.u8(1)
	e.str("d-0011223344556677")
	e.str("r-0123456789ab")
	e.str("staff:x")
	e.str("why")
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	e.time(at)
	e.u32(3)
	r, err := decodeDeletion(e.b)
	if err != nil || !r.At.Equal(at) || !r.RequestedAt.Equal(at) || r.Templates != 3 {
		t.Errorf("decodeDeletion(v1) = %+v, %v", r, err)
	}
	if _, err := decodeDeletion(append([]byte{3}, e.b[1:]...)); err == nil {
		t.Errorf("decodeDeletion(v3) = nil error")
	}
}
