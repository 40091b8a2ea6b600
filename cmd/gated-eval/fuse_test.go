package main

import (
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
)

// TestFuseOnIdols: --fuse measures single photos and fused ones on the
// shared dlib descriptors, with the comparisons behind each row, and reads
// fused probes at the single photo's threshold too.
func TestFuseOnIdols(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	code, out, errs := gatedEval(t, "--descriptors", idols, "--drop-duplicates", "0.1", "--fuse", "1,3", "--target-fmr", "0.001")
	if code != 0 {
		t.Fatalf("gated-eval --fuse = %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"Multi-frame fusion on " + idols,
		"FMR|FNMR at single's 0.001",
		// k=1: 1049 probes, 420 of residents; 69863 impostor comparisons.
		"dlib  1     -    1049      420     69863      80.48%      0.307",
		// k=3: a third of the probes, FNMR at FMR 0.1% down to 58.68%;
		// at the single photo's threshold 1.241% of impostors match.
		"dlib  3  gate     312      121     20783      58.68%      0.276             1.241% | 29.75%",
		"dlib  3  mean     312      121     20783",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gated-eval --fuse output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"0", "1,x", "11", ","} {
		if code, _, errs := gatedEval(t, "--descriptors", idols, "--fuse", bad); code != 2 || !strings.Contains(errs, "--fuse") {
			t.Errorf("gated-eval --fuse %q = %d, %q; want 2 and a word about --fuse", bad, code, errs)
		}
	}
}
