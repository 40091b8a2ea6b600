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

// DistinctIdols is Idols without the descriptors that lie within 0.1 of
// someone else's: photos filed under two people (eval.Set's
// WithoutCrossLabelDuplicates), 36 of them. Tests of rare-event tails use
// it, so that labelling errors do not swamp what they measure.
func DistinctIdols(t testing.TB) *eval.Set {
	t.Helper()
	s, n := Idols(t).WithoutCrossLabelDuplicates(0.1)
	if n != 36 {
		t.Fatalf("faces/idols.json: %d descriptors within 0.1 of another person's, want 36: is it the shared file?", n)
	}
	return s
}
