// Package testenv finds the real things tests run against: the shared face
// photos and descriptors, the dlib model files, and programs such as socat.
// A test that cannot find one fails, naming what to install or set; it never
// skips itself.
//
// Only tests import this package.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gated-dev/gated/models"
)

// Root returns the repository's top directory (the one holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// SharedData returns the shared test data directory: $GATED_TESTDATA, or
// ../shared/testdata beside the repository. rel names a file or directory in
// it that the test needs; the test fails if it is missing.
func SharedData(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("GATED_TESTDATA")
	if dir == "" {
		dir = filepath.Join(Root(t), "..", "shared", "testdata")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: shared test data %s is missing (%v): set GATED_TESTDATA to a directory holding faces/images/*.jpg and faces/idols.json (see docs/testing.md for how to get them)", p, err)
	}
	return p
}

// Photo returns the bytes of one shared photo, faces/images/<name>.
func Photo(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(SharedData(t, "faces/images"), name))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return b
}

// Models returns the directory holding the verified model files, where
// set-up puts them (models.DefaultDir): $GATED_MODELS, else
// $GATED_CACHE/models, else ~/.cache/gated/models.
func Models(t testing.TB) string {
	t.Helper()
	dir := models.DefaultDir(os.Getenv)
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(models.DlibResNet))); err != nil {
		t.Fatalf("testenv: dlib models are not in %s (%v): run make setup, or set GATED_MODELS", dir, err)
	}
	return dir
}

// Program returns the path of an executable the test needs, failing with
// the Debian package that provides it when it is not installed.
func Program(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testenv: %s is not installed: run make setup (or apt install %s)", name, debianPackage)
	}
	return p
}

// DemoPhotos returns the folder of demo photos that make setup fetches
// (scripts/fetch-demo-photos.sh): $GATED_CACHE/demo-photos.
func DemoPhotos(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("GATED_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		cache = filepath.Join(base, "gated")
	}
	dir := filepath.Join(cache, "demo-photos")
	if _, err := os.Stat(filepath.Join(dir, "obama.jpg")); err != nil {
		t.Fatalf("testenv: demo photos are not in %s (%v): run make setup (scripts/fetch-demo-photos.sh)", dir, err)
	}
	return dir
}
