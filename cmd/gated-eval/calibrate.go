package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
)

// calibration is what calibrate chose from one model's 1:N gallery, and
// what the held-out people did under it.
type calibration struct {
	Model  string
	Target float64
	// TooSmall says why the gallery was too small to calibrate; "" when
	// it was not, and Decision and the counts below are set.
	TooSmall  string
	Decision  calibrate.Decision
	Residents int
	// Identify: the Identify option's policy on the held-out probes.
	IdentResidentProbes, IdentCorrect int
	StrangerProbes, StrangersIn       int
	// Verify: every stranger probe against every resident (a stranger
	// holding each resident's card in turn), at the Verify threshold.
	VerifyResidentProbes, VerifyAccepted int
	VerifyAttempts, VerifyStrangersIn    int
}

// minResidents is the smallest gallery calibrate fits (its default),
// named here so that the report can say it.
const minResidents = 10

// calibrateModel fits calibrate on the split's gallery alone (mapped by an
// adapter fitted on that gallery, as the device would), chooses, and
// presents the probes the gallery never saw. A gallery too small to
// calibrate is no error: the calibration says so in TooSmall, and the rest
// of the report goes on.
//
// frames is face.frames: the gate fuses that many frames into a decision,
// and calibrate estimates for fused probes (calibrate.Config.Fuse).
func calibrateModel(m eval.Model, sp eval.Split, target float64, frames int) (calibration, error) {
	s := m.Set
	if m.Adapt != nil {
		fit := &eval.Set{}
		for id, vs := range galleryTemplates(s, sp) {
			for _, v := range vs {
				fit.Add(id, v)
			}
		}
		f, err := m.Adapt(fit)
		if err != nil {
			return calibration{}, err
		}
		mapped := &eval.Set{}
		for i, v := range s.Vectors {
			w, err := f(v)
			if err != nil {
				return calibration{}, err
			}
			mapped.Add(s.Labels[i], w)
		}
		s = mapped
	}
	g, probes, err := sp.Gallery(s)
	if err != nil {
		return calibration{}, err
	}
	tm := galleryTemplates(s, sp)
	est, err := calibrate.Fit(tm, calibrate.Config{Target: target, MinResidents: minResidents, Fuse: frames})
	if errors.Is(err, calibrate.ErrTooFew) {
		return calibration{Model: m.Name, Target: target, Residents: len(tm), TooSmall: tooSmall(tm, err)}, nil
	}
	if err != nil {
		return calibration{}, err
	}
	return heldOut(calibration{Model: m.Name, Target: target, Decision: est.Choose(), Residents: est.Residents}, g, probes)
}

// heldOut presents probes the gallery never saw under the calibrated
// decision c: probes with no descriptor (the camera found no face) are
// not presented.
func heldOut(c calibration, g *match.Gallery, probes []eval.Probe) (calibration, error) {
	ip, tv := c.Decision.Identify.Policy, c.Decision.Verify.Policy.Threshold
	residents := g.Residents()
	for _, p := range probes {
		if p.Vector == nil {
			continue
		}
		r, err := g.Lookup(p.Vector)
		if err != nil {
			return calibration{}, err
		}
		ok := ip.Threshold > 0 && ip.Accept(r)
		if p.Enrolled {
			c.IdentResidentProbes++
			if ok && r.Resident == p.Label {
				c.IdentCorrect++
			}
			c.VerifyResidentProbes++
			if d, ok, _ := g.Distance(p.Label, p.Vector); ok && d < tv { // not ok: a resident the gate could not enroll
				c.VerifyAccepted++
			}
			continue
		}
		c.StrangerProbes++
		if ok {
			c.StrangersIn++
		}
		for _, id := range residents {
			c.VerifyAttempts++
			if d, _, _ := g.Distance(id, p.Vector); d < tv {
				c.VerifyStrangersIn++
			}
		}
	}
	return c, nil
}

// galleryTemplates are the templates a split enrolls: each enrolled
// person's first ones, as eval.Split.Gallery takes them.
func galleryTemplates(s *eval.Set, sp eval.Split) calibrate.Templates {
	enrolled := map[string]bool{}
	for i, p := range s.People() {
		enrolled[p] = i%sp.Every == 0
	}
	tm := calibrate.Templates{}
	for i, v := range s.Vectors {
		if l := s.Labels[i]; enrolled[l] && len(tm[l]) < sp.Templates {
			tm[l] = append(tm[l], v)
		}
	}
	return tm
}

// tooSmall says why calibrate found a gallery too small (err wraps
// calibrate.ErrTooFew) in the terms of the gallery: how many residents it
// has and how many calibrate needs.
func tooSmall(tm calibrate.Templates, err error) string {
	multi := 0
	for _, vs := range tm {
		if len(vs) >= 2 {
			multi++
		}
	}
	switch {
	case len(tm) < minResidents:
		return fmt.Sprintf("too small to calibrate: %d residents, need %d", len(tm), minResidents)
	case multi < 3:
		return fmt.Sprintf("too small to calibrate: %d residents with two or more templates, need 3", multi)
	}
	return "too small to calibrate: " + strings.TrimPrefix(err.Error(), calibrate.ErrTooFew.Error()+": ")
}
