package camera_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/recognizer/camera"
)

// TestFolderPairs: in a folder standing in for a colour+NIR pair, x.jpg
// comes with x.nir.jpg as its NIR frame of the same moment (repeats
// included), a colour photo without its partner has none (the check fails
// closed), and the partners are never colour frames themselves.
func TestFolderPairs(t *testing.T) {
	dir := photoDir(t, map[string]string{"a.jpg": "bona.jpg", "a.nir.jpg": "bona2.jpg", "b.jpg": "chaeyeon.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{NIR: dir, Repeat: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []struct {
		name string
		nir  bool
	}{{"a.jpg", true}, {"a.jpg", true}, {"b.jpg", false}, {"b.jpg", false}}
	for i, w := range want {
		fr, err := read(t, f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if fr.Name != w.name || (fr.NIR != nil) != w.nir {
			t.Errorf("frame %d = %s with NIR %v, want %s with NIR %v", i, fr.Name, fr.NIR != nil, w.name, w.nir)
		}
		if fr.NIR != nil && (fr.NIR.Mat.Empty() || !fr.NIR.Time.Equal(fr.Time)) {
			t.Errorf("frame %d: NIR partner empty or of another time (%v, colour %v)", i, fr.NIR.Time, fr.Time)
		}
		fr.Close()
	}
	if _, err := read(t, f); !errors.Is(err, io.EOF) {
		t.Errorf("after the pairs: %v, want io.EOF (a.nir.jpg is no colour frame)", err)
	}
}

func TestSkew(t *testing.T) {
	a := time.Unix(100, 0)
	if got := camera.Skew(a, a.Add(-30*time.Millisecond)); got != 30*time.Millisecond {
		t.Errorf("Skew = %v, want 30ms", got)
	}
	if got := camera.Skew(a, a.Add(50*time.Millisecond)); got != 50*time.Millisecond {
		t.Errorf("Skew = %v, want 50ms", got)
	}
}
