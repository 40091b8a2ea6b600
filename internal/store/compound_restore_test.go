package store

import (
	"os"
	"path/filepath"
	"testing"
)

// A compound gate restored from a backup keeps its event sequence (else
// the office skips its next bundles as already collected) and the
// opt-outs asked after the backup (else they never reach the other
// gates), and the face data destroyed after the backup stays destroyed
// (red team, issue 16).
func TestCompoundRestoreKeepsSequenceAndOptOuts(t *testing.T) {
	db, path, kek := newTestDB(t)
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enroll("kiosk", resA, testEnrollment(newRand(4), 2)); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(filepath.Dir(path), "backup.db")
	f, err := os.OpenFile(backup, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup("staff:admin", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// After the backup: event bundles 1-3 go out, and A opts out here.
	for range 3 {
		if _, _, err := db.EventBundle(0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DestroyFaceData("kiosk", resA, "consent withdrawn"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	rep, err := Restore(path, backup, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	if len(rep.Warnings) > 0 {
		t.Logf("restore warnings: %q", rep.Warnings)
	}
	db2, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if has, _ := db2.HasFaceData(resA); has {
		t.Fatal("the restore brought back face data destroyed after the backup")
	}
	h, ev, err := db2.EventBundle(0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq != 4 {
		t.Errorf("the first event bundle after the restore is %d, want 4 (the office holds 1-3)", h.Seq)
	}
	if len(ev.OptOuts) != 1 || ev.OptOuts[0].Resident != resA || ev.OptOuts[0].Origin != "north" {
		t.Errorf("opt-outs after the restore = %+v, want A's, asked at north after the backup", ev.OptOuts)
	}
}
