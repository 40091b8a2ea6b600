//go:build linux

package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRotateOnFullDisk replays red team round 2: `gated keys rotate` on a
// nearly full disk. The re-wrap committed, then the rewrite (compaction)
// failed with ENOSPC, and the error said "rotated, but the file was not
// rewritten (call Compact)", which nothing could call: freed pages kept
// the data keys wrapped under the old key, and the backups stayed under
// the old key. Now the error says the rotation is done (ErrRotatedPending,
// ENOSPC), the store records that the rewrite is owed, and FinishPending,
// at the next start, rewrites the file and replaces the backups.
func TestRotateOnFullDisk(t *testing.T) {
	dataDir, path, oldKEK, opts := tmpfsStore(t, "2m")
	db, err := Open(path, oldKEK, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	first := enrollMany(t, db, 93, "Resident", 70)
	if _, err := db.AutoBackup(BackupScheduled); err != nil {
		t.Fatal(err)
	}
	oldWrapped, _ := secretsOf(t, db, first.ID)
	filler := filepath.Join(dataDir, "filler")
	fillDisk(t, filler, 96<<10)

	newKEK := mustKEK(t)
	err = db.RotateKEK("staff:admin", newKEK)
	var rp *RotationPendingError
	if !errors.Is(err, ErrRotatedPending) || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &rp) {
		t.Fatalf("RotateKEK on a full disk = %v, want a *RotationPendingError, ErrRotatedPending and ENOSPC", err)
	}
	for _, s := range []string{"the rotation is done", "sealed with the new key " + newKEK.Fingerprint(), "no space left on device", "retried"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("RotateKEK error %q, want %q in it", err, s)
		}
	}
	if strings.Contains(err.Error(), "call Compact") {
		t.Errorf("RotateKEK error %q asks for what no caller can do", err)
	}
	if got := db.KEKFingerprint(); got != newKEK.Fingerprint() {
		t.Errorf("KEKFingerprint = %s, want the new %s", got, newKEK.Fingerprint())
	}
	if p, err := db.RotationPending(); !p || err != nil {
		t.Errorf("RotationPending = %v, %v; want true", p, err)
	}
	if s, _ := db.Stats(); !s.RotationPending {
		t.Error("Stats.RotationPending = false, want true")
	}
	// Honestly pending: the old key's wrapping is still in the file and
	// the backup is still under the old key.
	if hits := scanFiles(t, dataDir, [][]byte{oldWrapped}); len(hits) != 2 {
		t.Errorf("before the retry the old wrapping is in %v, want the store and the backup (else the scan proves nothing)", hits)
	}
	if n, err := db.FinishPending(); n != 0 || !errors.Is(err, ErrRotatedPending) || errors.Is(err, ErrPending) {
		t.Errorf("FinishPending on a full disk = %d, %v; want 0, ErrRotatedPending only", n, err)
	}

	// A restart with the new key, the disk freed: FinishPending at start
	// finishes it.
	db.Close()
	if _, err := Open(path, oldKEK, opts); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with the old key = %v, want ErrWrongKey: the rotation is done", err)
	}
	os.Remove(filler)
	db, err = Open(path, newKEK, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := db.RotationPending(); !p {
		t.Fatal("the owed rewrite was forgotten across a restart")
	}
	if n, err := db.FinishPending(); n != 0 || err != nil {
		t.Fatalf("FinishPending with room = %d, %v; want 0, nil", n, err)
	}
	if p, err := db.RotationPending(); p || err != nil {
		t.Errorf("RotationPending after FinishPending = %v, %v; want false", p, err)
	}
	if hits := scanFiles(t, dataDir, [][]byte{oldWrapped}); len(hits) != 0 {
		t.Errorf("after FinishPending the old key's wrapping is still in %v", hits)
	}
	list, _ := ListBackups(opts.BackupDir)
	if len(list) != 1 {
		t.Fatalf("%d backups, want the fresh one under the new key only", len(list))
	}
	if err := Check(list[0].Path, newKEK); err != nil {
		t.Errorf("the fresh backup: Check with the new key = %v", err)
	}
	var finished bool
	db.ForEachAudit(1, func(a AuditEntry) error {
		finished = finished || strings.Contains(a.Detail, "key rotation to "+newKEK.Fingerprint()+" finished on disk")
		return nil
	})
	if !finished {
		t.Error("no audit entry says the rotation finished on disk")
	}
	if s := strayTemps(t, dataDir); len(s) != 0 {
		t.Errorf("temporary files left: %v", s)
	}
	if n, err := db.FinishPending(); n != 0 || err != nil {
		t.Errorf("FinishPending with nothing owed = %d, %v", n, err)
	}
}

// TestStoreSettingsReserved: the settings named store:… are the store's
// own (a rotation's owed rewrite); callers cannot set them.
func TestStoreSettingsReserved(t *testing.T) {
	db, _, _ := newTestDB(t)
	if err := db.SetSetting("staff:x", rotationPendingSetting, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSetting(%s) = %v, want ErrInvalid", rotationPendingSetting, err)
	}
}

// tmpfsStore is where a full-disk test keeps its store: a tmpfs of size
// (a real full disk), the store's path in it, a key, and options with the
// backups beside the store.
func tmpfsStore(t *testing.T, size string) (dataDir, path string, kek KEK, opts Options) {
	t.Helper()
	dataDir = mountTmpfs(t, size)
	opts = testOptions(t)
	opts.BackupDir = filepath.Join(dataDir, "backups")
	return dataDir, filepath.Join(dataDir, "gated.db"), mustKEK(t), opts
}

// enrollMany enrolls the resident first and then n neighbours, 3
// templates each, from the random seed; it returns first.
func enrollMany(t *testing.T, db *DB, seed uint64, first string, n int) Resident {
	t.Helper()
	r := newRand(seed)
	res, _ := addEnrolled(t, db, r, first, 3)
	for range n {
		addEnrolled(t, db, r, "Neighbour", 3)
	}
	return res
}
