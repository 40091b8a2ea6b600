package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// binomTail is P(X >= k) for X ~ Binomial(n, p).
func binomTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(float64(n + 1))
	var s float64
	for i := k; i <= n; i++ {
		l1, _ := math.Lgamma(float64(i + 1))
		l2, _ := math.Lgamma(float64(n - i + 1))
		s += math.Exp(lg - l1 - l2 + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return s
}

// TestEastAsianPhotos is issue 7's evidence, measured as gated-eval
// measures it, on the 411 East Asian photos: the stronger model at least
// halves dlib's FNMR at FMR 1%, and at each target the policy calibrate
// chooses from the enrolled gallery alone holds for the people it never saw
// (a count of strangers let in that a true rate at the target would reach
// less than 1% of the time fails), and held-out residents are accepted at
// least as often as the low end of the interval the mode was chosen on. At
// 1e-4 dlib is off; the stronger model is not. About a minute: every photo is described by both
// models.
func TestEastAsianPhotos(t *testing.T) {
	dir := testenv.SharedData(t, "faces-eastasian")
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" },
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	names := []string{models.Dlib, models.FeatureNet}
	sets, skipped, err := describePhotos(e, dir, names, describeConfig{dir: testenv.Models(t), jobs: 2})
	if err != nil {
		t.Fatalf("%v (make setup fetches the models)", err)
	}
	if got := sets[models.Dlib].Len(); got != 393 || len(skipped) != 18 {
		t.Errorf("described %d photos, skipped %d; want 393 and 18 (dlib's frontal detector misses 18)", got, len(skipped))
	}
	split := eval.Split{Every: 2, Templates: 3}
	var ms []eval.Model
	for _, n := range names {
		ms = append(ms, eval.Model{Name: n, Set: sets[n]})
	}
	cmp, err := eval.Compare(ms, eval.Config{TargetFMR: []float64{0.01, 0.001}, Split: split})
	if err != nil {
		t.Fatal(err)
	}
	dl, fn := cmp.Models[0], cmp.Models[1]
	for i, fmr := range []string{"1%", "0.1%"} {
		t.Logf("FNMR at FMR %s: dlib %.2f%%, %s %.2f%%", fmr, 100*dl.DET[i].FNMR, fn.Name, 100*fn.DET[i].FNMR)
	}
	if got, want := fn.DET[0].FNMR, dl.DET[0].FNMR/2; got > want {
		t.Errorf("%s FNMR at FMR 1%% = %.4f, want at most half of dlib's (%.4f)", fn.Name, got, want)
	}

	for _, target := range []float64{1e-4, 1e-3, 1e-2} {
		for _, m := range ms {
			t.Run(fmt.Sprintf("%s/target=%g", m.Name, target), func(t *testing.T) {
				// The held-out probes are single photos: calibrate for
				// single frames (face.frames = 1).
				c, err := calibrateModel(m, split, target, 1)
				if err != nil {
					t.Fatal(err)
				}
				d := c.Decision
				t.Logf("%s; identify: %d/%d strangers in, %d/%d residents; verify: %d/%d card attempts by strangers in, %d/%d residents",
					d.Reason, c.StrangersIn, c.StrangerProbes, c.IdentCorrect, c.IdentResidentProbes,
					c.VerifyStrangersIn, c.VerifyAttempts, c.VerifyAccepted, c.VerifyResidentProbes)
				if d.Identify.Stranger > target*1.0001 || d.Verify.Stranger > target*1.0001 {
					t.Errorf("chosen bounds %.3g (identify), %.3g (verify), want <= %.3g", d.Identify.Stranger, d.Verify.Stranger, target)
				}
				if p := binomTail(c.StrangerProbes, c.StrangersIn, target); p < 0.01 {
					t.Errorf("identify: %d of %d held-out strangers let in: P(>= that | %g) = %.2g", c.StrangersIn, c.StrangerProbes, target, p)
				}
				if p := binomTail(c.VerifyAttempts, c.VerifyStrangersIn, target); p < 0.01 {
					t.Errorf("verify: %d of %d stranger-with-card attempts let in: P(>= that | %g) = %.2g", c.VerifyStrangersIn, c.VerifyAttempts, target, p)
				}
				// The mode is chosen on the low end of the residents'
				// interval: the held-out residents must do at least that
				// well, in each mode.
				for _, o := range []struct {
					opt     calibrate.Option
					ok, all int
				}{{d.Identify, c.IdentCorrect, c.IdentResidentProbes}, {d.Verify, c.VerifyAccepted, c.VerifyResidentProbes}} {
					if got := float64(o.ok) / float64(o.all); o.opt.Policy.Threshold > 0 && got < o.opt.AcceptLow {
						t.Errorf("%s: %d of %d held-out resident photos accepted (%.1f%%), under the predicted low end %.1f%%",
							o.opt.Mode, o.ok, o.all, 100*got, 100*o.opt.AcceptLow)
					}
				}
				if target == 1e-4 {
					if m.Name == models.Dlib && d.Mode != calibrate.Off {
						t.Errorf("dlib's mode at 1e-4 = %s, want off", d.Mode)
					}
					if m.Name == models.FeatureNet && d.Mode == calibrate.Off {
						t.Errorf("fr-feature's mode at 1e-4 = off, want identify or verify")
					}
				}
			})
		}
	}
}

func TestEvalCompareOnIdols(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	code, out, errs := gatedEval(t, "--descriptors", idols, "--compare", "dlib,dlib+white", "--calibrate", "--drop-duplicates", "0.1")
	if code != 0 {
		t.Fatalf("gated-eval --compare = %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"1250 photos of 134 people",
		"each described by dlib-resnet-v1, dlib-resnet-v1+whiten",
		"36 descriptors within 0.100 of another person's",
		"dlib-resnet-v1: face not used",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range [][]string{
		{"--compare", "featurenet"}, // needs photos
		{"--compare", "arcface"},
		{"--compare", "dlib,dlib"},
		{"--compare", "dlib,dlib-resnet-v1"}, // one model by its two names
		{"--compare", "mobileface"},          // needs photos
		{"--compare", "dlib", "--target", "2"},
	} {
		if code, _, _ := gatedEval(t, append([]string{"--descriptors", idols}, bad...)...); code != 2 {
			t.Errorf("gated-eval %v = %d, want 2 (usage)", bad, code)
		}
	}
	if code, _, errs := gatedEval(t, "--photos", t.TempDir(), "--compare", "dlib-custom"); code != 2 || !strings.Contains(errs, "--dlib-custom-sha256") {
		t.Errorf("gated-eval --compare dlib-custom without its SHA-256 = %d, %q; want 2 naming --dlib-custom-sha256", code, errs)
	}
}
