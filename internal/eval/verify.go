package eval

import (
	"math"
	"slices"
	"sort"

	"github.com/gated-dev/gated/internal/match"
)

// Pairs holds the distances of all same-person (genuine) and
// different-person (impostor) pairs of a set, each sorted ascending.
type Pairs struct {
	Genuine  []float32
	Impostor []float32
}

// AllPairs computes the distance of every pair of descriptors in s.
// Distances are Euclidean.
func AllPairs(s *Set) Pairs {
	var p Pairs
	for i := range s.Vectors {
		for j := i + 1; j < len(s.Vectors); j++ {
			d := match.Distance(s.Vectors[i], s.Vectors[j])
			if s.Labels[i] == s.Labels[j] {
				p.Genuine = append(p.Genuine, d)
			} else {
				p.Impostor = append(p.Impostor, d)
			}
		}
	}
	slices.Sort(p.Genuine)
	slices.Sort(p.Impostor)
	return p
}

// Point is the error rates of 1:1 comparison at one threshold: a pair
// matches when its distance is under the threshold.
type Point struct {
	Threshold float32
	FMR       float64 // share of impostor pairs that match
	FNMR      float64 // share of genuine pairs that do not
}

// At returns the error rates at threshold t.
func (p Pairs) At(t float32) Point {
	return Point{Threshold: t, FMR: below(p.Impostor, t), FNMR: 1 - below(p.Genuine, t)}
}

// below is the share of the sorted values strictly under t.
func below(sorted []float32, t float32) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	n := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= t })
	return float64(n) / float64(len(sorted))
}

// AtFMR returns the largest threshold whose FMR does not exceed target, with
// the rates there. With target 0 it is the smallest impostor distance.
func (p Pairs) AtFMR(target float64) Point {
	if len(p.Impostor) == 0 {
		return Point{Threshold: float32(math.Inf(1)), FMR: math.NaN(), FNMR: 0}
	}
	// k impostor pairs may match: the threshold is the (k+1)-th smallest
	// impostor distance, at which exactly the k smaller ones match.
	k := int(math.Floor(target * float64(len(p.Impostor))))
	if k >= len(p.Impostor) {
		return p.At(float32(math.Inf(1)))
	}
	t := p.Impostor[k]
	return p.At(t)
}

// Curve returns the error rates at each threshold.
func (p Pairs) Curve(thresholds []float32) []Point {
	out := make([]Point, len(thresholds))
	for i, t := range thresholds {
		out[i] = p.At(t)
	}
	return out
}
