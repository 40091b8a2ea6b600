package eval_test

import (
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
)

// TestFusionMeasure: on idols.json's real dlib descriptors, fusing 1, 2 and
// 3 photos draws on the same probe photos in disjoint groups, compares each
// probe with every resident once, and brings people's own photos nearer.
func TestFusionMeasure(t *testing.T) {
	s := evaltest.DistinctIdols(t)
	sp := eval.Split{Every: 2, Templates: 3}
	f := eval.Fusion{K: []int{1, 2, 3}, Split: sp, TargetFMR: []float64{1e-3}, Thresholds: []float32{0.4}}
	rows, err := f.Measure(s)
	if err != nil {
		t.Fatal(err)
	}
	g, probes, err := sp.Gallery(s)
	if err != nil {
		t.Fatal(err)
	}
	residents, _ := g.Len()
	photos := map[string]int{}
	enrolled := map[string]bool{}
	for _, p := range probes {
		photos[p.Label]++
		enrolled[p.Label] = p.Enrolled
	}
	for i, r := range rows {
		var want, wantRes int
		for who, n := range photos {
			want += n / r.K
			if enrolled[who] {
				wantRes += n / r.K
			}
		}
		if r.K != f.K[i] || r.Probes != want || r.ResidentProbes != wantRes {
			t.Errorf("K=%d: %d probes (%d of residents), want %d (%d)", r.K, r.Probes, r.ResidentProbes, want, wantRes)
		}
		if r.Genuine != r.ResidentProbes || r.Impostor != r.Probes*residents-r.ResidentProbes {
			t.Errorf("K=%d: %d genuine, %d impostor comparisons; want %d, %d", r.K, r.Genuine, r.Impostor, r.ResidentProbes, r.Probes*residents-r.ResidentProbes)
		}
		if len(r.At) != 1 || len(r.Fixed) != 1 || r.Fixed[0].Threshold != 0.4 || !(r.Nearest <= r.At[0].Threshold) {
			t.Errorf("K=%d: row %+v, want one point at FMR 1e-3 above the nearest impostor, one at 0.4", r.K, r)
		}
	}
	// Fusing a person's photos averages out what differs between them:
	// FNMR at FMR 0.1% falls from single photos to three fused.
	if !(rows[2].At[0].FNMR < rows[0].At[0].FNMR) {
		t.Errorf("FNMR at FMR 1e-3: single %.3f, fused 3 %.3f; want fusion lower", rows[0].At[0].FNMR, rows[2].At[0].FNMR)
	}
	if _, err := (eval.Fusion{K: []int{0}, Split: sp}).Measure(s); err == nil {
		t.Errorf("Measure with K=0: no error")
	}
}
