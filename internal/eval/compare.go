package eval

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/gated-dev/gated/internal/match"
)

// Mapper turns a descriptor into the space a model is compared in.
type Mapper func([]float32) ([]float32, error)

// Adapter fits a Mapper on labelled descriptors (for example a whitening
// fitted on a gallery's templates).
type Adapter func(fit *Set) (Mapper, error)

// Model is one descriptor model's view of a set of photos: Set holds its
// descriptors of the same photos, in the same order and with the same labels,
// as every other Model compared with it.
//
// Distances are on each model's own scale (dlib's genuine pairs lie under
// about 0.6, a unit-length model's near 1), so the thresholds and margins
// Compare uses are the model's own, never one list for every model.
type Model struct {
	Name  string
	Set   *Set
	Adapt Adapter // nil: descriptors are compared as they are
	// Curve: the 1:1 error rates at these thresholds. Empty: at round
	// thresholds spanning this model's own distances (Pairs.Span).
	Curve []float32
	// Thresholds of the 1:N figures. Empty: the thresholds at each
	// Config.TargetFMR (this model's own).
	Thresholds []float32
	// Margins of the 1:N figures, each with every threshold. Empty: 0, 5%
	// and 10% of the threshold (DefaultMargins).
	Margins []Margin
}

// Margin is a policy's minimum margin to the runner-up resident: Value, or
// with Share, Value times the threshold it goes with (Value 0.05: 5% of
// it), which means the same for models whose distances have other scales.
type Margin struct {
	Value float32
	Share bool
}

// At is the margin that goes with threshold t.
func (m Margin) At(t float32) float32 {
	if m.Share {
		return m.Value * t
	}
	return m.Value
}

// String is the margin as gated-eval's --margin takes it: "0.020", "5%".
func (m Margin) String() string {
	if m.Share {
		return strconv.FormatFloat(float64(100*m.Value), 'g', 4, 32) + "%"
	}
	return strconv.FormatFloat(float64(m.Value), 'f', 3, 32)
}

// DefaultMargins are Compare's margins when a Model gives none: 0, 5% and
// 10% of the threshold (for dlib at 0.45: 0, 0.0225, 0.045).
func DefaultMargins() []Margin {
	return []Margin{{0, true}, {0.05, true}, {0.1, true}}
}

// ModelResult is one model's figures in a comparison.
type ModelResult struct {
	Name                    string
	GenuinePairs, Impostors int
	Curve                   []Point       // at Config.Thresholds
	DET                     []TargetPoint // FNMR at each Config.TargetFMR
	Identification          []PolicyResult
}

// Comparison is several models measured on the same photos by the same
// protocol.
type Comparison struct {
	People, Descriptors int
	Split               Split
	Models              []ModelResult
}

// Compare measures each model on the same photos.
//
// The protocol is the one an adapted model needs to be measured honestly,
// applied to every model alike: the people are split into the enrolled and
// the others (Config.Split). 1:1 figures use the pairs within each half; a
// model with an Adapter has each half mapped by a fit on the other half's
// enrollment templates only, so no pair is scored by a map fitted on its own
// people. 1:N figures enroll the first half as Evaluate does; an adapted
// model is fitted on the gallery's templates alone (as the device would fit
// it on its residents) and everything is mapped by that fit. Thresholds and
// margins are each Model's own (Config.Thresholds and Config.Policies are
// Evaluate's, not used here).
func Compare(models []Model, c Config) (*Comparison, error) {
	c = c.withDefaults()
	if len(models) == 0 {
		return nil, fmt.Errorf("eval: no models to compare")
	}
	ref := models[0].Set
	for _, m := range models[1:] {
		if !slices.Equal(m.Set.Labels, ref.Labels) {
			return nil, fmt.Errorf("eval: model %s has other photos than %s", m.Name, models[0].Name)
		}
	}
	if ref.Len() < 2 {
		return nil, fmt.Errorf("eval: %d descriptors, need at least 2", ref.Len())
	}
	cmp := &Comparison{People: len(ref.People()), Descriptors: ref.Len(), Split: c.Split}
	for _, m := range models {
		r, err := compareOne(m, c)
		if err != nil {
			return nil, fmt.Errorf("eval: %s: %w", m.Name, err)
		}
		cmp.Models = append(cmp.Models, *r)
	}
	return cmp, nil
}

