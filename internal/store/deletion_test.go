package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// secretsOf copies, straight from bbolt, the wrapped data key and the
// sealed parts (nonce, ciphertext, tag) of every template of a resident.
func secretsOf(t *testing.T, db *DB, residentID string) (wrapped []byte, sealed [][]byte) {
	t.Helper()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		wrapped = bytes.Clone(tx.Bucket(bucketDataKeys).Get([]byte(residentID)))
		prefix := []byte(residentID + "/")
		c := tx.Bucket(bucketTemplates).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			env, err := decodeEnvelope(v)
			if err != nil {
				return err
			}
			sealed = append(sealed, append(bytes.Clone(env.Nonce), env.Sealed...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if wrapped == nil || len(sealed) == 0 {
		t.Fatalf("resident %s has no face data to look for", residentID)
	}
	return wrapped, sealed
}

func TestDestroyFaceDataLeavesNoBytes(t *testing.T) {
	db, path, _ := newTestDB(t)
	r := newRand(3)
	victim, enrolled := addEnrolled(t, db, r, "Zhang Min", 3)
	wrapped, sealed := secretsOf(t, db, victim.ID)
	// Churn the B+tree so pages holding the victim's records are rewritten
	// and their old copies sit in freed pages.
	var others []Resident
	for i := range 40 {
		o, _ := addEnrolled(t, db, r, "Neighbour "+string(rune('A'+i%26)), 2)
		others = append(others, o)
	}

	raw := readFile(t, path)
	for i, s := range sealed {
		if !bytes.Contains(raw, s) {
			t.Fatalf("before deletion: sealed template %d not found in the file; the scan would prove nothing", i)
		}
	}
	if !bytes.Contains(raw, wrapped) {
		t.Fatal("before deletion: wrapped key not found in the file")
	}
	for i, tpl := range enrolled.Templates {
		if plain := appendFloats(nil, tpl.Vector); bytes.Contains(raw, plain) {
			t.Fatalf("plaintext vector %d is in the file", i)
		}
	}

	rec, err := db.DestroyFaceData("staff:desk", victim.ID, "resident opted out at the desk")
	if err != nil {
		t.Fatalf("DestroyFaceData = %v", err)
	}

	raw = readFile(t, path)
	for i, s := range sealed {
		if bytes.Contains(raw, s) {
			t.Errorf("after deletion: sealed template %d still in the file", i)
		}
		if bytes.Contains(raw, s[:24]) {
			t.Errorf("after deletion: the start of sealed template %d still in the file", i)
		}
	}
	if bytes.Contains(raw, wrapped) {
		t.Error("after deletion: wrapped data key still in the file")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after compaction, want 1 (the store)", len(entries))
	}

	if got, want := rec.Templates, 3; got != want {
		t.Errorf("DeletionRecord.Templates = %d, want %d", got, want)
	}
	if rec.ResidentID != victim.ID || rec.Actor != "staff:desk" || !strings.HasPrefix(rec.ReceiptID, "d-") || rec.At.IsZero() {
		t.Errorf("DeletionRecord = %+v, want resident, actor, receipt and time set", rec)
	}
	dels, err := db.Deletions()
	if err != nil || len(dels) != 1 || dels[0] != rec {
		t.Errorf("Deletions() = %+v, %v; want [%+v]", dels, err, rec)
	}
	if has, _ := db.HasFaceData(victim.ID); has {
		t.Error("HasFaceData after destroy = true")
	}
	if ts, err := db.Templates(victim.ID); err != nil || len(ts) != 0 {
		t.Errorf("Templates after destroy = %d, %v; want 0, nil", len(ts), err)
	}
	cs, err := db.Consents(victim.ID)
	if err != nil || len(cs) != 1 || cs[0].WithdrawnAt.IsZero() {
		t.Errorf("Consents after destroy = %+v, %v; want one withdrawn", cs, err)
	}
	if _, err := db.Resident(victim.ID); err != nil {
		t.Errorf("Resident after destroying face data = %v, want the resident kept", err)
	}
	// The others are intact and the store is usable.
	n := 0
	if err := db.ForEachTemplate("", func(tp Template) error { n++; return nil }); err != nil || n != 2*len(others) {
		t.Errorf("ForEachTemplate after destroy = %d, %v; want %d, nil", n, err, 2*len(others))
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Errorf("VerifyAudit = %v", err)
	}
	if _, err := db.DestroyFaceData("staff:desk", victim.ID, "again"); !errors.Is(err, ErrNoFaceData) {
		t.Errorf("second DestroyFaceData = %v, want ErrNoFaceData", err)
	}
	if _, err := db.DestroyFaceData("staff:desk", "r-000000000000", "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DestroyFaceData(unknown) = %v, want ErrNotFound", err)
	}
	// Re-enrolling after destruction works and uses a new data key.
	if _, err := db.Enroll("staff:desk", victim.ID, testEnrollment(r, 1)); err != nil {
		t.Errorf("re-Enroll after destroy = %v", err)
	}
	w2, _ := secretsOf(t, db, victim.ID)
	if bytes.Equal(w2, wrapped) {
		t.Error("re-enrollment reused the destroyed wrapped key")
	}
}

func TestDeleteResident(t *testing.T) {
	db, path, _ := newTestDB(t)
	r := newRand(4)
	victim, _ := addEnrolled(t, db, r, "Wang Fang", 2)
	if err := db.AssignCard("staff:desk", victim.ID, "CARD-0042"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN("staff:desk", victim.ID, "1234"); err != nil {
		t.Fatal(err)
	}
	wrapped, sealed := secretsOf(t, db, victim.ID)
	rec, err := db.DeleteResident("staff:desk", victim.ID, "moved out")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Templates != 2 {
		t.Errorf("Templates = %d, want 2", rec.Templates)
	}
	if _, err := db.Resident(victim.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resident after delete = %v, want ErrNotFound", err)
	}
	if _, err := db.LookupCard("CARD-0042"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCard after delete = %v, want ErrNotFound", err)
	}
	if _, err := db.VerifyPIN(victim.ID, "1234"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyPIN after delete = %v, want ErrNotFound", err)
	}
	raw := readFile(t, path)
	if bytes.Contains(raw, wrapped) || bytes.Contains(raw, sealed[0]) || bytes.Contains(raw, []byte("Wang Fang")) {
		t.Error("deleted resident's key, template or name still in the file")
	}
	// A resident without face data can still be deleted.
	plain, err := db.AddResident("staff:desk", Resident{Name: "No Face"})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := db.DeleteResident("staff:desk", plain.ID, "moved out"); err != nil || rec.Templates != 0 {
		t.Errorf("DeleteResident(no face) = %+v, %v; want 0 templates, nil", rec, err)
	}
}

// TestDestroyWhileReading runs readers during compactions: none may see a
// closed handle (run with -race).
func TestDestroyWhileReading(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(5)
	var victims []Resident
	for range 6 {
		v, _ := addEnrolled(t, db, r, "Reader Test", 1)
		victims = append(victims, v)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.ForEachTemplate("", func(Template) error { return nil }); err != nil {
					errs <- err
					return
				}
				if _, err := db.Stats(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, v := range victims {
		if _, err := db.DestroyFaceData("staff:test", v.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reader during compaction: %v", err)
	}
}
