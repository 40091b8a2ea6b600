package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// auditValue returns the stored bytes of audit entry seq.
func auditValue(t *testing.T, db *DB, seq uint64) []byte {
	t.Helper()
	var v []byte
	db.bolt.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketAudit).Get(be64(seq)))
		return nil
	})
	if v == nil {
		t.Fatalf("no audit entry %d", seq)
	}
	return v
}

// damageAuditEntry flips mask at byte off of entry seq (negative: from
// the end) in the live store, as a bad sector would.
func damageAuditEntry(t *testing.T, db *DB, seq uint64, off int, mask byte) {
	t.Helper()
	v := auditValue(t, db, seq)
	if off < 0 {
		off += len(v)
	}
	v[off] ^= mask
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Put(be64(seq), v) }); err != nil {
		t.Fatal(err)
	}
}

// TestAutoBackupAuditDamage replays red team round 2: one old audit entry
// rotted in a store that still opens (Open checks the head and the last
// entry), and every automatic backup failed its full verification (the
// whole chain) and was deleted: no backups ever again, and an alarm that
// named no fix. A backup now is checked against the store's own damage:
// the same broken entries are a faithful copy, taken, and reported with
// where and what to do; the backup restores (with a warning) and the
// export goes past the damage. A copy damaged anywhere else is refused.
func TestAutoBackupAuditDamage(t *testing.T) {
	db, path, kek := newBackedUpDB(t, 7)
	dir := db.opts.BackupDir
	for i := range 50 {
		if _, err := db.AddResident("staff:a", Resident{Name: fmt.Sprint("R", i), Unit: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	victim, _ := addEnrolled(t, db, newRand(47), "Opts Out", 2)
	if _, err := db.AutoBackup(BackupScheduled); err != nil {
		t.Fatal(err)
	}
	damageAuditEntry(t, db, 3, 0, 0x10)   // the format version: it does not decode
	damageAuditEntry(t, db, 10, -1, 0x01) // the stored hash: entry 10 and the link of 11
	db.Close()
	db, err := Open(path, kek, db.opts)
	if err != nil {
		t.Fatalf("Open with old audit entries damaged = %v, want it to open (the head and last entry verify)", err)
	}
	defer db.Close()
	if r, err := db.VerifyAudit(); !errors.Is(err, ErrAuditBroken) || r.FirstBad != 3 {
		t.Fatalf("VerifyAudit = %+v, %v; want broken at 3", r, err)
	}

	var infos []BackupInfo
	for i := range 3 {
		if _, err := db.AddResident("staff:a", Resident{Name: fmt.Sprint("New", i), Unit: "2"}); err != nil {
			t.Fatal(err)
		}
		info, err := db.AutoBackup(BackupAfterChange)
		if err != nil {
			t.Fatalf("AutoBackup %d with the store's audit log damaged = %v, want the backup taken", i, err)
		}
		d := info.AuditDamage
		if d == nil || d.First.Seq != 3 || d.Count != 3 || !errors.Is(d, ErrAuditBroken) {
			t.Fatalf("AutoBackup AuditDamage = %+v, want entry 3 first, 3 entries, wrapping ErrAuditBroken", d)
		}
		for _, s := range []string{"damaged at entry 3", "and 2 other entries", "gated audit verify", "gated audit export", "cannot be repaired"} {
			if !strings.Contains(d.Error(), s) {
				t.Errorf("AuditDamage says %q, want %q in it", d.Error(), s)
			}
		}
		infos = append(infos, info)
	}
	if list, _ := ListBackups(dir); len(list) != 4 {
		t.Errorf("%d backups, want the one before the damage and 3 after", len(list))
	}
	bk, newest, err := OpenNewestBackup(dir, kek, testOptions(t))
	if err != nil || newest.Path != infos[2].Path {
		t.Fatalf("OpenNewestBackup = %+v, %v; want the last one", newest, err)
	}
	bk.Close()

	// The export goes past the damaged entries.
	var out bytes.Buffer
	if err := db.ExportAudit(&out, 1); err != nil {
		t.Fatalf("ExportAudit of a damaged log = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	s, _ := db.Stats()
	if uint64(len(lines)) != s.AuditEntries {
		t.Errorf("ExportAudit wrote %d lines, want %d, one per entry", len(lines), s.AuditEntries)
	}
	var third struct {
		Seq     uint64
		Damaged string
		Raw     string
	}
	if err := json.Unmarshal([]byte(lines[2]), &third); err != nil || third.Seq != 3 || !strings.Contains(third.Damaged, "does not decode") || third.Raw == "" {
		t.Errorf("export line 3 = %s (%v), want the damaged entry with why and its bytes", lines[2], err)
	}

	// The newest backup stages and restores, with a warning.
	restored := filepath.Join(t.TempDir(), "gated.db")
	if _, err := StageAutoBackup(restored, dir, "newest", kek); err != nil {
		t.Fatalf("StageAutoBackup(newest) = %v", err)
	}
	rep, done, err := ApplyStaged(restored, testOptions(t), kek)
	if err != nil || !done {
		t.Fatalf("ApplyStaged = %v, %v", done, err)
	}
	if w := strings.Join(rep.Warnings, "; "); !strings.Contains(w, "audit log is damaged at entry 3") {
		t.Errorf("Restore warnings = %q, want the damaged entry named", w)
	}

	// A destruction scrubs the backups that hold the damaged entries; it
	// does not delete them as unscrubbable.
	if _, err := db.DestroyFaceData("staff:desk", victim.ID, "opted out"); err != nil {
		t.Fatalf("DestroyFaceData with the audit log damaged = %v", err)
	}
	if list, _ := ListBackups(dir); len(list) != 4 {
		t.Errorf("%d backups after a destruction, want all 4 scrubbed, none deleted", len(list))
	}

	// A copy damaged on its way to the disk is refused and deleted: an
	// audit entry the store has whole, or any other record.
	for _, tt := range []struct {
		name   string
		find   []byte
		off    int
		want   error
		saying string
	}{
		{"audit entry 20", auditValue(t, db, 20), 45, ErrAuditBroken, "at entry 20"},
		{"device secret", func() []byte {
			var v []byte
			db.bolt.View(func(tx *bolt.Tx) error { v = bytes.Clone(tx.Bucket(bucketMeta).Get(metaDeviceSecret)); return nil })
			return v
		}(), 20, ErrCorrupt, "device secret"},
	} {
		before, _ := ListBackups(dir)
		db.afterBackupWrite = func(p string) { flipInFile(t, p, tt.find, tt.off, 0x04) }
		_, err := db.AutoBackup(BackupScheduled)
		db.afterBackupWrite = nil
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.saying) || !strings.Contains(err.Error(), "deleted") {
			t.Errorf("AutoBackup with the copy's %s damaged = %v, want %v saying %q, deleted", tt.name, err, tt.want, tt.saying)
		}
		if after, _ := ListBackups(dir); len(after) != len(before) {
			t.Errorf("copy's %s damaged: %d backups, want %d (the damaged one deleted)", tt.name, len(after), len(before))
		}
	}
	if s := strayTemps(t, dir); len(s) != 0 {
		t.Errorf("temporary files left: %v", s)
	}
}
