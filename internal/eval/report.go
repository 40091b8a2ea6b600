package eval

import (
	"fmt"
	"slices"

	"github.com/gated-dev/gated/internal/match"
)

// Config says what Evaluate measures.
type Config struct {
	// Thresholds: Evaluate's 1:1 error rates at each (default 0.30, 0.35,
	// ... 0.70, dlib's scale). Compare takes each Model's own instead.
	Thresholds []float32
	TargetFMR  []float64 // thresholds for these FMRs (default 1%, 0.1%)
	Split      Split     // 1:N gallery/probe split (default every 2nd person, 3 templates)
	// Policies for Evaluate's 1:N figures. Empty: the thresholds at each
	// TargetFMR, each with margins 0, 0.02 and 0.05. Compare takes each
	// Model's own instead.
	Policies []match.Policy
}

// Report is everything Evaluate measured.
type Report struct {
	People, Descriptors     int
	GenuinePairs, Impostors int
	Curve                   []Point
	AtTarget                []TargetPoint
	Identification          []PolicyResult
	Split                   Split
}

// TargetPoint is the threshold meeting a target FMR, and the rates there.
type TargetPoint struct {
	Target float64
	Point
}

// PolicyResult is the 1:N outcome under one policy.
type PolicyResult struct {
	Policy match.Policy
	Identification
}

func (c Config) withDefaults() Config {
	if len(c.Thresholds) == 0 {
		for t := 30; t <= 70; t += 5 {
			c.Thresholds = append(c.Thresholds, float32(t)/100)
		}
	}
	if len(c.TargetFMR) == 0 {
		c.TargetFMR = []float64{0.01, 0.001}
	}
	if c.Split == (Split{}) {
		c.Split = Split{Every: 2, Templates: 3}
	}
	return c
}

// Evaluate measures 1:1 error rates and 1:N outcomes on a labelled set.
func Evaluate(s *Set, c Config) (*Report, error) {
	c = c.withDefaults()
	if s.Len() < 2 {
		return nil, fmt.Errorf("eval: %d descriptors, need at least 2", s.Len())
	}
	pairs := AllPairs(s)
	r := &Report{
		People:       len(s.People()),
		Descriptors:  s.Len(),
		GenuinePairs: len(pairs.Genuine),
		Impostors:    len(pairs.Impostor),
		Curve:        pairs.Curve(c.Thresholds),
		Split:        c.Split,
	}
	for _, t := range c.TargetFMR {
		r.AtTarget = append(r.AtTarget, TargetPoint{Target: t, Point: pairs.AtFMR(t)})
	}
	policies := c.Policies
	if len(policies) == 0 {
		for _, tp := range r.AtTarget {
			for _, m := range []float32{0, 0.02, 0.05} {
				policies = append(policies, match.Policy{Threshold: tp.Threshold, MinMargin: m})
			}
		}
	}
	g, probes, err := c.Split.Gallery(s)
	if err != nil {
		return nil, err
	}
	for _, p := range policies {
		id, err := Identify(g, probes, p)
		if err != nil {
			return nil, err
		}
		r.Identification = append(r.Identification, PolicyResult{Policy: p, Identification: id})
	}
	slices.SortStableFunc(r.Identification, func(a, b PolicyResult) int {
		switch {
		case a.Policy.Threshold != b.Policy.Threshold:
			if a.Policy.Threshold < b.Policy.Threshold {
				return -1
			}
			return 1
		case a.Policy.MinMargin < b.Policy.MinMargin:
			return -1
		case a.Policy.MinMargin > b.Policy.MinMargin:
			return 1
		}
		return 0
	})
	return r, nil
}
