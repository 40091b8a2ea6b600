package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenLocked holds the store open in another process and checks that
// Open, Restore and a read-only inspection fail fast with ErrLocked and
// leave the file alone.
func TestOpenLocked(t *testing.T) {
	key := randomBytes(KEKSize)
	kek, err := NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gated.db")
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddResident("staff:test", Resident{Name: "Held"}); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := db.Backup("staff:test", &backup); err != nil {
		t.Fatal(err)
	}
	db.Close()
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	writeTestFile(t, backupPath, backup.Bytes())

	cmd, stdin := startHelper(t, "lock", path, key)
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper exit: %v", err)
		}
	}()
	before := readFile(t, path)

	opts := testOptions(t)
	opts.LockTimeout = 100 * time.Millisecond
	start := time.Now()
	_, err = Open(path, kek, opts)
	if got := time.Since(start); !errors.Is(err, ErrLocked) || got > 2*time.Second {
		t.Errorf("Open of a locked store = %v after %v, want ErrLocked within 2s", err, got)
	}
	if _, err := Restore(path, backupPath, kek, opts); !errors.Is(err, ErrLocked) {
		t.Errorf("Restore over a locked store = %v, want ErrLocked", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Errorf("locked store changed")
	}
}
