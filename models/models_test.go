package models

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedSums(t *testing.T) {
	m, err := parseSums(sums)
	if err != nil {
		t.Fatalf("parseSums(SHA256SUMS) = %v", err)
	}
	for _, name := range []string{
		"dlib/shape_predictor_5_face_landmarks.dat",
		"dlib/dlib_face_recognition_resnet_model_v1.dat",
		"dlib/mmod_human_face_detector.dat",
	} {
		if len(m[name]) != 64 {
			t.Errorf("no pinned SHA-256 for %s", name)
		}
	}
	for name := range m {
		if strings.Contains(name, "68_face_landmarks") {
			t.Errorf("%s is pinned: the 68-point model's licence forbids commercial use", name)
		}
	}
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	// A file with the right name but the wrong bytes, and one missing.
	if err := os.MkdirAll(filepath.Join(dir, "dlib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dlib", "mmod_human_face_detector.dat"), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Verify(dir, "dlib/mmod_human_face_detector.dat", "dlib/shape_predictor_5_face_landmarks.dat")
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrMissing) {
		t.Fatalf("Verify = %v, want both ErrCorrupt and ErrMissing", err)
	}
	for _, want := range []string{"mmod_human_face_detector.dat", "shape_predictor_5_face_landmarks.dat", "fetch-models.sh", "gated-fetch-models"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify error %q does not name %s", err, want)
		}
	}
	if err := Verify(dir, "dlib/unknown.dat"); err == nil {
		t.Errorf("Verify(unpinned file) = nil, want an error")
	}
}

func TestParseSumsRejectsGarbage(t *testing.T) {
	for _, in := range []string{"abc  x", "zz" + strings.Repeat("0", 62) + "  f", strings.Repeat("0", 64)} {
		if _, err := parseSums([]byte(in)); err == nil {
			t.Errorf("parseSums(%q) = nil error", in)
		}
	}
}
