package bundle

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// What someone else can leave in an inbox or a collect folder: a link to
// a secret file, a FIFO (os.Open would block on it), an oversized file.
// ReadFile refuses each at once; a real bundle file reads.
func TestReadFileHostile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "gated.db")
	os.WriteFile(secret, []byte("the store"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link.gbundle"))
	syscall.Mkfifo(filepath.Join(dir, "fifo.gevents"), 0o640)
	big, _ := os.Create(filepath.Join(dir, "big.gbundle"))
	big.Truncate(MaxFile + 1)
	big.Close()
	good := filepath.Join(dir, "records-1.gbundle")
	os.WriteFile(good, []byte("GATEDBN1..."), 0o640)
	for _, name := range []string{"link.gbundle", "fifo.gevents", "big.gbundle", "missing.gbundle"} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(filepath.Join(dir, name)); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("ReadFile(%s) = nil error, want a refusal", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadFile(%s) blocked", name)
		}
	}
	if b, err := ReadFile(good); err != nil || string(b) != "GATEDBN1..." {
		t.Fatalf("ReadFile(good) = %q, %v", b, err)
	}
}