func compareOne(m Model, c Config) (*ModelResult, error) {
	s := m.Set
	enrolled := map[string]bool{}
	for i, p := range s.People() {
		enrolled[p] = i%c.Split.Every == 0
	}
	half := func(in bool) *Set {
		out := &Set{Dim: s.Dim}
		for i, v := range s.Vectors {
			if enrolled[s.Labels[i]] == in {
				out.Vectors = append(out.Vectors, v)
				out.Labels = append(out.Labels, s.Labels[i])
			}
		}
		return out
	}
	a, b := half(true), half(false)
	gallery := func(h *Set) *Set { // each person's first Templates descriptors
		out := &Set{Dim: h.Dim}
		used := map[string]int{}
		for i, v := range h.Vectors {
			if used[h.Labels[i]] < c.Split.Templates {
				used[h.Labels[i]]++
				out.Vectors = append(out.Vectors, v)
				out.Labels = append(out.Labels, h.Labels[i])
			}
		}
		return out
	}
	whole := s
	if m.Adapt != nil {
		fa, err := m.Adapt(gallery(a))
		if err != nil {
			return nil, fmt.Errorf("fit on the enrolled half: %w", err)
		}
		fb, err := m.Adapt(gallery(b))
		if err != nil {
			return nil, fmt.Errorf("fit on the other half: %w", err)
		}
		if a, err = mapSet(a, fb); err != nil {
			return nil, err
		}
		if b, err = mapSet(b, fa); err != nil {
			return nil, err
		}
		if whole, err = mapSet(s, fa); err != nil {
			return nil, err
		}
	}
	pa, pb := AllPairs(a), AllPairs(b)
	pairs := Pairs{Genuine: append(pa.Genuine, pb.Genuine...), Impostor: append(pa.Impostor, pb.Impostor...)}
	slices.Sort(pairs.Genuine)
	slices.Sort(pairs.Impostor)
	curve := m.Curve
	if len(curve) == 0 {
		curve = pairs.Span()
	}
	r := &ModelResult{Name: m.Name, GenuinePairs: len(pairs.Genuine), Impostors: len(pairs.Impostor), Curve: pairs.Curve(curve)}
	for _, t := range c.TargetFMR {
		r.DET = append(r.DET, TargetPoint{Target: t, Point: pairs.AtFMR(t)})
	}
	g, probes, err := c.Split.Gallery(whole)
	if err != nil {
		return nil, err
	}
	thresholds := m.Thresholds
	if len(thresholds) == 0 {
		for _, tp := range r.DET {
			thresholds = append(thresholds, tp.Threshold)
		}
	}
	margins := m.Margins
	if len(margins) == 0 {
		margins = DefaultMargins()
	}
	for _, t := range thresholds {
		for _, mg := range margins {
			p := match.Policy{Threshold: t, MinMargin: mg.At(t)}
			id, err := Identify(g, probes, p)
			if err != nil {
				return nil, err
			}
			r.Identification = append(r.Identification, PolicyResult{Policy: p, Identification: id})
		}
	}
	return r, nil
}

func mapSet(s *Set, f Mapper) (*Set, error) {
	out := &Set{}
	for i, v := range s.Vectors {
		w, err := f(v)
		if err != nil {
			return nil, fmt.Errorf("map descriptor %d: %w", i, err)
		}
		if err := out.Add(s.Labels[i], w); err != nil {
			return nil, err
		}
	}
	return out, nil
}
