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

// What Span covers, and in how many thresholds at most.
const (
	spanFMR    = 0.001
	spanFNMR   = 0.01
	spanPoints = 10
)

// Span returns round thresholds across the distances where these pairs'
// error rates change, so that each model's curve is read on its own scale
// (dlib's pairs change between about 0.3 and 0.65, a unit-length model's
// near 1): from the threshold at FMR 0.1%, rounded down, to the one where
// FNMR falls to about 1%, rounded up; at most 10 of them, a step of 1, 2,
// 2.5 or 5 times a power of ten apart. Nil without genuine or impostor
// pairs.
func (p Pairs) Span() []float32 {
	if len(p.Genuine) == 0 || len(p.Impostor) == 0 {
		return nil
	}
	lo := float64(p.AtFMR(spanFMR).Threshold)
	k := int(math.Ceil((1-spanFNMR)*float64(len(p.Genuine)))) - 1
	hi := float64(p.Genuine[max(0, min(k, len(p.Genuine)-1))])
	if lo > hi { // the genuine pairs end before the impostors begin
		lo, hi = hi, lo
	}
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
		return nil
	}
	for exp := -3; exp <= 6; exp++ {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step := m * math.Pow10(exp)
			// The tolerance absorbs float32 distances a hair off a round value.
			a, b := math.Floor(lo/step+1e-5), math.Ceil(hi/step-1e-5)
			if b-a+1 > spanPoints {
				continue
			}
			out := make([]float32, 0, int(b-a+1))
			for i := a; i <= b; i++ {
				out = append(out, float32(i*step))
			}
			return out
		}
	}
	return []float32{float32(lo), float32(hi)}
}
