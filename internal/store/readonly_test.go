package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenReadOnly serves card and PIN from a store opened read-only, and
// checks that every method that would change the file refuses with
// ErrReadOnly and changes nothing.
func TestOpenReadOnly(t *testing.T) {
	db, path, kek := newTestDB(t)
	r := newRand(31)
	a, _ := addEnrolled(t, db, r, "Reader", 2)
	b, err := db.AddResident("staff:test", Resident{Name: "No Face"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AssignCard("staff:test", a.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN("staff:test", a.ID, "1234"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret("staff:test", "osdp/front", []byte("k")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := readFile(t, path)

	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db"), kek, testOptions(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) = %v, want not exist (it never creates)", err)
	}
	ro, err := OpenReadOnly(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	// A second reader may open it too.
	ro2, err := OpenReadOnly(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("second OpenReadOnly = %v", err)
	}
	ro2.Close()

	// Reads work.
	if id, err := ro.LookupCard("1001"); err != nil || id != a.ID {
		t.Errorf("LookupCard = %q, %v", id, err)
	}
	if ok, err := ro.VerifyPIN(a.ID, "1234"); err != nil || !ok {
		t.Errorf("VerifyPIN = %v, %v", ok, err)
	}
	if _, err := ro.Resident(b.ID); err != nil {
		t.Errorf("Resident = %v", err)
	}
	n := 0
	if err := ro.ForEachResident(func(Resident) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("ForEachResident = %d, %v", n, err)
	}
	if err := ro.ForEachTemplate("", func(Template) error { return nil }); err != nil {
		t.Errorf("ForEachTemplate = %v", err)
	}
	if _, err := ro.Stats(); err != nil {
		t.Errorf("Stats = %v", err)
	}
	if _, err := ro.VerifyAudit(); err != nil {
		t.Errorf("VerifyAudit = %v", err)
	}
	if err := ro.ExportAudit(io.Discard, 1); err != nil {
		t.Errorf("ExportAudit = %v", err)
	}
	if _, err := ro.Secret("osdp/front"); err != nil {
		t.Errorf("Secret = %v", err)
	}
	if _, err := ro.PendingDestructions(); err != nil {
		t.Errorf("PendingDestructions = %v", err)
	}

	writes := map[string]func() error{
		"AddResident": func() error { _, err := ro.AddResident("staff:x", Resident{Name: "New"}); return err },
		"UpdateResident": func() error {
			_, err := ro.UpdateResident("staff:x", Resident{ID: b.ID, Name: "Renamed", Status: StatusActive})
			return err
		},
		"AssignCard": func() error { return ro.AssignCard("staff:x", b.ID, "2002") },
		"RevokeCard": func() error { return ro.RevokeCard("staff:x", a.ID, "1001") },
		"SetPIN":     func() error { return ro.SetPIN("staff:x", b.ID, "5678") },
		"ClearPIN":   func() error { return ro.ClearPIN("staff:x", a.ID) },
		"Enroll":     func() error { _, err := ro.Enroll("staff:x", b.ID, testEnrollment(r, 1)); return err },
		"Reconsent":  func() error { _, err := ro.Reconsent("staff:x", a.ID, testConsent()); return err },
		"DestroyFaceData": func() error {
			_, err := ro.DestroyFaceData("staff:x", a.ID, "opt out")
			return err
		},
		"DestroyFaceDataRequested": func() error {
			_, err := ro.DestroyFaceDataRequested("staff:x", a.ID, "opt out", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
			return err
		},
		"DeleteResident": func() error { _, err := ro.DeleteResident("staff:x", a.ID, "moved"); return err },
		"SetSetting":     func() error { return ro.SetSetting("staff:x", "gate.open_ms", []byte("1")) },
		"SetSecret":      func() error { return ro.SetSecret("staff:x", "osdp/back", []byte("k")) },
		"AppendAudit": func() error {
			_, err := ro.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "granted"})
			return err
		},
		"Backup":        func() error { _, err := ro.Backup("staff:x", io.Discard); return err },
		"Compact":       ro.Compact,
		"RotateKEK":     func() error { return ro.RotateKEK("staff:x", mustKEK(t)) },
		"SetFailures":   func() error { return ro.SetFailures("card:1001", Failures{N: 1, Last: time.Now()}) },
		"ClearFailures": func() error { return ro.ClearFailures("card:1001") },
		"Failures":      func() error { _, err := ro.Failures("card:1001"); return err },
		"AutoBackup":    func() error { _, err := ro.AutoBackup(BackupScheduled); return err },
		"FinishPending": func() error { _, err := ro.FinishPending(); return err },
		"ImportJournal": func() error { _, err := ro.ImportJournal(filepath.Join(t.TempDir(), "j")); return err },
	}
	for name, write := range writes {
		err := write()
		if name == "AutoBackup" {
			// No backup directory configured: refused before anything else.
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s on a read-only store = %v, want ErrReadOnly or ErrInvalid", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrReadOnly) || !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("%s on a read-only store = %v, want ErrReadOnly with context", name, err)
		}
	}
	ro.Close()
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("the read-only store's file changed")
	}
	// The writer could not have it while it was open; now it can.
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestOpenReadOnlyWhileWriterHoldsIt(t *testing.T) {
	db, path, kek := newTestDB(t)
	_ = db
	opts := testOptions(t)
	opts.LockTimeout = 50 * time.Millisecond
	if _, err := OpenReadOnly(path, kek, opts); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenReadOnly while Open holds the store = %v, want ErrLocked", err)
	}
}
