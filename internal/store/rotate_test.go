package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRotateKEK(t *testing.T) {
	db, path, oldKEK := newTestDB(t)
	r := newRand(41)
	var enrolled []Enrollment
	var ids []string
	for range 5 {
		res, e := addEnrolled(t, db, r, "Rotate", 2)
		enrolled = append(enrolled, e)
		ids = append(ids, res.ID)
	}
	if err := db.AssignCard("staff:test", ids[0], "CARD-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN("staff:test", ids[1], "2468"); err != nil {
		t.Fatal(err)
	}
	oldWrapped, _ := secretsOf(t, db, ids[0])

	newRaw := randomBytes(KEKSize)
	newKEK, _ := NewKEK(newRaw)
	if err := db.RotateKEK("staff:admin", oldKEK); !errors.Is(err, ErrInvalid) {
		t.Errorf("RotateKEK(same key) = %v, want ErrInvalid", err)
	}
	if err := db.RotateKEK("staff:admin", newKEK); err != nil {
		t.Fatal(err)
	}
	if got := db.KEKFingerprint(); got != newKEK.Fingerprint() {
		t.Errorf("KEKFingerprint after rotation = %s, want %s", got, newKEK.Fingerprint())
	}
	check := func(db *DB) {
		t.Helper()
		for i, id := range ids {
			got, err := db.Templates(id)
			if err != nil || len(got) != 2 {
				t.Fatalf("Templates(%s) after rotation = %d, %v", id, len(got), err)
			}
			for _, tp := range got {
				if !slices.ContainsFunc(enrolled[i].Templates, func(w Template) bool { return w.ID == tp.ID && slices.Equal(w.Vector, tp.Vector) }) {
					t.Errorf("template %s changed in rotation", tp.ID)
				}
			}
		}
		if got, err := db.LookupCard("CARD-1"); err != nil || got != ids[0] {
			t.Errorf("LookupCard after rotation = %q, %v", got, err)
		}
		if ok, err := db.VerifyPIN(ids[1], "2468"); !ok || err != nil {
			t.Errorf("VerifyPIN after rotation = %v, %v", ok, err)
		}
		if _, err := db.VerifyAudit(); err != nil {
			t.Error(err)
		}
	}
	check(db)

	// The audit entry names both fingerprints and no key.
	var last AuditEntry
	db.ForEachAudit(1, func(a AuditEntry) error {
		if a.Kind == KindKeyChange {
			last = a
		}
		return nil
	})
	if !strings.Contains(last.Detail, oldKEK.Fingerprint()) || !strings.Contains(last.Detail, newKEK.Fingerprint()) || last.Actor != "staff:admin" {
		t.Errorf("rotation audit entry = %+v, want both fingerprints and the actor", last)
	}
	raw := readFile(t, path)
	if bytes.Contains(raw, newRaw) || bytes.Contains(raw, []byte(hex.EncodeToString(newRaw))) {
		t.Error("the new KEK is in the file")
	}
	if bytes.Contains(raw, oldWrapped) {
		t.Error("a data key wrapped under the old KEK is still in the file")
	}
	db.Close()

	if _, err := Open(path, oldKEK, testOptions(t)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with the old key after rotation = %v, want ErrWrongKey", err)
	}
	db2, err := Open(path, newKEK, testOptions(t))
	if err != nil {
		t.Fatalf("Open with the new key = %v", err)
	}
	defer db2.Close()
	check(db2)
}
