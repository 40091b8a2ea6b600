package facemodel_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

func photo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedData(t, "faces/images"), "tzuyu.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenEachModel(t *testing.T) {
	dir := testenv.Models(t)
	dlibSHA := models.Sums()["dlib/dlib_face_recognition_resnet_model_v1.dat"]
	tests := []struct {
		c          facemodel.Config
		model      string
		dim        int
		unit       bool
		sameAsDlib bool
	}{
		{facemodel.Config{Dir: dir}, recognizer.Model, recognizer.Dim, false, true},
		{facemodel.Config{Name: facemodel.FeatureNet, Dir: dir}, facemodel.FeatureNet, 512, true, false},
		// dlib's own network installed as a user-supplied one: the same
		// descriptors, under a model name of its own.
		{facemodel.Config{Name: facemodel.DlibCustom, Dir: dir, CustomSHA256: strings.ToUpper(dlibSHA),
			CustomPath: filepath.Join(dir, "dlib/dlib_face_recognition_resnet_model_v1.dat")}, "dlib-custom-" + dlibSHA[:12], recognizer.Dim, false, true},
	}
	var ref []float32
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			s, err := facemodel.Open(tt.c)
			if err != nil {
				t.Fatalf("Open(%+v) = %v (make setup fetches every model)", tt.c, err)
			}
			defer s.Close()
			if s.Model != tt.model || s.Dim != tt.dim || s.Unit != tt.unit {
				t.Errorf("Open = Model %q Dim %d Unit %v, want %q %d %v", s.Model, s.Dim, s.Unit, tt.model, tt.dim, tt.unit)
			}
			faces, err := s.FacesInImage(photo(t))
			if err != nil || len(faces) != 1 || len(faces[0].Descriptor) != tt.dim {
				t.Fatalf("FacesInImage = %d faces, %v", len(faces), err)
			}
			if tt.sameAsDlib {
				if ref == nil {
					ref = faces[0].Descriptor
				} else if d := eval.Distance(ref, faces[0].Descriptor); d > 1e-6 {
					t.Errorf("descriptor differs from dlib's by %v, want the same network's", d)
				}
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := testenv.Models(t)
	own := filepath.Join(dir, "dlib/dlib_face_recognition_resnet_model_v1.dat")
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
