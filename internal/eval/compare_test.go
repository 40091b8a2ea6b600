package eval_test

import (
	"math"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/match"
)

// TestCompareWithAdapter compares dlib's descriptors with themselves
// adapted by a map fitted as Compare promises: on enrollment templates only
// (at most Split.Templates per person), each half of the people by a fit on
// the other half. The map (subtract the fit's mean) moves every descriptor
// of one half alike, so it must leave the 1:1 figures as they were.
// (Whitening, which does change them, is measured in gated-eval's whiten
// package.)
func TestCompareWithAdapter(t *testing.T) {
	s := evaltest.DistinctIdols(t)
	split := eval.Split{Every: 2, Templates: 3}
	var fits []*eval.Set
	centre := func(fit *eval.Set) (eval.Mapper, error) {
		fits = append(fits, fit)
		mean := make([]float32, fit.Dim)
		for _, v := range fit.Vectors {
			for i, x := range v {
				mean[i] += x / float32(fit.Len())
			}
		}
		return func(v []float32) ([]float32, error) {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = x - mean[i]
			}
			return out, nil
		}, nil
	}
	c, err := eval.Compare([]eval.Model{{Name: "dlib", Set: s}, {Name: "dlib-centred", Set: s, Adapt: centre}}, eval.Config{Split: split})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Models) != 2 || c.People != 134 {
		t.Fatalf("Compare = %d models, %d people; want 2, 134", len(c.Models), c.People)
	}
	raw, moved := c.Models[0], c.Models[1]
	if raw.GenuinePairs != moved.GenuinePairs || raw.Impostors != moved.Impostors {
		t.Errorf("pairs differ between models: %d/%d and %d/%d", raw.GenuinePairs, raw.Impostors, moved.GenuinePairs, moved.Impostors)
	}
	for i := range raw.DET {
		r, m := raw.DET[i], moved.DET[i]
		if math.Abs(r.FNMR-m.FNMR) > 0.002 || math.Abs(float64(r.Threshold-m.Threshold)) > 1e-4 {
			t.Errorf("FMR %g: adapted FNMR %.4f at %.4f, raw %.4f at %.4f; want the same", r.Target, m.FNMR, m.Threshold, r.FNMR, r.Threshold)
		}
	}
	if len(moved.Identification) != 6 {
		t.Errorf("1:N results = %d, want 2 thresholds x 3 margins", len(moved.Identification))
	}
	// Fitted twice, once per half, on templates only, never on both halves.
	if len(fits) != 2 {
		t.Fatalf("adapter fitted %d times, want 2 (one per half)", len(fits))
	}
	in := map[string]int{}
	for k, f := range fits {
		per := map[string]int{}
		for _, l := range f.Labels {
			per[l]++
			in[l] |= 1 << k
		}
		for p, n := range per {
			if n > split.Templates {
				t.Errorf("fit %d holds %d descriptors of %s, want at most %d templates", k, n, p, split.Templates)
			}
		}
	}
	for p, mask := range in {
		if mask == 3 {
			t.Errorf("%s is in both fits: a half was mapped by a fit on its own people", p)
		}
	}
	other := &eval.Set{}
	for i, v := range s.Vectors[:10] {
		other.Add(s.Labels[(i+1)%10], v)
	}
	if _, err := eval.Compare([]eval.Model{{Name: "a", Set: s}, {Name: "b", Set: other}}, eval.Config{}); err == nil {
		t.Errorf("Compare(sets of other photos) = nil error")
	}
}

// TestCompareTakesEachModelsPolicies: a Model's own curve, thresholds and
// margins are the ones measured; a model without them gets its own span
// and its thresholds at each target FMR (issue 13, 5.1 and 5.3).
func TestCompareTakesEachModelsPolicies(t *testing.T) {
	s := evaltest.DistinctIdols(t)
	double := func(*eval.Set) (eval.Mapper, error) { // distances twice dlib's
		return func(v []float32) ([]float32, error) {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = 2 * x
			}
			return out, nil
		}, nil
	}
	c, err := eval.Compare([]eval.Model{
		{Name: "dlib", Set: s, Curve: []float32{0.383}, Thresholds: []float32{0.4}, Margins: []eval.Margin{{Value: 0.02}, {Value: 0.1, Share: true}}},
		{Name: "dlib-doubled", Set: s, Adapt: double},
	}, eval.Config{TargetFMR: []float64{0.01}})
	if err != nil {
		t.Fatal(err)
	}
	dl, db := c.Models[0], c.Models[1]
	if len(dl.Curve) != 1 || dl.Curve[0].Threshold != 0.383 {
		t.Errorf("dlib curve = %+v, want only 0.383", dl.Curve)
	}
	var got []match.Policy
	for _, p := range dl.Identification {
		got = append(got, p.Policy)
	}
	want := []match.Policy{{Threshold: 0.4, MinMargin: 0.02}, {Threshold: 0.4, MinMargin: 0.04}}
	if len(got) != 2 || got[0] != want[0] || math.Abs(float64(got[1].MinMargin-want[1].MinMargin)) > 1e-6 || got[1].Threshold != 0.4 {
		t.Errorf("dlib 1:N policies = %+v, want %+v", got, want)
	}
	// The doubled model's defaults: its threshold at FMR 1% with margins
	// 0, 5% and 10% of it, and a span on its own, doubled, scale.
	thr := db.DET[0].Threshold
	if len(db.Identification) != 3 || db.Identification[0].Policy.Threshold != thr || db.Identification[2].Policy.MinMargin != 0.1*thr {
		t.Errorf("doubled 1:N = %+v, want threshold %v with margins 0, 5%%, 10%% of it", db.Identification, thr)
	}
	pairs := eval.AllPairs(s)
	span := pairs.Span()
	if len(db.Curve) == 0 || len(span) == 0 || db.Curve[0].Threshold < 1.5*span[0] {
		t.Errorf("doubled curve starts at %+v, dlib's span at %v: want the doubled model's own range", db.Curve, span)
	}
}

// TestSpan: round thresholds from FMR 0.1% to FNMR about 1%, at most 10.
func TestSpan(t *testing.T) {
	pairs := eval.AllPairs(evaltest.DistinctIdols(t))
	span := pairs.Span()
	if len(span) < 3 || len(span) > 10 {
		t.Fatalf("Span() = %v, want 3 to 10 thresholds", span)
	}
	if first, last := pairs.At(span[0]), pairs.At(span[len(span)-1]); first.FMR > 0.001 || last.FNMR > 0.011 {
		t.Errorf("Span() = %v: FMR %.4f at the first, FNMR %.4f at the last; want <= 0.1%% and about 1%%", span, first.FMR, last.FNMR)
	}
	step := span[1] - span[0]
	for i := 1; i < len(span); i++ {
		if d := span[i] - span[i-1]; math.Abs(float64(d-step)) > 1e-5 {
			t.Errorf("Span() = %v: uneven steps", span)
		}
	}
	// line(): genuine 0.1 and 0.3, impostors from 0.9: the genuine pairs
	// end before the impostors begin, and the span lies between them.
	if got := eval.AllPairs(line()).Span(); len(got) != 7 || math.Abs(float64(got[0]-0.3)) > 1e-6 || math.Abs(float64(got[6]-0.9)) > 1e-6 {
		t.Errorf("Span() on line() = %v, want 0.3 to 0.9 by 0.1", got)
	}
	if got := (eval.Pairs{Genuine: []float32{0.1}}).Span(); got != nil {
		t.Errorf("Span() without impostor pairs = %v, want nil", got)
	}
}
