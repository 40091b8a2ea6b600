//go:build linux

package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStagedRestoreOnFullDisk replays red team round 2: a restore staged
// on a disk with room for the staged copy but not for Restore's own copy
// failed when applied at the next start, the staged backup was removed,
// and the gate ran on its current store as if nothing had been asked.
// Now staging refuses a backup the disk has no room to apply (about twice
// its size), and a restore that fails when applied for a reason that may
// pass (a full disk) stays staged, with an error that says so, and is
// applied at the next try.
func TestStagedRestoreOnFullDisk(t *testing.T) {
	dataDir, path, kek, opts := tmpfsStore(t, "4m")
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	kept := enrollMany(t, db, 94, "Kept", 60)
	if err := db.AssignCard("staff:a", kept.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	auto, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := db.Backup("staff:a", &backup); err != nil {
		t.Fatal(err)
	}
	size := int64(backup.Len())
	if size < 200<<10 {
		t.Fatalf("backup is %d bytes: too small for the room left to matter", size)
	}
	// The change the admin wants undone.
	if err := db.RevokeCard("staff:a", kept.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dataDir, "filler")
	staged := stagedPath(path)

	// Room for the staged copy, not for the restore's own: refused at once.
	fillDisk(t, filler, size*3/2)
	err = StageRestore(path, bytes.NewReader(backup.Bytes()), kek)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "free space") {
		t.Errorf("StageRestore with room for 1.5 copies = %v, want ENOSPC saying to free space", err)
	}
	if _, err := StageAutoBackup(path, opts.BackupDir, filepath.Base(auto.Path), kek); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("StageAutoBackup with room for 1.5 copies = %v, want ENOSPC", err)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a restore was staged without room to apply it: %v", err)
	}
	if s := strayTemps(t, dataDir); len(s) != 0 {
		t.Errorf("temporary files left: %v", s)
	}
	os.Remove(filler)

	// Staged with room; the disk fills before the next start.
	if err := StageRestore(path, bytes.NewReader(backup.Bytes()), kek); err != nil {
		t.Fatalf("StageRestore with room = %v", err)
	}
	db.Close()
	fillDisk(t, filler, size/2)
	rep, done, err := ApplyStaged(path, opts, kek)
	if done || !errors.Is(err, ErrStillStaged) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "next start") {
		t.Errorf("ApplyStaged on a full disk = %+v, %v, %v; want not done, ErrStillStaged and ENOSPC, saying it is tried at the next start", rep, done, err)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Errorf("the staged backup is gone after a restore that failed for want of space: %v", err)
	}
	if s := strayTemps(t, dataDir); len(s) != 1 || s[0] != staged {
		t.Errorf("files left: %v, want the staged backup only", s)
	}
	db, err = Open(path, kek, opts)
	if err != nil {
		t.Fatalf("the store after a failed restore: %v", err)
	}
	if _, err := db.LookupCard("1001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the store changed although the restore failed: card 1001 = %v", err)
	}
	db.Close()

	// The next start, with room: applied.
	os.Remove(filler)
	if _, done, err := ApplyStaged(path, opts, kek); !done || err != nil {
		t.Fatalf("ApplyStaged with room = %v, %v", done, err)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the staged backup is still there after it was applied: %v", err)
	}
	db, err = Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := db.LookupCard("1001"); err != nil || id != kept.ID {
		t.Errorf("after the restore card 1001 = %q, %v; want the backup's %s", id, err, kept.ID)
	}
}
