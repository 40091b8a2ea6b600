package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/store"
)

// visitGap is how long without frames ends a visit.
const visitGap = 2 * time.Second

// Observation is what the camera pipeline saw in one frame: the descriptor
// of the largest face, or none.
type Observation struct {
	Time time.Time
	// Face is the descriptor of the largest face in the frame; nil when the
	// frame has no face.
	Face []float32
}

// Face takes one frame's observation. It returns a decision when one was
// made (the door opened, or an unknown face was told to use card or PIN),
// else nil.
func (g *Gate) Face(ctx context.Context, ob Observation) (*Decision, error) {
	g.mu.Lock()
	mode, policy := g.mode, g.policy
	g.mu.Unlock()
	switch mode {
	case calibrate.Off:
		return nil, nil
	case calibrate.Verify:
		return g.verify(ctx, ob, policy)
	}
	g.mu.Lock()
	// A frame without a face, or a gap in the frames (a camera that saw
	// nothing new), ends a visit: the next face starts afresh.
	gap := !g.lastFrame.IsZero() && ob.Time.Sub(g.lastFrame) > visitGap
	g.lastFrame = ob.Time
	if ob.Face == nil || gap {
		g.streak, g.unknown, g.told = streak{}, 0, false
	}
	if ob.Face == nil {
		g.mu.Unlock()
		return nil, nil
	}
	g.mu.Unlock()

	r, err := g.gallery.Lookup(ob.Face)
	if err != nil {
		return nil, fmt.Errorf("gate: face lookup: %w", err)
	}
	now := g.cfg.Now()
	g.mu.Lock()
	if !policy.Accept(r) {
		g.streak = streak{}
		g.unknown++
		tell := g.unknown >= g.cfg.Frames && !g.told
		if tell {
			g.told = true
		}
		g.mu.Unlock()
		if !tell {
			return nil, nil
		}
		d := g.decide(Decision{Method: MethodFace, Outcome: Denied, Reason: "face not recognised: please use your card or PIN"})
		return &d, nil
	}
	g.unknown, g.told = 0, false
	if now.Before(g.cooldown[r.Resident]) {
		// Just let in and still in view: frames in the cooldown do not
		// count towards opening again.
		g.streak = streak{}
		g.mu.Unlock()
		return nil, nil
	}
	if g.streak.resident != r.Resident {
		g.streak = streak{resident: r.Resident}
	}
	g.streak.n++
	if g.streak.n < g.cfg.Frames {
		g.mu.Unlock()
		return nil, nil
	}
	g.streak = streak{}
	g.cooldown[r.Resident] = now.Add(g.cfg.Cooldown)
	for id, until := range g.cooldown {
		if now.After(until) {
			delete(g.cooldown, id)
		}
	}
	g.mu.Unlock()

	d := Decision{Method: MethodFace, Resident: r.Resident, Distance: r.Distance, Margin: r.Margin()}
	res, err := g.st.Resident(r.Resident)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deleted since the gallery was loaded: never let in.
		d.Outcome, d.Reason = Denied, "resident no longer exists"
	case err != nil:
		return nil, fmt.Errorf("gate: resident %s: %w", r.Resident, err)
	case res.Status != store.StatusActive:
		d.Outcome, d.Name, d.Reason = Denied, res.Name, "resident is "+res.Status.String()
	default:
		d.Outcome, d.Name = Granted, res.Name
	}
	out := g.decide(d)
	return &out, nil
}

// verify handles a frame in Verify mode: it opens the door only when the
// face matches the holder of the card just shown, in enough consecutive
// frames; a face alone does nothing.
func (g *Gate) verify(ctx context.Context, ob Observation, p match.Policy) (*Decision, error) {
	g.mu.Lock()
	pc := g.pending
	if pc != nil && g.cfg.Now().After(pc.until) {
		g.pending, pc = nil, nil
	}
	if pc == nil || ob.Face == nil {
		if pc != nil {
			pc.n = 0
		}
		g.mu.Unlock()
		return nil, nil
	}
	resident := pc.resident
	g.mu.Unlock()
	dist, ok, err := g.gallery.Distance(resident, ob.Face)
	if err != nil {
		return nil, fmt.Errorf("gate: face verification: %w", err)
	}
	g.mu.Lock()
	if g.pending != pc {
		g.mu.Unlock()
		return nil, nil
	}
	if !ok || dist >= p.Threshold {
		pc.n = 0
		g.mu.Unlock()
		return nil, nil
	}
	pc.n++
	if pc.n < g.cfg.Frames {
		g.mu.Unlock()
		return nil, nil
	}
	g.pending = nil
	g.mu.Unlock()
	d := g.decide(Decision{Method: MethodCardFace, Outcome: Granted, Resident: resident, Name: pc.name, Reader: pc.reader, Distance: dist})
	return &d, nil
}
