//go:build linux

package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size (e.g. "2m") on a new
// directory and unmounts it at cleanup: a disk that fills up for real.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s on %s: %v: this test fills a small disk; it needs root or CAP_SYS_ADMIN", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file until the disk is full, then gives back about
// leave bytes.
func fillDisk(t *testing.T, path string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(n-leave, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestDestroyOnFullDisk replays an opt-out on a full disk: the rewrite
// cannot finish, so the destruction is reported pending (not destroyed),
// listed, and finished by FinishPending once there is room; only then does
// the raw scan of every file find nothing.
func TestDestroyOnFullDisk(t *testing.T) {
	dataDir := mountTmpfs(t, "2m")
	path := filepath.Join(dataDir, "gated.db")
	kek := mustKEK(t)
	opts := testOptions(t)
	opts.BackupDir = filepath.Join(dataDir, "backups")
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := newRand(91)
	victim, _ := addEnrolled(t, db, r, "Opts Out", 3)
	for range 70 {
		addEnrolled(t, db, r, "Neighbour", 3)
	}
	if _, err := db.AutoBackup(BackupScheduled); err != nil {
		t.Fatal(err)
	}
	secrets := faceSecrets(t, db, victim.ID)
	filler := filepath.Join(dataDir, "filler")
	fillDisk(t, filler, 96<<10)
	if size := fileSize(path); size < 300<<10 {
		t.Fatalf("store is %d bytes: too small for the room left to matter", size)
	}

	rec, err := db.DestroyFaceData("staff:desk", victim.ID, "opted out")
	if !errors.Is(err, ErrPending) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("DestroyFaceData on a full disk = %v, want ErrPending and ENOSPC", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, "retried") || !strings.Contains(msg, rec.ReceiptID) {
		t.Errorf("error %q, want the cause, the receipt and that it is retried", msg)
	}
	if !rec.Pending || rec.ReceiptID == "" || rec.Templates != 3 {
		t.Errorf("DeletionRecord = %+v, want pending, with receipt and 3 templates", rec)
	}
	ps, err := db.PendingDestructions()
	if err != nil || len(ps) != 1 || ps[0].ReceiptID != rec.ReceiptID || ps[0].ResidentID != victim.ID {
		t.Fatalf("PendingDestructions = %+v, %v; want the receipt", ps, err)
	}
	if ps[0].Attempts != 1 || !strings.Contains(ps[0].LastError, "no space left on device") {
		t.Errorf("pending record = %+v, want 1 attempt and the cause", ps[0])
	}
	if s, _ := db.Stats(); s.PendingDestructions != 1 || !s.Deletions[len(s.Deletions)-1].Pending {
		t.Errorf("Stats = %d pending, last deletion %+v; want 1, pending", s.PendingDestructions, s.Deletions[len(s.Deletions)-1])
	}
	if has, _ := db.HasFaceData(victim.ID); has {
		t.Error("the resident still has face data in the store")
	}
	// Honestly pending: the bytes are still on disk, in the backup, and
	// usually in the store's free pages (not always: the write that
	// counts the failed attempt may reuse those pages, about one run in
	// 40).
	hits := scanFiles(t, dataDir, secrets)
	if backup := "backups/" + filepath.Base(mustNewest(t, opts.BackupDir)); !slices.Contains(hits, backup) || len(hits) > 2 ||
		len(hits) == 2 && hits[1] != "gated.db" {
		t.Errorf("before completion the secrets are in %v, want %s, perhaps gated.db (else the scan proves nothing)", hits, backup)
	}
	if s := strayTemps(t, dataDir); len(s) != 0 {
		t.Errorf("the failed rewrite left %v", s)
	}
	// Still full: a retry fails the same way and counts.
	if n, err := db.FinishPending(); n != 0 || !errors.Is(err, ErrPending) {
		t.Errorf("FinishPending on a full disk = %d, %v; want 0, ErrPending", n, err)
	}

	os.Remove(filler)
	n, err := db.FinishPending()
	if err != nil || n != 1 {
		t.Fatalf("FinishPending after freeing space = %d, %v; want 1", n, err)
	}
	if hits := scanFiles(t, dataDir, secrets); len(hits) != 0 {
		t.Errorf("after completion the destroyed face data is still in %v", hits)
	}
	if ps, _ := db.PendingDestructions(); len(ps) != 0 {
		t.Errorf("PendingDestructions after completion = %+v", ps)
	}
	if dels, _ := db.Deletions(); dels[len(dels)-1].Pending {
		t.Error("deletion still marked pending")
	}
	if n, err := db.FinishPending(); n != 0 || err != nil {
		t.Errorf("FinishPending with nothing pending = %d, %v; want 0, nil", n, err)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}
	if err := Check(mustNewest(t, opts.BackupDir), kek); err != nil {
		t.Errorf("scrubbed backup: %v", err)
	}
}

func mustNewest(t *testing.T, dir string) string {
	t.Helper()
	list, err := ListBackups(dir)
	if err != nil || len(list) == 0 {
		t.Fatalf("ListBackups(%s) = %v, %v", dir, list, err)
	}
	return list[0].Path
}

// TestDestroyKilled kills the process (SIGKILL, a real child) at each step
// of a destruction: right after the deletion commits, in the middle of the
// store's rewrite (copied, not yet renamed), and in the middle of a
// backup's scrub. After each: reopen, FinishPending, and the raw scan
// finds nothing, no temporary file is left, every audit chain verifies.
func TestDestroyKilled(t *testing.T) {
	for _, step := range []struct {
		name string
		temp string // a temporary file that must exist at the kill
	}{
		{"committed", ""},
		{"compacting", ".gated.db.compact-"},
		{"scrubbing", "backups/.gated-"},
	} {
		t.Run(step.name, func(t *testing.T) {
			dataDir := t.TempDir()
			path := filepath.Join(dataDir, "gated.db")
			key := randomBytes(KEKSize)
			kek, _ := NewKEK(key)
			opts := testOptions(t)
			opts.BackupDir = filepath.Join(dataDir, "backups")
			db, err := Open(path, kek, opts)
			if err != nil {
				t.Fatal(err)
			}
			r := newRand(92)
			victim, _ := addEnrolled(t, db, r, "Opts Out", 3)
			for range 10 {
				addEnrolled(t, db, r, "Neighbour", 2)
			}
			for range 2 {
				if _, err := db.AutoBackup(BackupScheduled); err != nil {
					t.Fatal(err)
				}
			}
			secrets := faceSecrets(t, db, victim.ID)
			db.Close()

			cmd, stdin, out := startHelperEnv(t, "destroy", path, key, helperBackupEnv+"="+opts.BackupDir,
				helperStepEnv+"="+step.name, helperResidentEnv+"="+victim.ID)
			line, err := out.ReadString('\n')
			if err != nil || line != "at "+step.name+"\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper said %q, %v; want it to stop at %s", line, err, step.name)
			}
			if step.temp != "" {
				found := false
				for _, s := range strayTemps(t, dataDir) {
					rel, _ := filepath.Rel(dataDir, s)
					found = found || strings.HasPrefix(rel, step.temp)
				}
				if !found {
					t.Errorf("at %s: no %s* file exists; the kill does not hit the step", step.name, step.temp)
				}
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			stdin.Close()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("helper ended with %v, want killed", cmd.ProcessState)
			}
			if hits := scanFiles(t, dataDir, secrets); len(hits) == 0 {
				t.Fatal("after the kill no file holds the secrets: the test would prove nothing")
			}

			db, err = Open(path, kek, opts)
			if err != nil {
				t.Fatalf("Open after SIGKILL at %s = %v", step.name, err)
			}
			defer db.Close()
			if s := strayTemps(t, dataDir); len(s) != 0 {
				t.Errorf("Open left temporary files: %v", s)
			}
			ps, _ := db.PendingDestructions()
			if len(ps) != 1 || ps[0].ResidentID != victim.ID {
				t.Fatalf("PendingDestructions after the kill = %+v, want the victim's", ps)
			}
			if n, err := db.FinishPending(); n != 1 || err != nil {
				t.Fatalf("FinishPending = %d, %v; want 1, nil", n, err)
			}
			if hits := scanFiles(t, dataDir, secrets); len(hits) != 0 {
				t.Errorf("after FinishPending the destroyed face data is still in %v", hits)
			}
			if s := strayTemps(t, dataDir); len(s) != 0 {
				t.Errorf("temporary files left: %v", s)
			}
			if _, err := db.VerifyAudit(); err != nil {
				t.Errorf("store audit chain: %v", err)
			}
			list, _ := ListBackups(opts.BackupDir)
			if len(list) != 2 {
				t.Errorf("%d backups, want 2 (scrubbed, not lost)", len(list))
			}
			for _, b := range list {
				if err := Check(b.Path, kek); err != nil {
					t.Errorf("backup %s: %v", b.Path, err)
				}
			}
		})
	}
}
