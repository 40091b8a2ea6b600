package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/store"
)

// TestRotationNote: no note loads nothing; a note names the new key and
// loads it; a second rotation is refused while the note stands; Remove
// ends it (and is fine without one).
func TestRotationNote(t *testing.T) {
	dir := t.TempDir()
	n := store.NewRotationNote(dir)
	if p, _, err := n.Load(); p != "" || err != nil {
		t.Fatalf("no note: %q, %v", p, err)
	}
	keyPath := filepath.Join(dir, "kek.new")
	want, err := store.GenerateKEKFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Begin(keyPath); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, store.RotationNoteFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("note: %v, %v; want mode 0600", fi, err)
	}
	p, k, err := n.Load()
	if p != keyPath || err != nil || k.Fingerprint() != want.Fingerprint() {
		t.Fatalf("Load = %q, %s, %v; want %q, %s", p, k.Fingerprint(), err, keyPath, want.Fingerprint())
	}
	if err := n.Begin(keyPath); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Errorf("a second rotation while the note stands: %v", err)
	}
	if err := n.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := n.Remove(); err != nil {
		t.Errorf("Remove without a note: %v", err)
	}
	if p, _, _ := n.Load(); p != "" {
		t.Errorf("a removed note still names %q", p)
	}
}
