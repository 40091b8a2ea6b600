package upkeep_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/internal/upkeep"
)

type alarms struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *alarms) set(kind, sentence string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sentence == "" {
		delete(a.m, kind)
		return
	}
	a.m[kind] = sentence
}

func (a *alarms) get(kind string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[kind]
}

func open(t *testing.T, backupDir string) (*store.DB, *faces.Set) {
	t.Helper()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{BackupDir: backupDir, BackupKeep: 3, ChangeBackupKeep: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs, err := faces.Open(faces.Config{Model: "test", Dim: 128, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, db)
	if err != nil {
		t.Fatal(err)
	}
	return db, fs
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A scheduled backup at start, one backup for a burst of changes once it
// settles, and the one still waiting taken before Run returns.
func TestBackups(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	db, fs := open(t, dir)
	al := &alarms{m: map[string]string{"backup": "stale"}}
	changed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- upkeep.Run(ctx, upkeep.Config{RetryEvery: time.Hour, BackupEvery: 24 * time.Hour, BackupAfterChange: 100 * time.Millisecond,
			DataDir: "/data", Changed: changed, Alarm: al.set, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, db, fs)
	}()
	count := func(kind store.BackupKind) int {
		bs, _ := store.ListBackups(dir)
		n := 0
		for _, b := range bs {
			if b.Kind == kind {
				n++
			}
		}
		return n
	}
	waitFor(t, "the scheduled backup at start", func() bool { return count(store.BackupScheduled) == 1 })
	waitFor(t, "the backup alarm cleared", func() bool { return al.get("backup") == "" })
	for range 3 { // a burst of changes
		select {
		case changed <- struct{}{}:
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "one backup after the changes settled", func() bool { return count(store.BackupAfterChange) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := count(store.BackupAfterChange); n != 1 {
		t.Fatalf("a burst of 3 changes took %d backups, want 1", n)
	}
	changed <- struct{}{}
	cancel() // before the change settled: backed up on the way out
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(store.BackupAfterChange); n != 2 {
		t.Fatalf("after a change waiting at stop: %d after-change backups, want 2", n)
	}
	if count(store.BackupScheduled) != 1 {
		t.Errorf("a second scheduled backup within the interval")
	}
}

// A backup that cannot be written raises the alarm, with the reason.
func TestBackupFailureAlarm(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, fs := open(t, filepath.Join(blocker, "backups"))
	al := &alarms{m: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- upkeep.Run(ctx, upkeep.Config{RetryEvery: time.Hour, BackupEvery: time.Hour, BackupAfterChange: time.Second,
			DataDir: "/data", Alarm: al.set, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, db, fs)
	}()
	waitFor(t, "the backup alarm", func() bool { return al.get("backup") != "" })
	cancel()
	<-done
	if a := al.get("backup"); !strings.HasPrefix(a, "the automatic backup failed: ") {
		t.Fatalf("backup alarm = %q", a)
	}
	if al.get("pending") != "" || al.get("rotation") != "" {
		t.Errorf("alarms raised with nothing pending: %v", al.m)
	}
}
