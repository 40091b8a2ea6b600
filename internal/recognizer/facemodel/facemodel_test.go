package facemodel_test

import (
	"cmp"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// TestOpenEachModel opens every gate model of the registry on the real
// files and checks that its descriptors are what the registry says: Dim
// components, unit length exactly when Unit.
func TestOpenEachModel(t *testing.T) {
	dir := testenv.Models(t)
	dlibSHA := models.Sums()[models.DlibResNet]
	tests := []struct {
		c          facemodel.Config
		model      string
		sameAsDlib bool
	}{
		{facemodel.Config{Dir: dir}, recognizer.Model, true},
		{facemodel.Config{Name: facemodel.FeatureNet, Dir: dir}, facemodel.FeatureNet, false},
		// dlib's own network installed as a user-supplied one: the same
		// descriptors, under a model name of its own.
		{facemodel.Config{Name: facemodel.DlibCustom, Dir: dir, CustomSHA256: strings.ToUpper(dlibSHA),
			CustomPath: filepath.Join(dir, filepath.FromSlash(models.DlibResNet))}, "dlib-custom-" + dlibSHA[:12], true},
	}
	var opened []string
	var ref []float32
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			name := cmp.Or(tt.c.Name, facemodel.Dlib)
			opened = append(opened, name)
			reg, _ := models.LookupFaceModel(name)
			s, err := facemodel.Open(tt.c)
			if err != nil {
				t.Fatalf("Open(%+v) = %v (make setup fetches every model)", tt.c, err)
			}
			defer s.Close()
			if s.Model != tt.model || s.Dim != reg.Dim || s.Unit != reg.Unit {
				t.Errorf("Open = Model %q Dim %d Unit %v, want %q and the registry's %d %v", s.Model, s.Dim, s.Unit, tt.model, reg.Dim, reg.Unit)
			}
			faces, err := s.FacesInImage(testenv.Photo(t, "tzuyu.jpg"))
			if err != nil || len(faces) != 1 || len(faces[0].Descriptor) != reg.Dim {
				t.Fatalf("FacesInImage = %d faces, %v; want 1 face of %d components", len(faces), err, reg.Dim)
			}
			if n := norm(faces[0].Descriptor); (math.Abs(n-1) < 1e-3) != reg.Unit {
				t.Errorf("|descriptor| = %.4f, registry says unit length %v", n, reg.Unit)
			}
			if tt.sameAsDlib {
				if ref == nil {
					ref = faces[0].Descriptor
				} else if d := match.Distance(ref, faces[0].Descriptor); d > 1e-6 {
					t.Errorf("descriptor differs from dlib's by %v, want the same network's", d)
				}
			}
		})
	}
	if !slices.Equal(opened, facemodel.Names()) {
		t.Errorf("opened %v, want every gate model of the registry %v", opened, facemodel.Names())
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestOpenAcceptsExactlyGateModels: Names() are the registry's gate models,
// and Open refuses every research model and unknown name, saying why,
// before touching a file.
func TestOpenAcceptsExactlyGateModels(t *testing.T) {
	if got, want := facemodel.Names(), models.FaceModelNames(models.Gate); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want the registry's gate models %v", got, want)
	}
	empty := t.TempDir()
	for _, name := range append(models.FaceModelNames(models.Research), "arcface-r100", "dlib", "featurenet") {
		_, err := facemodel.Open(facemodel.Config{Name: name, Dir: empty})
		if err == nil || errors.Is(err, models.ErrMissing) || !strings.Contains(err.Error(), facemodel.Dlib) {
			t.Errorf("Open(%q) = %v, want a refusal listing the gate's models", name, err)
		}
		m, known := models.LookupFaceModel(name)
		if known && m.Use == models.Research && !strings.Contains(err.Error(), "research only") {
			t.Errorf("Open(%q) = %v, want it called research only", name, err)
		}
	}
}

// TestOpenNeedsExactlyTheRegistryFiles: each gate model opens from a
// directory holding only the files the registry lists for it (and the
// user's file), and names the missing one when any of them is taken away.
func TestOpenNeedsExactlyTheRegistryFiles(t *testing.T) {
	src := testenv.Models(t)
	dlibSHA := models.Sums()[models.DlibResNet]
	for _, name := range facemodel.Names() {
		m, _ := models.LookupFaceModel(name)
		files := m.Files
		if m.UserFile != "" {
			files = append(slices.Clone(files), m.UserFile)
		}
		for _, without := range append([]string{""}, files...) {
			dir := t.TempDir()
			for _, f := range files {
				from := filepath.Join(src, filepath.FromSlash(f))
				if f == m.UserFile {
					from = filepath.Join(src, filepath.FromSlash(models.DlibResNet))
				}
				if f == without {
					continue
				}
				to := filepath.Join(dir, filepath.FromSlash(f))
				if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(from, to); err != nil {
					t.Fatal(err)
				}
			}
			s, err := facemodel.Open(facemodel.Config{Name: name, Dir: dir, CustomSHA256: dlibSHA})
			switch {
			case without == "" && err != nil:
				t.Errorf("Open(%s) with only its registry files = %v", name, err)
			case without == "":
				s.Close()
			case err == nil:
				s.Close()
				t.Errorf("Open(%s) without %s = nil error, want it missed", name, without)
			case !strings.Contains(err.Error(), filepath.Base(without)):
				t.Errorf("Open(%s) without %s = %v, want an error naming it", name, without, err)
			}
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := testenv.Models(t)
	own := filepath.Join(dir, filepath.FromSlash(models.DlibResNet))
	if _, err := facemodel.Open(facemodel.Config{Name: "arcface-r100", Dir: dir}); err == nil {
		t.Errorf("Open(unknown model) = nil error")
	}
	if _, err := facemodel.Open(facemodel.Config{Name: facemodel.DlibCustom, Dir: dir, CustomPath: own}); err == nil {
		t.Errorf("Open(dlib-custom without a SHA-256) = nil error")
	}
	wrong := strings.Repeat("ab", 32)
	_, err := facemodel.Open(facemodel.Config{Name: facemodel.DlibCustom, Dir: dir, CustomPath: own, CustomSHA256: wrong})
	if !errors.Is(err, models.ErrCorrupt) {
		t.Errorf("Open(dlib-custom with the wrong SHA-256) = %v, want ErrCorrupt", err)
	}
	if _, err := facemodel.Open(facemodel.Config{Name: facemodel.DlibCustom, Dir: dir, CustomSHA256: "12"}); err == nil {
		t.Errorf("Open(dlib-custom with a short SHA-256) = nil error")
	}
}
