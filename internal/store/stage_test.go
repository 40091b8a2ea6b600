package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A restore staged while the store is open is applied before the next
// open; a foreign or damaged backup is refused and nothing is staged.
func TestStageAndApply(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.db")
	kek := mustKEK(t)
	opts := testOptions(t)
	opts.BackupDir = filepath.Join(dir, "backups")
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := db.AddResident("test", Resident{Name: "kept", Unit: "1"})
	var backup bytes.Buffer
	if _, err := db.Backup("test", &backup); err != nil {
		t.Fatal(err)
	}
	later, _ := db.AddResident("test", Resident{Name: "later", Unit: "2"})

	for _, bad := range [][]byte{[]byte("not a store"), backup.Bytes()[:backup.Len()/2]} {
		if err := StageRestore(path, bytes.NewReader(bad), kek); err == nil {
			t.Fatalf("StageRestore of %d bad bytes = nil", len(bad))
		}
	}
	if err := StageRestore(path, bytes.NewReader(backup.Bytes()), mustKEK(t)); err == nil {
		t.Fatalf("StageRestore of a backup under another key = nil")
	}
	if _, err := os.Stat(stagedPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused backup was staged: %v", err)
	}
	if err := StageRestore(path, bytes.NewReader(backup.Bytes()), kek); err != nil {
		t.Fatalf("StageRestore of a good backup = %v", err)
	}
	db.Close()
	// The configured key first, then the key of a rotation not yet in
	// place: the staged backup is applied with the one that opens it. A
	// wrong key alone refuses it (and it is no longer staged).
	other := mustKEK(t)
	if _, done, err := ApplyStaged(path, opts, other); done || !errors.Is(err, ErrWrongKey) {
		t.Fatalf("ApplyStaged with a wrong key only = %v, %v; want ErrWrongKey", done, err)
	}
	if err := StageRestore(path, bytes.NewReader(backup.Bytes()), kek); err != nil {
		t.Fatalf("StageRestore again = %v", err)
	}
	rep, done, err := ApplyStaged(path, opts, other, kek)
	if err != nil || !done {
		t.Fatalf("ApplyStaged = %+v, %v, %v", rep, done, err)
	}
	db, err = Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Resident(kept.ID); err != nil {
		t.Errorf("the backup's resident is gone after the restore: %v", err)
	}
	if _, err := db.Resident(later.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a resident added after the backup survived the restore: %v", err)
	}
	if _, done, _ := ApplyStaged(path, opts, kek); done {
		t.Errorf("a staged backup was applied twice")
	}
}

// StageAutoBackup takes the newest backup that verifies.
func TestStageNewestAutoBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.db")
	kek := mustKEK(t)
	opts := testOptions(t)
	opts.BackupDir = filepath.Join(dir, "backups")
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	db.AddResident("test", Resident{Name: "x", Unit: "1"})
	newest, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	b := readFile(t, newest.Path)
	writeTestFile(t, newest.Path, b[:len(b)/2]) // damaged
	got, err := StageAutoBackup(path, opts.BackupDir, "newest", kek)
	if err != nil || got.Path != old.Path {
		t.Fatalf("StageAutoBackup(newest) = %v, %v; want the older, whole backup %s", got.Path, err, old.Path)
	}
	if _, err := StageAutoBackup(path, opts.BackupDir, "gated-nope.db", kek); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "gated backup list") {
		t.Errorf("StageAutoBackup of an unknown name = %v", err)
	}
}
