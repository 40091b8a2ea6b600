// Package models pins the model files gated loads: their names and SHA-256
// sums (SHA256SUMS, the same file scripts/fetch-models.sh checks), and
// verifies a model directory against them before any byte of a model reaches
// a parser.
//
// It also holds the one registry of face descriptor models (FaceModels):
// each model's name, descriptor, files and licence, and whether the gate may
// run it or only gated-eval compares it. The configuration's face.model
// names, the recognizer's loader (facemodel.Open) and gated-eval's --compare
// names all come from it.
//
// It is pure Go and never fetches anything; scripts/fetch-models.sh and
// scripts/fetch-face-model.sh do, at set-up time.
package models

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

//go:embed SHA256SUMS
var sums []byte

// ErrMissing and ErrCorrupt are wrapped by Verify's errors.
var (
	ErrMissing = errors.New("model file missing")
	ErrCorrupt = errors.New("model file does not match its pinned SHA-256")
)

// Sums returns the pinned SHA-256 (hex) of every model file, by its path
// relative to the model directory, e.g. "dlib/mmod_human_face_detector.dat".
func Sums() map[string]string {
	m, err := parseSums(sums)
	if err != nil {
		panic("models: embedded SHA256SUMS: " + err.Error()) // caught by TestEmbeddedSums
	}
	return m
}

func parseSums(b []byte) (map[string]string, error) {
	m := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || len(f[0]) != 64 {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <path>\"", n)
		}
		if _, err := hex.DecodeString(f[0]); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		m[f[1]] = f[0]
	}
	return m, sc.Err()
}

// Verify checks that each named file (a path relative to dir, as in Sums)
// exists in dir and has its pinned SHA-256. The error names every missing or
// corrupt file and says how to fetch them again.
func Verify(dir string, names ...string) error {
	pinned := Sums()
	var errs []error
	for _, name := range names {
		want, ok := pinned[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no pinned SHA-256 for this file", name))
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		got, err := fileSHA256(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("%w: %s", ErrMissing, p))
		case err != nil:
			errs = append(errs, fmt.Errorf("model file %s: %w", p, err))
		case got != want:
			errs = append(errs, fmt.Errorf("%w: %s has %s, want %s", ErrCorrupt, p, got, want))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("models: %w (to fetch verified copies: on a gate installed from the package, apt install gated-models or run gated-fetch-models %[2]s; in a checkout, scripts/fetch-models.sh %[2]s)", errors.Join(errs...), dir)
	}
	return nil
}

// DefaultDir is where set-up puts the verified models: $GATED_MODELS, else
// $GATED_CACHE/models, else $XDG_CACHE_HOME/gated/models, else
// $HOME/.cache/gated/models.
func DefaultDir(getenv func(string) string) string {
	if d := getenv("GATED_MODELS"); d != "" {
		return d
	}
	if c := getenv("GATED_CACHE"); c != "" {
		return filepath.Join(c, "models")
	}
	if c := getenv("XDG_CACHE_HOME"); c != "" {
		return filepath.Join(c, "gated", "models")
	}
	return filepath.Join(getenv("HOME"), ".cache", "gated", "models")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
