package liveness

import (
	"math"
	"slices"
)

// Rates are ISO/IEC 30107-3 error rates at one threshold: a presentation is
// accepted as live when its score is at least Threshold.
type Rates struct {
	Threshold float64 `json:"threshold"`
	// APCER is the share of attack presentations accepted as live.
	APCER float64 `json:"apcer"`
	// BPCER is the share of bona fide presentations refused.
	BPCER float64 `json:"bpcer"`
}

// At returns the rates at threshold t for live scores of bona fide and
// attack presentations (higher = more live). An empty class has rate 0.
func At(bonafide, attack []float64, t float64) Rates {
	r := Rates{Threshold: t}
	for _, s := range attack {
		if s >= t {
			r.APCER++
		}
	}
	for _, s := range bonafide {
		if s < t {
			r.BPCER++
		}
	}
	if len(attack) > 0 {
		r.APCER /= float64(len(attack))
	}
	if len(bonafide) > 0 {
		r.BPCER /= float64(len(bonafide))
	}
	return r
}

// AtBPCER returns the rates at the highest threshold whose BPCER is at most
// bpcer: the fewest attacks accepted while refusing at most that share of
// live people.
func AtBPCER(bonafide, attack []float64, bpcer float64) Rates {
	if len(bonafide) == 0 {
		return At(bonafide, attack, math.Inf(-1))
	}
	b := slices.Clone(bonafide)
	slices.Sort(b)
	k := int(math.Floor(bpcer*float64(len(b)) + 1e-9)) // live people we may refuse
	k = min(k, len(b)-1)
	// Refusing the k lowest: the threshold is the (k+1)-th lowest score;
	// ties at it are accepted.
	t := b[k]
	return At(bonafide, attack, t)
}

// EER is the equal error rate: the rates at the threshold where APCER and
// BPCER are closest, reported as their mean.
func EER(bonafide, attack []float64) (float64, Rates) {
	ts := append(slices.Clone(bonafide), attack...)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	best, bestR := math.Inf(1), Rates{}
	for _, t := range ts {
		r := At(bonafide, attack, t)
		if d := math.Abs(r.APCER - r.BPCER); d < best {
			best, bestR = d, r
		}
	}
	return (bestR.APCER + bestR.BPCER) / 2, bestR
}
