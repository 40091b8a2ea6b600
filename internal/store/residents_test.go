package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestResidents(t *testing.T) {
	db, _, _ := newTestDB(t)
	a, err := db.AddResident("staff:test", Resident{Name: "Chen Jie", Unit: "5-1203"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "r-") || len(a.ID) != 14 || a.Status != StatusActive || a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Errorf("AddResident = %+v, want ID r-…, active, times set", a)
	}
	got, err := db.Resident(a.ID)
	if err != nil || got != a {
		t.Errorf("Resident(%s) = %+v, %v; want %+v", a.ID, got, err, a)
	}
	child, err := db.AddResident("staff:test", Resident{Name: "Chen Xiaoming", Unit: "5-1203", Minor: true, GuardianID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	a.Status = StatusDisabled
	a.Unit = "5-1204"
	upd, err := db.UpdateResident("staff:test", a)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Status != StatusDisabled || upd.Unit != "5-1204" || !upd.UpdatedAt.After(upd.CreatedAt) || !upd.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdateResident = %+v, want disabled, new unit, UpdatedAt moved, CreatedAt kept", upd)
	}
	var ids []string
	if err := db.ForEachResident(func(r Resident) error { ids = append(ids, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || !(ids[0] < ids[1]) {
		t.Errorf("ForEachResident IDs = %v, want 2 in order", ids)
	}
	if _, err := db.Resident("r-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resident(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := db.UpdateResident("staff:test", Resident{ID: "r-000000000000", Name: "X", Status: StatusActive}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateResident(unknown) = %v, want ErrNotFound", err)
	}
	_ = child
}

func TestResidentValidation(t *testing.T) {
	db, _, _ := newTestDB(t)
	tests := []struct {
		name string
		r    Resident
		want error
	}{
		{"empty name", Resident{Name: "  "}, ErrInvalid},
		{"long name", Resident{Name: strings.Repeat("x", maxNameLen+1)}, ErrInvalid},
		{"control character", Resident{Name: "Li\x1b[31mWei"}, ErrInvalid},
		{"bad UTF-8", Resident{Name: "Li\xffWei"}, ErrInvalid},
		{"bad status", Resident{Name: "Li", Status: 9}, ErrInvalid},
		{"unknown guardian", Resident{Name: "Li", Minor: true, GuardianID: "r-000000000000"}, ErrNotFound},
		{"guardian ID with slash", Resident{Name: "Li", GuardianID: "r-1/2"}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.AddResident("staff:test", tt.r); !errors.Is(err, tt.want) {
				t.Errorf("AddResident(%+v) = %v, want %v", tt.r, err, tt.want)
			}
		})
	}
}

func TestCards(t *testing.T) {
	db, path, _ := newTestDB(t)
	a, _ := db.AddResident("staff:test", Resident{Name: "A"})
	b, _ := db.AddResident("staff:test", Resident{Name: "B"})
	const card = "04:A1:B2:C3:D4:E5:F6"
	if err := db.AssignCard("staff:test", a.ID, card); err != nil {
		t.Fatal(err)
	}
	if err := db.AssignCard("staff:test", a.ID, card); err != nil {
		t.Errorf("re-assigning to the same resident = %v, want nil", err)
	}
	if err := db.AssignCard("staff:test", b.ID, card); !errors.Is(err, ErrCardInUse) {
		t.Errorf("AssignCard to another resident = %v, want ErrCardInUse", err)
	}
	if got, err := db.LookupCard(card); err != nil || got != a.ID {
		t.Errorf("LookupCard = %q, %v; want %q", got, err, a.ID)
	}
	if _, err := db.LookupCard("04:A1:B2:C3:D4:E5:F7"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard(unknown) = %v, want ErrNotFound", err)
	}
	if raw := readFile(t, path); bytes.Contains(raw, []byte(card)) || bytes.Contains(raw, []byte("A1:B2:C3")) {
		t.Error("the card number is in the file in clear")
	}
	if err := db.RevokeCard("staff:test", b.ID, card); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeCard by the wrong resident = %v, want ErrNotFound", err)
	}
	if err := db.RevokeCard("staff:test", a.ID, card); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LookupCard(card); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard after revoke = %v, want ErrNotFound", err)
	}
	if err := db.AssignCard("staff:test", "r-000000000000", "X1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AssignCard to unknown resident = %v, want ErrNotFound", err)
	}
	if err := db.AssignCard("staff:test", a.ID, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("AssignCard(empty) = %v, want ErrInvalid", err)
	}
}

func TestPIN(t *testing.T) {
	db, _, _ := newTestDB(t)
	a, _ := db.AddResident("staff:test", Resident{Name: "A"})
	if _, err := db.VerifyPIN(a.ID, "1234"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyPIN without PIN = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "123", "12a4", strings.Repeat("1", 33), "１２３４"} {
		if err := db.SetPIN("staff:test", a.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetPIN(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := db.SetPIN("staff:test", a.ID, "482913"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pin  string
		want bool
	}{{"482913", true}, {"482914", false}, {"48291", false}, {"", false}, {"abc", false}} {
		if got, err := db.VerifyPIN(a.ID, tt.pin); err != nil || got != tt.want {
			t.Errorf("VerifyPIN(%q) = %v, %v; want %v, nil", tt.pin, got, err, tt.want)
		}
	}
	// Parameters are recorded per hash: a PIN set with other parameters
	// still verifies after the store's parameters change.
	db.opts.PIN = PINParams{Time: 2, MemoryKiB: 128, Threads: 1}
	if ok, err := db.VerifyPIN(a.ID, "482913"); !ok || err != nil {
		t.Errorf("VerifyPIN after parameter change = %v, %v; want true", ok, err)
	}
	var rec pinRecord
	db.view(func(tx *bolt.Tx) error {
		rec, _ = decodePIN(tx.Bucket(bucketPINs).Get([]byte(a.ID)))
		return nil
	})
	if rec.Params != testPIN || len(rec.Salt) != pinSaltLen || len(rec.Hash) != pinHashLen {
		t.Errorf("stored PIN record = %+v, want params %+v", rec, testPIN)
	}
	if err := db.ClearPIN("staff:test", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.VerifyPIN(a.ID, "482913"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyPIN after ClearPIN = %v, want ErrNotFound", err)
	}
}

func TestSettings(t *testing.T) {
	db, _, _ := newTestDB(t)
	if _, err := db.Setting("gate.open_ms"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Setting(unset) = %v, want ErrNotFound", err)
	}
	if err := db.SetSetting("staff:test", "gate.open_ms", []byte("3000")); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Setting("gate.open_ms"); err != nil || string(got) != "3000" {
		t.Errorf("Setting = %q, %v; want 3000", got, err)
	}
	if err := db.SetSetting("staff:test", "bad key", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSetting(bad key) = %v, want ErrInvalid", err)
	}
}
