package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteQR: the QR code's PNG is 0600 also where a file of another mode
// stood (os.WriteFile kept the old mode: a pass readable by everyone on the
// machine), a symbolic link at the path is refused and the file it points
// to left alone, and a directory is refused.
func TestWriteQR(t *testing.T) {
	dir := t.TempDir()
	img := []byte("\x89PNG new")

	fresh := filepath.Join(dir, "fresh.png")
	if err := writeQR(fresh, img); err != nil {
		t.Fatalf("writeQR(new file) = %v", err)
	}
	old := filepath.Join(dir, "old.png")
	if err := os.WriteFile(old, []byte("old pass"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := writeQR(old, img); err != nil {
		t.Fatalf("writeQR(existing 0644 file) = %v", err)
	}
	for _, f := range []string{fresh, old} {
		fi, err := os.Lstat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o600 {
			t.Errorf("mode of %s = %v, want -rw------- (0600)", filepath.Base(f), fi.Mode())
		}
		if b, _ := os.ReadFile(f); !bytes.Equal(b, img) {
			t.Errorf("%s holds %q, want %q", filepath.Base(f), b, img)
		}
	}

	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("someone's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.png")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := writeQR(link, img); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("writeQR(symlink) = %v, want refused as a symbolic link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "someone's file" {
		t.Errorf("the link's target holds %q after writeQR, want it untouched", b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat(link) = %v, %v; want the link left in place", fi, err)
	}

	sub := filepath.Join(dir, "sub.png")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeQR(sub, img); err == nil {
		t.Error("writeQR(a directory) = nil, want an error")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
