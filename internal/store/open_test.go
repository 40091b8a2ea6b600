package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestKeyFileOfTypedText replays a passphrase typed into the key file: 32
// printable bytes are refused, with the fix, and random raw keys are not.
func TestKeyFileOfTypedText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gated.key")
	writeTestFile(t, path, []byte("my gate passphrase is very long!"))
	_, err := LoadNewKEKFile(path)
	if !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), "gated keygen") {
		t.Errorf("LoadNewKEKFile(32 bytes of text) = %v, want ErrBadKeyFile naming gated keygen", err)
	}
	if _, err := LoadKEKFile(path); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "gated keys rotate") {
		t.Errorf("LoadKEKFile(32 bytes of text) = %v, want ErrWeakKey naming gated keys rotate", err)
	}
	for i := range 10000 {
		if _, weak, err := parseKEK(randomBytes(KEKSize)); err != nil || weak != "" {
			t.Fatalf("random raw key %d refused: %q, %v", i, weak, err)
		}
	}
}

// TestOpenMakesStoreFilePrivate: a store file of ours that other users can
// read is made 0600 by Open, with a warning and an audit entry saying
// what the mode was.
func TestOpenMakesStoreFilePrivate(t *testing.T) {
	db, path, kek := newTestDB(t)
	if _, err := db.AddResident("staff:test", Resident{Name: "Exposed"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opts := testOptions(t)
	opts.Logger = newBufferLogger(&logs)
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatalf("Open of a 0644 store of ours = %v", err)
	}
	defer db.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after Open = %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), "anyone who could read it may have a copy") {
		t.Errorf("log = %q, want a warning", logs.String())
	}
	var last AuditEntry
	db.ForEachAudit(1, func(a AuditEntry) error { last = a; return nil })
	if !strings.Contains(last.Detail, "mode 0644") || !strings.Contains(last.Detail, "anyone who could read it may have a copy") {
		t.Errorf("last audit entry = %+v, want the old mode and the warning", last)
	}
}

// TestOpenRefusesForeignReadableStore: a readable store file owned by
// another user is refused with the fix, and left alone.
func TestOpenRefusesForeignReadableStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test gives the store file to another user: it needs root (or CAP_CHOWN)")
	}
	db, path, kek := newTestDB(t)
	db.Close()
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	_, err := Open(path, kek, testOptions(t))
	if !errors.Is(err, ErrInsecureStoreFile) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("Open of another user's 0640 store = %v, want ErrInsecureStoreFile with the fix", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 || !bytes.Equal(readFile(t, path), before) {
		t.Error("refused Open changed the file or its mode")
	}
	// Private again, it is ours to open (root may open another's file).
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Open of a 0600 store = %v", err)
	}
	db.Close()
}

// TestOpenRemovesLeftoverTemps: Open removes this store's temporary files
// (a crash mid-compaction, creation or restore) and those of its backup
// directory, and nothing else.
func TestOpenRemovesLeftoverTemps(t *testing.T) {
	db, path, kek := newTestDB(t)
	db.Close()
	dir := filepath.Dir(path)
	backups := filepath.Join(dir, "backups")
	if err := os.Mkdir(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	ours := []string{
		filepath.Join(dir, ".gated.db.compact-123456"),
		filepath.Join(dir, ".gated.db.new-42"),
		filepath.Join(dir, ".gated.db.restore-7"),
		filepath.Join(backups, ".gated-backup-99"),
		filepath.Join(backups, ".gated-20261123T090000.000Z.db.compact-5"),
		filepath.Join(backups, ".gated-0000000042-scheduled-20261123T090000.000Z.db.compact-5"),
		filepath.Join(backups, ".gated-0000000043-change-20261123T090000.000Z.db.new-6"),
	}
	theirs := []string{
		filepath.Join(dir, ".gated.db.compact-abc"),
		filepath.Join(dir, ".gated.db.compact-1.bak"),
		filepath.Join(dir, ".other.db.compact-1"),
		filepath.Join(dir, "gated.db.compact-1"),
		filepath.Join(dir, "notes.txt"),
		filepath.Join(backups, "gated-20261123T090000.000Z.db"),
		filepath.Join(backups, "gated-0000000042-scheduled-20261123T090000.000Z.db"),
		filepath.Join(backups, ".gated-0000000042-weekly-20261123T090000.000Z.db.compact-5"),
		filepath.Join(backups, ".gated-backup-x"),
	}
	for _, p := range append(append([]string{}, ours...), theirs...) {
		writeTestFile(t, p, []byte("sealed bytes"))
	}
	opts := testOptions(t)
	opts.BackupDir = backups
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range ours {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open (%v), want it removed", p, err)
		}
	}
	for _, p := range theirs {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it left alone", p, err)
		}
	}
}

// TestCheck: Check verifies like Open, changes nothing, and walks the
// whole audit chain.
func TestCheck(t *testing.T) {
	db, path, kek := newTestDB(t)
	addEnrolled(t, db, newRand(5), "Checked", 2)
	for range 20 {
		db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "denied"})
	}
	db.Close()
	if err := Check(path, kek); err != nil {
		t.Fatalf("Check of a good store = %v", err)
	}
	if err := Check(path, mustKEK(t)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Check with another key = %v, want ErrWrongKey", err)
	}
	// An entry in the middle of the chain, altered: Open serves (it
	// checks the sealed head and last entry only), Check names the entry.
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		v := bytes.Clone(b.Get(be64(5)))
		i := bytes.Index(v, []byte("denied"))
		v[i] = 'D'
		return b.Put(be64(5), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := readFile(t, path)
	if err := Check(path, kek); !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), "entry 5") {
		t.Errorf("Check with entry 5 altered = %v, want ErrAuditBroken at entry 5", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("Check changed the file")
	}
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Open with an old audit entry altered = %v, want it to serve", err)
	}
	defer db.Close()
	if _, err := db.VerifyAudit(); !errors.Is(err, ErrAuditBroken) {
		t.Errorf("VerifyAudit = %v, want ErrAuditBroken", err)
	}
}
