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

// What the gate tells a face it does not let in. Each is said once per
// visit (or per card, in Verify mode), after Frames consecutive frames, so
// that a person standing at the camera gets one word and one audit entry,
// not one a frame.
const (
	// ReasonFaceUnknown: Identify mode, a face that is nobody's.
	ReasonFaceUnknown = "face not recognised: please use your card or PIN"
	// ReasonFaceNotConfirmed: Verify mode, a face that is not the holder
	// of the card just shown; the card still waits for its PIN.
	ReasonFaceNotConfirmed = "face not confirmed: enter your PIN"
	// ReasonFaceOff: faces are not used now (calibration chose Off).
	ReasonFaceOff = "face recognition is not in use at this gate: use your card or PIN"
)

// Face takes one frame's observation. It returns a decision when one was
// made (the door opened, or a face was told why not and what to do), else
// nil.
func (g *Gate) Face(ctx context.Context, ob Observation) (*Decision, error) {
	g.mu.Lock()
	mode, policy := g.mode, g.policy
	g.mu.Unlock()
	switch mode {
	case calibrate.Off:
		return g.faceOff(ob), nil
	case calibrate.Verify:
		return g.verify(ctx, ob, policy)
	}
	if !g.visit(ob) {
		return nil, nil
	}

	r, err := g.gallery.Lookup(ob.Face)
	if err != nil {
		return nil, fmt.Errorf("gate: face lookup: %w", err)
	}
	now := g.cfg.Now()
	g.mu.Lock()
	if !policy.Accept(r) {
		g.streak = streak{}
		tell := g.tellUnknown()
		g.mu.Unlock()
		if !tell {
			return nil, nil
		}
		// The distance to the nearest resident, for staff tuning the
		// threshold; who that resident is stays unsaid. (An empty gallery
		// has no nearest resident, and no distance.)
		d := Decision{Method: MethodFace, Outcome: Denied, Reason: ReasonFaceUnknown}
		if r.Resident != "" {
			d.Distance, d.Margin, d.measured = r.Distance, r.Margin(), true
		}
		d = g.decide(d)
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

	d := Decision{Method: MethodFace, Resident: r.Resident, Distance: r.Distance, Margin: r.Margin(), measured: true}
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

// visit follows a visit to the camera: a frame without a face, or a gap in
// the frames (a camera that saw nothing new), ends one, and the next face
// starts afresh. It reports whether the frame has a face.
func (g *Gate) visit(ob Observation) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	gap := !g.lastFrame.IsZero() && ob.Time.Sub(g.lastFrame) > visitGap
	g.lastFrame = ob.Time
	if ob.Face == nil || gap {
		g.streak, g.unknown, g.told = streak{}, 0, false
	}
	return ob.Face != nil
}

// tellUnknown counts a frame whose face opens nothing and reports whether
// to say so now: once a visit, after Frames such frames in a row. g.mu
// held.
func (g *Gate) tellUnknown() bool {
	g.unknown++
	if g.unknown < g.cfg.Frames || g.told {
		return false
	}
	g.told = true
	return true
}

// faceOff handles a frame while faces are not used: a face is told, once a
// visit, to use card or PIN. Nothing is compared.
func (g *Gate) faceOff(ob Observation) *Decision {
	if !g.cfg.Face || !g.visit(ob) {
		return nil
	}
	g.mu.Lock()
	tell := g.tellUnknown()
	g.mu.Unlock()
	if !tell {
		return nil
	}
	d := g.decide(Decision{Method: MethodFace, Outcome: Denied, Reason: ReasonFaceOff})
	return &d
}

// verify handles a frame in Verify mode: it opens the door only when the
// face matches the holder of the card just shown, in enough consecutive
// frames. A face that does not match in as many frames is told, once for
// the card, that the PIN is needed; the card still waits for it (and for
// the holder's face). A face while no card waits does nothing.
func (g *Gate) verify(ctx context.Context, ob Observation, p match.Policy) (*Decision, error) {
	g.mu.Lock()
	pc := g.pending
	if pc != nil && g.cfg.Now().After(pc.until) {
		g.pending, pc = nil, nil
	}
	if pc == nil || ob.Face == nil {
		if pc != nil {
			pc.n, pc.miss = 0, 0
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
		pc.miss++
		tell := pc.miss >= g.cfg.Frames && !pc.told
		if tell {
			pc.told = true
		}
		g.mu.Unlock()
		if !tell {
			return nil, nil
		}
		// ok is false when the holder has no face data: nothing was
		// compared.
		d := g.decide(Decision{Method: MethodCardFace, Outcome: Denied, Resident: resident, Name: pc.name, Reader: pc.reader,
			Reason: ReasonFaceNotConfirmed, Distance: dist, measured: ok})
		return &d, nil
	}
	pc.miss = 0
	pc.n++
	if pc.n < g.cfg.Frames {
		g.mu.Unlock()
		return nil, nil
	}
	g.pending = nil
	g.mu.Unlock()
	d := g.decide(Decision{Method: MethodCardFace, Outcome: Granted, Resident: resident, Name: pc.name, Reader: pc.reader, Distance: dist, measured: true})
	return &d, nil
}
