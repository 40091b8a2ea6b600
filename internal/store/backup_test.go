package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBackupRestore(t *testing.T) {
	db, path, kek := newTestDB(t)
	r := newRand(51)
	keep, _ := addEnrolled(t, db, r, "Keep", 2)
	gone, _ := addEnrolled(t, db, r, "Opts Out Later", 3)
	moved, _ := addEnrolled(t, db, r, "Moves Out Later", 1)

	backupPath := filepath.Join(filepath.Dir(path), "backup.db")
	f, err := os.OpenFile(backupPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup("staff:admin", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	goneWrapped, goneSealed := secretsOf(t, db, gone.ID)
	if raw := readFile(t, backupPath); !bytes.Contains(raw, goneSealed[0]) {
		t.Fatal("backup does not hold the sealed template (test is broken)")
	}

	// After the backup: one resident opts out, one moves out, one is added.
	recGone, err := db.DestroyFaceData("staff:desk", gone.ID, "opted out")
	if err != nil {
		t.Fatal(err)
	}
	recMoved, err := db.DeleteResident("staff:desk", moved.ID, "moved out")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddResident("staff:desk", Resident{Name: "Added Later"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	t.Run("refused backups change nothing", func(t *testing.T) {
		good := readFile(t, backupPath)
		for _, tt := range []struct {
			name    string
			content []byte
			key     KEK
			want    error
		}{
			{"wrong key", good, mustKEK(t), ErrWrongKey},
			{"truncated", good[:len(good)/2], kek, ErrCorrupt},
			{"not a store", []byte("{}"), kek, ErrNotStore},
		} {
			t.Run(tt.name, func(t *testing.T) {
				bad := filepath.Join(t.TempDir(), "bad.db")
				writeTestFile(t, bad, tt.content)
				before := readFile(t, path)
				entries, _ := os.ReadDir(filepath.Dir(path))
				if _, err := Restore(path, bad, tt.key, testOptions(t)); !errors.Is(err, tt.want) {
					t.Errorf("Restore = %v, want %v", err, tt.want)
				}
				if !bytes.Equal(readFile(t, path), before) {
					t.Error("refused restore changed the store")
				}
				if after, _ := os.ReadDir(filepath.Dir(path)); len(after) != len(entries) {
					t.Errorf("refused restore left files: %d entries, had %d", len(after), len(entries))
				}
			})
		}
	})

	rep, err := Restore(path, backupPath, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Restore = %v", err)
	}
	if len(rep.Reapplied) != 2 || len(rep.Warnings) != 0 || rep.AuditExport == "" {
		t.Errorf("RestoreReport = %+v, want 2 re-applied deletions, no warnings, an audit export", rep)
	}
	if fi, err := os.Stat(rep.AuditExport); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit export %s: %v, want a 0600 file", rep.AuditExport, err)
	} else if b := readFile(t, rep.AuditExport); !strings.Contains(string(b), recGone.ReceiptID) {
		t.Error("audit export lacks the replaced store's deletion entry")
	}
	raw := readFile(t, path)
	if bytes.Contains(raw, goneWrapped) || bytes.Contains(raw, goneSealed[0]) {
		t.Error("restore brought back destroyed face data")
	}

	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ts, err := db.Templates(keep.ID); err != nil || len(ts) != 2 {
		t.Errorf("restored Templates(keep) = %d, %v; want 2", len(ts), err)
	}
	if has, _ := db.HasFaceData(gone.ID); has {
		t.Error("opted-out resident has face data after restore")
	}
	if _, err := db.Resident(moved.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("moved-out resident after restore = %v, want ErrNotFound", err)
	}
	dels, _ := db.Deletions()
	receipts := map[string]bool{}
	for _, d := range dels {
		receipts[d.ReceiptID] = true
	}
	if !receipts[recGone.ReceiptID] || !receipts[recMoved.ReceiptID] {
		t.Errorf("restored deletions = %+v, want the original receipts kept", dels)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}
	var details []string
	db.ForEachAudit(1, func(a AuditEntry) error { details = append(details, a.Detail); return nil })
	if !strings.Contains(strings.Join(details, "\n"), "restored from backup backup.db") {
		t.Errorf("no restore entry in the audit log: %q", details[len(details)-3:])
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 3 {
		t.Errorf("directory has %d entries, want store, backup and audit export", len(entries))
	}
}

func TestRestoreIntoEmptyPlace(t *testing.T) {
	db, path, kek := newTestDB(t)
	res, _ := addEnrolled(t, db, newRand(52), "Only", 1)
	var buf bytes.Buffer
	if _, err := db.Backup("staff:admin", &buf); err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	writeTestFile(t, backup, buf.Bytes())
	target := filepath.Join(t.TempDir(), "new.db")
	rep, err := Restore(target, backup, kek, testOptions(t))
	if err != nil || len(rep.Warnings) != 0 || rep.AuditExport != "" {
		t.Fatalf("Restore to a new place = %+v, %v", rep, err)
	}
	db2, err := Open(target, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if ts, err := db2.Templates(res.ID); err != nil || len(ts) != 1 {
		t.Errorf("restored templates = %d, %v", len(ts), err)
	}
	_ = path
}

// TestRestoreOverDamagedStore replaces a store that no longer opens: the
// restore goes ahead and warns that deletions could not be re-applied.
func TestRestoreOverDamagedStore(t *testing.T) {
	db, path, kek := newTestDB(t)
	var buf bytes.Buffer
	if _, err := db.Backup("staff:admin", &buf); err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	writeTestFile(t, backup, buf.Bytes())
	writeTestFile(t, path, []byte("garbage"))
	rep, err := Restore(path, backup, kek, testOptions(t))
	if err != nil || len(rep.Warnings) != 1 {
		t.Fatalf("Restore over garbage = %+v, %v; want success with one warning", rep, err)
	}
	db2, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
}

// TestRestoreKeepsPendingDestructions: a destruction still pending in the
// store being replaced (its backups not yet scrubbed) stays pending in the
// restored store, which re-applies it, so FinishPending completes it.
func TestRestoreKeepsPendingDestructions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.db")
	kek := mustKEK(t)
	opts := testOptions(t)
	// A backup "directory" that is a file: the scrub fails, the
	// destruction stays pending.
	opts.BackupDir = filepath.Join(dir, "not-a-dir")
	writeTestFile(t, opts.BackupDir, nil)
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	victim, _ := addEnrolled(t, db, newRand(53), "Opts Out", 2)
	var buf bytes.Buffer
	if _, err := db.Backup("staff:admin", &buf); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	writeTestFile(t, backup, buf.Bytes())
	rec, err := db.DestroyFaceData("staff:desk", victim.ID, "opted out")
	if !errors.Is(err, ErrPending) || !rec.Pending {
		t.Fatalf("DestroyFaceData with an unusable backup dir = %+v, %v; want pending", rec, err)
	}
	db.Close()

	rep, err := Restore(path, backup, kek, testOptions(t))
	if err != nil || len(rep.Reapplied) != 1 {
		t.Fatalf("Restore = %+v, %v; want the deletion re-applied", rep, err)
	}
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if has, _ := db.HasFaceData(victim.ID); has {
		t.Error("restore brought back destroyed face data")
	}
	ps, err := db.PendingDestructions()
	if err != nil || len(ps) != 1 || ps[0].ReceiptID != rec.ReceiptID {
		t.Fatalf("PendingDestructions after restore = %+v, %v; want %s kept", ps, err, rec.ReceiptID)
	}
	if n, err := db.FinishPending(); n != 1 || err != nil {
		t.Errorf("FinishPending = %d, %v", n, err)
	}
}

// limitedWriter accepts max bytes, then fails.
type limitedWriter struct {
	buf bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	room := w.max - w.buf.Len()
	if len(p) <= room {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:room])
	return room, errors.New("disk full")
}

// TestBackupWritesNothingOnError replays red-team finding F14: `gated
// backup --out` while the store is read-only (served from a backup) wrote
// a 0-byte file and exited 0. The store's part: Backup on a read-only or
// closed store fails before writing a byte (n == 0), so the caller can
// still answer with an error; and when w fails mid-copy, n says how much
// w took.
func TestBackupWritesNothingOnError(t *testing.T) {
	db, path, kek := newTestDB(t)
	addEnrolled(t, db, newRand(41), "Backed", 2)
	db.Close()
	before := readFile(t, path)

	ro, err := OpenReadOnly(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := ro.Backup("staff:admin", &out)
	if !errors.Is(err, ErrReadOnly) || n != 0 || out.Len() != 0 {
		t.Errorf("Backup on a read-only store = %d, %v, and %d bytes written; want 0, ErrReadOnly, 0 bytes", n, err, out.Len())
	}
	ro.Close()
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("Backup on a read-only store changed the file")
	}

	rw, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	lw := &limitedWriter{max: 4096 + 100}
	n, err = rw.Backup("staff:admin", lw)
	if err == nil || n != int64(lw.buf.Len()) || n != int64(lw.max) {
		t.Errorf("Backup into a writer that fails after %d bytes = %d, %v; want an error and n = %d", lw.max, n, err, lw.max)
	}
	rw.Close()
	out.Reset()
	if n, err := rw.Backup("staff:admin", &out); !errors.Is(err, ErrClosed) || n != 0 || out.Len() != 0 {
		t.Errorf("Backup on a closed store = %d, %v, and %d bytes written; want 0, ErrClosed, 0 bytes", n, err, out.Len())
	}
}
