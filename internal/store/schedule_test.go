package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// v1Resident is a resident record exactly as gated wrote it before access
// limits existed (version 1), built field by field.
func v1Resident(id, name string, created time.Time) []byte {
	b := []byte{1}
	for _, s := range []string{id, name, "5-1203"} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(StatusActive), 0, 0) // status, minor, guardian ""
	b = binary.BigEndian.AppendUint64(b, uint64(created.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(created.UnixNano()))
	return b
}

// TestOldRecordsReadable: a store written before validity windows (a
// version 1 resident and card) still opens and reads; the resident has no
// limits, keeps its version 1 bytes until limits are set, and the card's
// holder is still found.
func TestOldRecordsReadable(t *testing.T) {
	db, _, _ := newTestDB(t)
	created := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	old := v1Resident("r-0123456789ab", "Old Tenant", created)
	var e encoder // a version 1 card record, as older gated wrote it
	e.u8(1)
	e.str("r-0123456789ab")
	e.time(created)
	oldCard := e.b
	if err := db.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketResidents).Put([]byte("r-0123456789ab"), old); err != nil {
			return err
		}
		return tx.Bucket(bucketCards).Put(db.keys.cardHash("7001"), oldCard)
	}); err != nil {
		t.Fatal(err)
	}
	r, err := db.Resident("r-0123456789ab")
	if err != nil || r.Name != "Old Tenant" || !r.Access.Zero() || !r.CreatedAt.Equal(created) {
		t.Fatalf("Resident(old record) = %+v, %v; want Old Tenant, no limits", r, err)
	}
	if got := encodeResident(r); !bytes.Equal(got, old) {
		t.Errorf("encodeResident(old, no limits) = %x, want the version 1 bytes %x", got, old)
	}
	if id, err := db.LookupCard("7001"); err != nil || id != r.ID {
		t.Errorf("LookupCard(old card) = %q, %v; want %s", id, err, r.ID)
	}
	if from, until, err := db.CardValidity("7001"); err != nil || !from.IsZero() || !until.IsZero() {
		t.Errorf("CardValidity(old card) = %v, %v, %v; want no window", from, until, err)
	}

	// Limits set: version 2, read back, and survive an update of the name.
	a := Access{ValidFrom: created, ValidUntil: created.AddDate(0, 6, 0), Profile: "cleaners", Group: "crew"}
	if _, err := db.SetResidentAccess("staff:test", r.ID, a); err != nil {
		t.Fatal(err)
	}
	r.Name = "Old Tenant Renamed"
	if _, err := db.UpdateResident("staff:test", r); err != nil {
		t.Fatal(err)
	}
	got, err := db.Resident(r.ID)
	if err != nil || got.Access != a || got.Name != "Old Tenant Renamed" {
		t.Errorf("Resident after SetResidentAccess and UpdateResident = %+v, %v; want Access %+v kept", got, err, a)
	}
	raw := func() []byte {
		var v []byte
		_ = db.view(func(tx *bolt.Tx) error { v = bytes.Clone(tx.Bucket(bucketResidents).Get([]byte(r.ID))); return nil })
		return v
	}
	if v := raw(); v[0] != 2 {
		t.Errorf("record version with limits = %d, want 2", v[0])
	}
	// Cleared: version 1 again.
	if _, err := db.SetResidentAccess("staff:test", r.ID, Access{}); err != nil {
		t.Fatal(err)
	}
	if v := raw(); v[0] != 1 {
		t.Errorf("record version with limits cleared = %d, want 1", v[0])
	}

	// The old card gets a window.
	until := created.AddDate(1, 0, 0)
	if err := db.SetCardValidity("staff:test", r.ID, "7001", time.Time{}, until); err != nil {
		t.Fatal(err)
	}
	if from, u, err := db.CardValidity("7001"); err != nil || !from.IsZero() || !u.Equal(until) {
		t.Errorf("CardValidity = %v, %v, %v; want until %v", from, u, err, until)
	}
	if err := db.SetCardValidity("staff:test", "r-000000000000", "7001", time.Time{}, until); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetCardValidity(another resident's card) = %v, want ErrNotFound", err)
	}
}

func TestAccessValidation(t *testing.T) {
	db, _, _ := newTestDB(t)
	r, err := db.AddResident("staff:test", Resident{Name: "Wang"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, a := range []Access{
		{ValidFrom: t0, ValidUntil: t0},
		{ValidFrom: t0.Add(time.Hour), ValidUntil: t0},
		{Profile: "Cleaners!"},
		{Group: "a/b"},
	} {
		if _, err := db.SetResidentAccess("staff:test", r.ID, a); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetResidentAccess(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	if _, err := db.AddResident("staff:test", Resident{Name: "X", Access: Access{ValidFrom: t0, ValidUntil: t0}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddResident(empty window) = %v, want ErrInvalid", err)
	}
	// A version 2 record without limits has another encoding: refused.
	var e encoder
	e.u8(2)
	e.b = append(e.b, encodeResident(r)[1:]...)
	e.access(Access{})
	if _, err := decodeResident(e.b); err == nil {
		t.Errorf("decodeResident(version 2, no limits) = nil error, want refused")
	}
}

func TestPassbackState(t *testing.T) {
	db, path, kek := newTestDB(t)
	r, err := db.AddResident("staff:test", Resident{Name: "Li"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Passback(r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Passback(never passed) = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	if err := db.SetPassback(r.ID, true, at); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if in, got, err := db.Passback(r.ID); err != nil || !in || !got.Equal(at) {
		t.Errorf("Passback after reopen = %v, %v, %v; want inside at %v", in, got, err, at)
	}
	if err := db.ClearPassback("staff:test", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Passback(r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Passback after ClearPassback = %v, want ErrNotFound", err)
	}
	if err := db.SetSetting("staff:test", passbackPrefix+r.ID, []byte{1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSetting(%s) = %v, want ErrInvalid (the store's own)", passbackPrefix, err)
	}
}

func FuzzDecodePassback(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		in, at, err := decodePassback(b)
		if err != nil {
			return
		}
		if got := encodePassback(in, at); !bytes.Equal(got, b) {
			t.Fatalf("decode/encode changed the record:\n in  %x\n out %x", b, got)
		}
	})
}
