package whiten_test

import (
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/recognizer/whiten"
)

func idols(t testing.TB) *eval.Set {
	t.Helper()
	s := evaltest.Idols(t)
	clean, _ := s.WithoutCrossLabelDuplicates(0.1)
	return clean
}

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
	fit, test := halves(idols(t))
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
	s := idols(t)
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
