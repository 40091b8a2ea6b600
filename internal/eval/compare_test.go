package eval_test

import (
	"math"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
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
