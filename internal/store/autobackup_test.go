package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// scanFiles reads every regular file under dir and returns, for each file
// holding any of the secrets, its path relative to dir. It is the raw
// byte scan behind "destroyed means gone from disk".
func scanFiles(t *testing.T, dir string, secrets [][]byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				rel, _ := filepath.Rel(dir, p)
				hits = append(hits, rel)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// faceSecrets is what must vanish from disk when a resident's face data is
// destroyed: the wrapped data key and each sealed template.
func faceSecrets(t *testing.T, db *DB, residentID string) [][]byte {
	t.Helper()
	wrapped, sealed := secretsOf(t, db, residentID)
	return append([][]byte{wrapped}, sealed...)
}

// strayTemps lists files under dir that look like temporary files.
func strayTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func newBackedUpDB(t *testing.T, keep int) (*DB, string, KEK) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.db")
	kek := mustKEK(t)
	opts := testOptions(t)
	opts.BackupDir = filepath.Join(dir, "backups")
	opts.BackupKeep = keep
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path, kek
}

func TestAutoBackupRotates(t *testing.T) {
	db, path, kek := newBackedUpDB(t, 3)
	dir := db.opts.BackupDir
	r := newRand(41)
	var taken []BackupInfo
	for i := range 5 {
		addEnrolled(t, db, r, "Resident", 1+i%2)
		info, err := db.AutoBackup(BackupScheduled)
		if err != nil {
			t.Fatalf("AutoBackup %d = %v", i, err)
		}
		taken = append(taken, info)
	}
	writeTestFile(t, filepath.Join(dir, "notes.txt"), []byte("not a backup"))
	writeTestFile(t, filepath.Join(dir, "gated-2026.db"), []byte("not a backup either"))
	list, err := ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("ListBackups = %d backups, want BackupKeep = 3", len(list))
	}
	name := regexp.MustCompile(`^gated-[0-9]{10}-scheduled-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.db$`)
	for i, b := range list {
		if want := taken[4-i]; b.Path != want.Path || !b.Taken.Equal(want.Taken) || b.Size != want.Size || b.Size == 0 {
			t.Errorf("ListBackups[%d] = %+v, want %+v (newest first)", i, b, want)
		}
		if !name.MatchString(filepath.Base(b.Path)) {
			t.Errorf("backup name %s does not follow gated-GGGGGGGGGG-scheduled-YYYYMMDDTHHMMSS.sssZ.db", b.Path)
		}
		if fi, _ := os.Stat(b.Path); fi.Mode().Perm() != 0o600 {
			t.Errorf("backup %s mode %v, want 0600", b.Path, fi.Mode().Perm())
		}
		if err := Check(b.Path, kek); err != nil {
			t.Errorf("Check(backup %d) = %v", i, err)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("backup dir mode %v, want 0700", fi.Mode().Perm())
	}
	if s := strayTemps(t, dir); len(s) != 0 {
		t.Errorf("temporary files left: %v", s)
	}
	// The newest backup holds everything the store held when it was taken.
	bk, info, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil || info.Path != taken[4].Path || len(info.Skipped) != 0 {
		t.Fatalf("OpenNewestBackup = %+v, %v", info, err)
	}
	defer bk.Close()
	s1, _ := db.Stats()
	s2, _ := bk.Stats()
	if s1.Residents != s2.Residents || s1.Templates != s2.Templates {
		t.Errorf("backup has %d residents, %d templates; store %d, %d", s2.Residents, s2.Templates, s1.Residents, s1.Templates)
	}
	if _, err := bk.AddResident("staff:x", Resident{Name: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("AddResident on the backup = %v, want ErrReadOnly", err)
	}
	_ = path
}

func TestOpenNewestBackupSkipsDamaged(t *testing.T) {
	db, _, kek := newBackedUpDB(t, 7)
	dir := db.opts.BackupDir
	addEnrolled(t, db, newRand(42), "Resident", 2)
	older, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	damageRootPage(t, newer.Path)

	bk, info, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil {
		t.Fatalf("OpenNewestBackup with the newest damaged = %v", err)
	}
	bk.Close()
	if info.Path != older.Path || len(info.Skipped) != 1 || !strings.Contains(info.Skipped[0], filepath.Base(newer.Path)) || !strings.Contains(info.Skipped[0], "damaged") {
		t.Errorf("OpenNewestBackup = %+v, want the older one, the newer skipped as damaged", info)
	}
	os.Remove(older.Path)
	_, _, err = OpenNewestBackup(dir, kek, testOptions(t))
	if !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), filepath.Base(newer.Path)) {
		t.Errorf("OpenNewestBackup with only a damaged one = %v, want ErrNoBackup naming it", err)
	}
	os.Remove(newer.Path)
	if _, _, err := OpenNewestBackup(dir, kek, testOptions(t)); !errors.Is(err, ErrNoBackup) {
		t.Errorf("OpenNewestBackup of an empty dir = %v, want ErrNoBackup", err)
	}
}

