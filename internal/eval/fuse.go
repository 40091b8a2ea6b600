package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/gated-dev/gated/internal/match"
)

// Fusion is how to measure what fusing several frames of one face buys
// (the gate's Frames, match.Fuse): a person's photos stand in for frames.
type Fusion struct {
	// K lists how many photos are fused into one probe: 1 is a single
	// photo.
	K []int
	// Split enrolls the gallery: every Every-th person with their first
	// Templates photos. Every other photo (of the enrolled, after their
	// templates; of everyone else, all) is a probe photo.
	Split Split
	// TargetFMR are the false match rates FNMR is read at.
	TargetFMR []float64
	// Thresholds are distances to read the rates at as well (the single
	// photo's thresholds at TargetFMR, to see what fused probes do there).
	Thresholds []float32
	// Combine fuses a probe's photos; nil is match.Fuse, the gate's.
	Combine func([][]float32) ([]float32, error)
}

// FusionRow is the 1:1 error rates of probes fused from K photos each: a
// probe is compared with every enrolled person, as the distance to their
// nearest template (the gate's Verify, and the distance Identify
// thresholds); the comparison with the probe's own person is genuine, the
// others impostor.
type FusionRow struct {
	K int
	// Probes fused, of enrolled people and of everyone; comparisons behind
	// each rate.
	ResidentProbes, Probes int
	Genuine, Impostor      int
	// At is FNMR at each TargetFMR: Point.Threshold is where, the impostor
	// distances' TargetFMR-quantile (their lower tail). Fixed is the rates
	// at each of Thresholds; Nearest the smallest impostor distance.
	At      []Point
	Fixed   []Point
	Nearest float32
}

// Measure fuses each person's probe photos k at a time, in disjoint groups
// of consecutive photos in the set's order (a person with n probe photos
// gives n/k probes, rounded down: every K draws on the same photos), and
// compares each fused probe with the gallery. Photos of two people are
// never fused together.
func (f Fusion) Measure(s *Set) ([]FusionRow, error) {
	g, probes, err := f.Split.Gallery(s)
	if err != nil {
		return nil, err
	}
	combine := f.Combine
	if combine == nil {
		combine = match.Fuse
	}
	residents := g.Residents()
	var order []string
	byPerson := map[string][][]float32{}
	enrolled := map[string]bool{}
	for _, p := range probes {
		if _, ok := byPerson[p.Label]; !ok {
			order = append(order, p.Label)
		}
		byPerson[p.Label] = append(byPerson[p.Label], p.Vector)
		enrolled[p.Label] = p.Enrolled
	}
	var rows []FusionRow
	for _, k := range f.K {
		if k < 1 {
			return nil, fmt.Errorf("eval: fuse %d photos: want 1 or more", k)
		}
		row := FusionRow{K: k}
		var pairs Pairs
		for _, who := range order {
			vs := byPerson[who]
			for i := 0; i+k <= len(vs); i += k {
				q, err := combine(vs[i : i+k])
				if err != nil {
					return nil, fmt.Errorf("eval: fuse photos of %s: %w", who, err)
				}
				row.Probes++
				if enrolled[who] {
					row.ResidentProbes++
				}
				for _, r := range residents {
					d, ok, err := g.Distance(r, q)
					if err != nil {
						return nil, fmt.Errorf("eval: probe of %s: %w", who, err)
					}
					if !ok {
						continue
					}
					if r == who {
						pairs.Genuine = append(pairs.Genuine, d)
					} else {
						pairs.Impostor = append(pairs.Impostor, d)
					}
				}
			}
		}
		slices.Sort(pairs.Genuine)
		slices.Sort(pairs.Impostor)
		row.Genuine, row.Impostor = len(pairs.Genuine), len(pairs.Impostor)
		for _, t := range f.TargetFMR {
			row.At = append(row.At, pairs.AtFMR(t))
		}
		for _, t := range f.Thresholds {
			row.Fixed = append(row.Fixed, pairs.At(t))
		}
		row.Nearest = float32(math.Inf(1))
		if len(pairs.Impostor) > 0 {
			row.Nearest = pairs.Impostor[0]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// PlainMean is the plain mean of descriptors, to measure match.Fuse (which
// keeps the descriptors' length) against.
func PlainMean(vs [][]float32) ([]float32, error) {
	if len(vs) == 0 {
		return nil, match.ErrNoDescriptors
	}
	out := make([]float32, len(vs[0]))
	for i, v := range vs {
		if len(v) != len(out) {
			return nil, fmt.Errorf("eval: mean: descriptor %d has %d components, want %d", i, len(v), len(out))
		}
		for j, x := range v {
			out[j] += x / float32(len(vs))
		}
	}
	return out, nil
}
