package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A gate restored from a backup taken before it joined the compound is
// no longer a member: the opt-out asked at it after joining, which the
// office has not collected, can never reach the other gates, and the
// gate stops importing. Before the fix the restore said nothing of it
// (carryCompound returned 0, nil); staff must be told to join again and
// to pass the opt-out on (red team 2, issue 16).
func TestRedteam2RestoreBeforeJoinWarns(t *testing.T) {
	db, path, kek := newTestDB(t)
	backup := filepath.Join(filepath.Dir(path), "backup-prejoin.db")
	f, err := os.OpenFile(backup, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup("staff:admin", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	o := newTestOffice(t)
	c := joinTest(t, db, o, "north")
	if _, err := importBundle(db, o.seal(t, c.Public, 0, o.baseRecords("north"))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enroll("kiosk", resA, testEnrollment(newRand(4), 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DestroyFaceData("kiosk", resA, "consent withdrawn"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	rep, err := Restore(path, backup, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	var said string
	for _, w := range rep.Warnings {
		if strings.Contains(w, "compound") {
			said = w
		}
	}
	if said == "" {
		t.Fatalf("Restore(a backup from before the gate joined).Warnings = %q, want one saying the gate left the compound and an opt-out (%s) was not passed on", rep.Warnings, resA)
	}
	if !strings.Contains(said, resA) {
		t.Errorf("the warning %q does not name the opt-out the office never got (%s)", said, resA)
	}
	if !strings.Contains(rep.Alarm, resA) {
		t.Errorf("RestoreReport.Alarm = %q, want the left-the-compound warning for the daemon's alarm", rep.Alarm)
	}
}