// TestAutoBackupRefusesBadSnapshot: a snapshot that does not verify (here,
// a record damaged in the live file after Open) is deleted and reported.
func TestAutoBackupRefusesBadSnapshot(t *testing.T) {
	db, _, _ := newBackedUpDB(t, 7)
	res, _ := addEnrolled(t, db, newRand(43), "Resident", 1)
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResidents).Put([]byte(res.ID), []byte{7})
	}); err != nil {
		t.Fatal(err)
	}
	_, err := db.AutoBackup(BackupScheduled)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("AutoBackup of a damaged store = %v, want ErrCorrupt and the backup deleted", err)
	}
	if list, _ := ListBackups(db.opts.BackupDir); len(list) != 0 {
		t.Errorf("%d backups kept, want the bad one deleted", len(list))
	}
}

// TestDestroyScrubsBackups: after a destruction completes, no file under
// the data directory, backups included, holds a byte of the resident's
// sealed templates or wrapped data key; the backups still verify and keep
// everyone else.
func TestDestroyScrubsBackups(t *testing.T) {
	db, path, kek := newBackedUpDB(t, 7)
	dataDir := filepath.Dir(path)
	r := newRand(44)
	victim, _ := addEnrolled(t, db, r, "Opts Out", 3)
	mover, _ := addEnrolled(t, db, r, "Moves Out", 2)
	if err := db.AssignCard("staff:test", mover.ID, "7007"); err != nil {
		t.Fatal(err)
	}
	keep, _ := addEnrolled(t, db, r, "Stays", 2)
	for range 3 {
		if _, err := db.AutoBackup(BackupScheduled); err != nil {
			t.Fatal(err)
		}
		addEnrolled(t, db, r, "Later", 1)
	}
	secrets := faceSecrets(t, db, victim.ID)
	moverSecrets := faceSecrets(t, db, mover.ID)
	if hits := scanFiles(t, dataDir, secrets); len(hits) != 4 {
		t.Fatalf("before: the secrets are in %v, want the store and 3 backups (else the scan proves nothing)", hits)
	}

	rec, err := db.DestroyFaceData("staff:desk", victim.ID, "opted out")
	if err != nil || rec.Pending {
		t.Fatalf("DestroyFaceData = %+v, %v; want done", rec, err)
	}
	if hits := scanFiles(t, dataDir, secrets); len(hits) != 0 {
		t.Errorf("after: the destroyed face data is still in %v", hits)
	}
	if _, err := db.DeleteResident("staff:desk", mover.ID, "moved out"); err != nil {
		t.Fatal(err)
	}
	if hits := scanFiles(t, dataDir, moverSecrets); len(hits) != 0 {
		t.Errorf("after DeleteResident: the face data is still in %v", hits)
	}
	if s := strayTemps(t, dataDir); len(s) != 0 {
		t.Errorf("temporary files left: %v", s)
	}
	var details []string
	db.ForEachAudit(1, func(a AuditEntry) error { details = append(details, a.Detail); return nil })
	if all := strings.Join(details, "\n"); !strings.Contains(all, rec.ReceiptID+": destroyed on disk (file rewritten, 3 backups scrubbed)") {
		t.Errorf("no 'destroyed on disk' audit entry for %s in %q", rec.ReceiptID, details[len(details)-4:])
	}
	list, _ := ListBackups(db.opts.BackupDir)
	for _, b := range list {
		if err := Check(b.Path, kek); err != nil {
			t.Errorf("scrubbed backup %s: Check = %v", b.Path, err)
		}
		bk, err := OpenReadOnly(b.Path, kek, testOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		if has, _ := bk.HasFaceData(victim.ID); has {
			t.Errorf("backup %s: the opted-out resident has face data", b.Path)
		}
		if _, err := bk.Resident(mover.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("backup %s: the moved-out resident = %v, want ErrNotFound", b.Path, err)
		}
		if _, err := bk.LookupCard("7007"); !errors.Is(err, ErrNotFound) {
			t.Errorf("backup %s: the moved-out resident's card = %v, want ErrNotFound", b.Path, err)
		}
		if ts, err := bk.Templates(keep.ID); err != nil || len(ts) != 2 {
			t.Errorf("backup %s: Templates(stays) = %d, %v; want 2", b.Path, len(ts), err)
		}
		dels, _ := bk.Deletions()
		if len(dels) != 2 || dels[0].ReceiptID != rec.ReceiptID || dels[0].Pending {
			t.Errorf("backup %s: deletions %+v, want both receipts, none pending", b.Path, dels)
		}
		bk.Close()
	}
	// A backup taken after the destruction needs no scrub.
	if _, err := db.AutoBackup(BackupScheduled); err != nil {
		t.Fatal(err)
	}
	later, _ := addEnrolled(t, db, r, "Opts Out Too", 1)
	if _, err := db.AutoBackup(BackupScheduled); err != nil {
		t.Fatal(err)
	}
	rec2, err := db.DestroyFaceData("staff:desk", later.ID, "opted out")
	if err != nil {
		t.Fatal(err)
	}
	details = nil
	db.ForEachAudit(1, func(a AuditEntry) error { details = append(details, a.Detail); return nil })
	if all := strings.Join(details, "\n"); !strings.Contains(all, rec2.ReceiptID+": destroyed on disk (file rewritten, 5 backups scrubbed)") {
		t.Errorf("second destruction: want 5 of 5 backups scrubbed (all predate it), got %q", details[len(details)-1])
	}
}

// TestScrubDeletesUnscrubbable: a backup the destruction cannot scrub
// (damaged, or sealed with another key) may hold the data: it is deleted,
// logged and audited.
func TestScrubDeletesUnscrubbable(t *testing.T) {
	db, path, _ := newBackedUpDB(t, 7)
	dir := db.opts.BackupDir
	victim, _ := addEnrolled(t, db, newRand(45), "Opts Out", 2)
	good, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	damaged, err := db.AutoBackup(BackupScheduled)
	if err != nil {
		t.Fatal(err)
	}
	damageRootPage(t, damaged.Path)
	// A store of another device key, named like a backup.
	foreign := filepath.Join(dir, "gated-20200101T000000.000Z.db")
	other, err := Open(foreign, mustKEK(t), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	secrets := faceSecrets(t, db, victim.ID)

	var logs bytes.Buffer
	db.log = newBufferLogger(&logs)
	if _, err := db.DestroyFaceData("staff:desk", victim.ID, "opted out"); err != nil {
		t.Fatalf("DestroyFaceData = %v", err)
	}
	list, _ := ListBackups(dir)
	if len(list) != 1 || list[0].Path != good.Path {
		t.Errorf("backups after the scrub = %+v, want only the good one", list)
	}
	if hits := scanFiles(t, filepath.Dir(path), secrets); len(hits) != 0 {
		t.Errorf("face data still in %v", hits)
	}
	if n := strings.Count(logs.String(), "cannot be scrubbed"); n != 2 {
		t.Errorf("log has %d warnings about unscrubbable backups, want 2:\n%s", n, logs.String())
	}
	var deleted []string
	db.ForEachAudit(1, func(a AuditEntry) error {
		if strings.Contains(a.Detail, "cannot be scrubbed") {
			deleted = append(deleted, a.Detail)
		}
		return nil
	})
	if len(deleted) != 2 {
		t.Errorf("audit entries for deleted backups = %q, want 2", deleted)
	}
}

// TestRotateKEKRetiresBackups: after a key rotation the backups under the
// old key are replaced by a fresh one under the new key.
func TestRotateKEKRetiresBackups(t *testing.T) {
	db, _, _ := newBackedUpDB(t, 7)
	dir := db.opts.BackupDir
	addEnrolled(t, db, newRand(46), "Resident", 1)
	for range 2 {
		if _, err := db.AutoBackup(BackupScheduled); err != nil {
			t.Fatal(err)
		}
	}
	newKEK := mustKEK(t)
	if err := db.RotateKEK("staff:admin", newKEK); err != nil {
		t.Fatal(err)
	}
	list, _ := ListBackups(dir)
	if len(list) != 1 {
		t.Fatalf("%d backups after rotation, want the fresh one only", len(list))
	}
	if err := Check(list[0].Path, newKEK); err != nil {
		t.Errorf("the fresh backup under the new key: Check = %v", err)
	}
}

// damageRootPage inverts 8 bytes of the root bucket's page (always live)
// at +20, as the sweep does.
func damageRootPage(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	m, err := (&pageWalker{r: f, size: fi.Size()}).pickMeta()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	flipCopy(t, path, path, int64(m.root)*int64(m.pageSize)+20)
}
