// Package evaltest loads the shared real face descriptors that tests and
// benchmarks of several packages use.
package evaltest

import (
	"os"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/testenv"
)

// Idols returns the real dlib descriptors of faces/idols.json in the shared
// test data (1,286 descriptors of 134 labelled people); a missing or
// unreadable file fails the test, saying how to get it.
func Idols(t testing.TB) *eval.Set {
	t.Helper()
	f, err := os.Open(testenv.SharedData(t, "faces/idols.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := eval.ReadDescriptors(f)
	if err != nil {
		t.Fatalf("faces/idols.json: %v", err)
	}
	return s
}
