package whiten_test

import (
	"testing"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/whiten"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
)

// halves splits s by person: even-numbered people (name order) and odd.
func halves(s *eval.Set) (a, b *eval.Set) {
	a, b = &eval.Set{}, &eval.Set{}
	idx := map[string]int{}
	for i, p := range s.People() {
		idx[p] = i
	}
	for i, v := range s.Vectors {
		if idx[s.Labels[i]]%2 == 0 {
			a.Add(s.Labels[i], v)
		} else {
			b.Add(s.Labels[i], v)
		}
	}
	return a, b
}

func apply(t testing.TB, tr *whiten.Transform, s *eval.Set) *eval.Set {
	t.Helper()
	out := &eval.Set{}
	for i, v := range s.Vectors {
		w, err := tr.Apply(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Add(s.Labels[i], w)
	}
	return out
}

// TestWhiteningHelpsOnUnseenPeople fits on half of the idols and measures
// on the other half: FNMR at FMR 0.1% and 1% must drop.
func TestWhiteningHelpsOnUnseenPeople(t *testing.T) {
	fit, test := halves(evaltest.DistinctIdols(t))
	for _, shrink := range []float64{0.3, 0.5, 0.8} {
		tr, err := whiten.Fit(fit.Vectors, fit.Labels, shrink)
		if err != nil {
			t.Fatal(err)
		}
		raw, white := eval.AllPairs(test), eval.AllPairs(apply(t, tr, test))
		for _, fmr := range []float64{0.01, 0.001} {
			r, w := raw.AtFMR(fmr), white.AtFMR(fmr)
			t.Logf("shrink %.1f FMR %.1f%%: FNMR raw %.1f%%, whitened %.1f%%", shrink, 100*fmr, 100*r.FNMR, 100*w.FNMR)
			if got, want := w.FNMR, 0.85*r.FNMR; got > want {
				t.Errorf("shrink %.1f, FMR %.1f%%: whitened FNMR = %.3f, want <= %.3f (85%% of raw)", shrink, 100*fmr, got, want)
			}
		}
	}
}

func TestFitAndApplyRefuseBadInput(t *testing.T) {
	s := evaltest.DistinctIdols(t)
	tr, err := whiten.Fit(s.Vectors, s.Labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := whiten.Fit(s.Vectors, s.Labels, 0)
	if tr.Name != again.Name || len(tr.Name) != len("whiten-")+12 {
		t.Errorf("Name = %q then %q, want one stable whiten-<12 hex>", tr.Name, again.Name)
	}
	if _, err := tr.Apply(make([]float32, 3)); err == nil {
		t.Errorf("Apply(3 components) = nil error, want a dimension error")
	}
	v, err := tr.Apply(s.Vectors[0])
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n < 0.999 || n > 1.001 {
		t.Errorf("|Apply(v)|^2 = %v, want 1", n)
	}
	tests := []struct {
		name   string
		vecs   [][]float32
		labels []string
		shrink float64
	}{
		{"nothing", nil, nil, 0},
		{"labels mismatch", s.Vectors[:3], s.Labels[:2], 0},
		{"one per person", [][]float32{{1, 2}, {2, 1}, {0, 1}}, []string{"a", "b", "c"}, 0},
		{"bad shrink", s.Vectors, s.Labels, 1.5},
	}
	for _, tt := range tests {
		if _, err := whiten.Fit(tt.vecs, tt.labels, tt.shrink); err == nil {
			t.Errorf("Fit(%s) = nil error", tt.name)
		}
	}
}

// TestCompareWhitenedIdols compares dlib's descriptors with dlib's adapted
// by a whitening fitted on the gallery alone, on the same idols, as
// gated-eval --compare dlib,dlib+white does: the adaptation must lower FNMR
// at FMR 1% markedly (67% to 47% when written).
func TestCompareWhitenedIdols(t *testing.T) {
	s := evaltest.DistinctIdols(t)
	adapt := func(fit *eval.Set) (eval.Mapper, error) {
		tr, err := whiten.Fit(fit.Vectors, fit.Labels, 0)
		if err != nil {
			return nil, err
		}
		return tr.Apply, nil
	}
	c, err := eval.Compare([]eval.Model{{Name: "dlib", Set: s}, {Name: "dlib+white", Set: s, Adapt: adapt}}, eval.Config{})
	if err != nil {
		t.Fatal(err)
	}
	raw, white := c.Models[0], c.Models[1]
	if raw.GenuinePairs != white.GenuinePairs || raw.Impostors != white.Impostors {
		t.Errorf("pairs differ between models: %d/%d and %d/%d", raw.GenuinePairs, raw.Impostors, white.GenuinePairs, white.Impostors)
	}
	r, w := raw.DET[0], white.DET[0] // FMR 1%
	t.Logf("FNMR at FMR 1%%: dlib %.3f, whitened %.3f", r.FNMR, w.FNMR)
	if w.FNMR > r.FNMR-0.1 {
		t.Errorf("whitened FNMR at FMR 1%% = %.3f, want at least 0.1 under dlib's %.3f", w.FNMR, r.FNMR)
	}
	if len(white.Identification) != 6 {
		t.Errorf("1:N results = %d, want 2 thresholds x 3 margins", len(white.Identification))
	}
}
