package eval

import (
	"fmt"

	"github.com/gated-dev/gated/internal/match"
)

// Split decides who is enrolled in a 1:N test and with how many templates.
type Split struct {
	// Enrolled people are every Every-th person in sorted label order,
	// starting with the first (Every 2: half of the people). The others are
	// strangers the gate has never seen.
	Every int
	// Templates is how many of an enrolled person's descriptors form the
	// gallery (the first ones in the set's order); the rest are probes. A
	// person with no descriptor left over is enrolled but never probed.
	Templates int
}

// Identification is what a 1:N gate did with every probe of a split.
type Identification struct {
	Residents, GalleryTemplates int
	// Probes of enrolled people.
	ResidentProbes int
	CorrectAccepts int // accepted as themselves
	Misidentified  int // accepted as another resident
	Rejected       int // not accepted
	// Probes of people never enrolled.
	StrangerProbes   int
	StrangersAccepts int // accepted as some resident
}

// CorrectRate is the share of resident probes accepted as themselves.
func (r Identification) CorrectRate() float64 {
	return ratio(r.CorrectAccepts, r.ResidentProbes)
}

// MisidentRate is the share of resident probes accepted as someone else.
func (r Identification) MisidentRate() float64 {
	return ratio(r.Misidentified, r.ResidentProbes)
}

// StrangerRate is the share of stranger probes accepted as a resident.
func (r Identification) StrangerRate() float64 {
	return ratio(r.StrangersAccepts, r.StrangerProbes)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Gallery builds the matcher gallery a split enrolls, and returns it with
// the probes: descriptors with the label of the person they show and whether
// that person is enrolled.
func (sp Split) Gallery(s *Set) (*match.Gallery, []Probe, error) {
	if sp.Every < 1 || sp.Templates < 1 {
		return nil, nil, fmt.Errorf("eval: split needs Every >= 1 and Templates >= 1, got %d and %d", sp.Every, sp.Templates)
	}
	enrolled := make(map[string]bool)
	for i, p := range s.People() {
		enrolled[p] = i%sp.Every == 0
	}
	g := match.New(s.Dim)
	used := make(map[string]int)
	var probes []Probe
	for i, v := range s.Vectors {
		l := s.Labels[i]
		if enrolled[l] && used[l] < sp.Templates {
			used[l]++
			if err := g.Add(l, v); err != nil {
				return nil, nil, fmt.Errorf("eval: enroll %s: %w", l, err)
			}
			continue
		}
		probes = append(probes, Probe{Label: l, Enrolled: enrolled[l], Vector: v})
	}
	g.Reindex()
	return g, probes, nil
}

// Probe is one descriptor presented to the gate.
type Probe struct {
	Label    string
	Enrolled bool
	Vector   []float32
	Photo    string // the photo it came from, where known
}

// Identify presents every probe to the gallery and counts the outcomes under
// the policy.
func Identify(g *match.Gallery, probes []Probe, p match.Policy) (Identification, error) {
	var r Identification
	r.Residents, r.GalleryTemplates = g.Len()
	for _, pr := range probes {
		res, err := g.Lookup(pr.Vector)
		if err != nil {
			return r, fmt.Errorf("eval: probe of %s: %w", pr.Label, err)
		}
		ok := p.Accept(res)
		if !pr.Enrolled {
			r.StrangerProbes++
			if ok {
				r.StrangersAccepts++
			}
			continue
		}
		r.ResidentProbes++
		switch {
		case !ok:
			r.Rejected++
		case res.Resident == pr.Label:
			r.CorrectAccepts++
		default:
			r.Misidentified++
		}
	}
	return r, nil
}
