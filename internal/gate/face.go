package gate

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
)

// visitGap is how long without frames ends a visit.
const visitGap = 2 * time.Second

// Observation is what the camera pipeline saw in one frame: the largest
// face, or none.
type Observation struct {
	Time time.Time
	// Face is the descriptor of the largest face in the frame; nil when the
	// frame has no face.
	Face []float32
	// Box is where that face is in the frame. The gate follows a face from
	// frame to frame by its box (trackIoU): a face elsewhere is someone
	// else, whose frames are never fused with the first one's. A caller
	// that gives no boxes (the zero Rectangle) has one track a visit, split
	// only where the descriptor jumps.
	Box image.Rectangle
	// Liveness is the PAD figures of that face in this frame, when the gate
	// has PAD (Config.Liveness); nil when they could not be taken.
	Liveness *liveness.Frame
	// Unjudged says PAD was not asked about this frame because the gate
	// did not want it when the frame was taken (WantsLiveness was false:
	// faces were off). Such a frame, arriving after the mode changed, is
	// dropped, not refused as an attack; a frame PAD failed on (Liveness nil,
	// Unjudged false) still fails closed.
	Unjudged bool
	// Pose is that face's head pose (liveness.PoseOf), for the head-turn
	// challenge (Config.Challenge); nil when its landmarks give none.
	Pose *liveness.Pose
}

// What the gate tells a face it does not let in. Each is said once per
// visit of one face (or once per card, in Verify mode), at the first
// decision on Frames fused frames, so that a person standing at the camera
// gets one word and one audit entry, not one a frame.
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
//
// Frames are not judged one by one: the gate follows the face in view (a
// track: one person, by the overlap of the face's boxes and the continuity
// of its descriptors), fuses the descriptors of the track's last Frames
// frames into one probe (match.Fuse) and decides on that probe once it has
// Frames of them, and again with each frame after, on a sliding window. A
// resident whom one frame alone would not let in is let in on the
// evidence of several; frames of two people are never fused.
func (g *Gate) Face(ctx context.Context, ob Observation) (*Decision, error) {
	g.mu.Lock()
	mode, policy, ch := g.mode, g.policy, g.challenge
	g.mu.Unlock()
	if ob.Unjudged && ob.Face != nil && g.cfg.Liveness != nil && mode != calibrate.Off {
		return nil, nil // taken before faces were switched on: never judged, never counted
	}
	if ch != nil {
		return g.challengeFrame(ctx, ob, ch, policy)
	}
	switch mode {
	case calibrate.Off:
		return g.faceOff(ob), nil
	case calibrate.Verify:
		return g.verify(ctx, ob, policy)
	}
	probe, err := g.visit(ob, policy.Threshold)
	if probe == nil || err != nil {
		return nil, err
	}

	r, err := g.gallery.Lookup(probe)
	if err != nil {
		return nil, fmt.Errorf("gate: face lookup: %w", err)
	}
	now := g.cfg.Now()
	g.mu.Lock()
	if !policy.Accept(r) {
		tell := !g.told
		g.told = true
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
	if now.Before(g.cooldown[r.Resident]) {
		// Just let in and still in view: frames in the cooldown do not
		// open the door again.
		g.mu.Unlock()
		return nil, nil
	}
	if live, score := g.padVerdict(); !live {
		return g.refusePresentation(MethodFace, g.cfg.LivenessLayer, score), nil
	}
	if g.cfg.Challenge {
		return g.startChallenge(r), nil
	}
	// Let in: the next decision on this face waits for Frames new frames
	// (and, for this resident, for the cooldown).
	g.track.restart()
	g.cooldown[r.Resident] = now.Add(g.cfg.Cooldown)
	for id, until := range g.cooldown {
		if now.After(until) {
			delete(g.cooldown, id)
		}
	}
	g.mu.Unlock()

	return g.admitFace(Decision{Method: MethodFace, Resident: r.Resident, Distance: r.Distance, Margin: r.Margin(), measured: true})
}

// visit follows a visit to the camera and the face in it (follow), and
// returns the fused probe of the track's last Frames faces once it holds
// that many, else nil. jump is the accept threshold (track.follow).
func (g *Gate) visit(ob Observation, jump float32) ([]float32, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.follow(ob, jump); n < g.cfg.Frames || g.track.refused {
		return nil, nil
	}
	probe, err := match.Fuse(g.track.faces)
	if err != nil {
		return nil, fmt.Errorf("gate: fuse frames: %w", err)
	}
	return probe, nil
}

// follow adds a frame to the track and returns how many faces the track
// holds (0 for a frame without a face). A frame without a face, or a gap
// in the frames (a camera that saw nothing new), ends the visit; a face
// that is not the tracked one (track.follow) starts a new track, which is
// a new visit for what the face is told. g.mu held.
func (g *Gate) follow(ob Observation, jump float32) int {
	gap := !g.lastFrame.IsZero() && ob.Time.Sub(g.lastFrame) > visitGap
	g.lastFrame = ob.Time
	if ob.Face == nil || gap {
		g.track.end()
		g.told = false
	}
	if ob.Face == nil {
		return 0
	}
	if g.track.follow(ob.Box, ob.Face, ob.Liveness, ob.Pose, g.cfg.Frames, jump) {
		g.told = false
	}
	return len(g.track.faces)
}

// faceOff handles a frame while faces are not used: a face is told, once a
// visit, after Frames frames of it, to use card or PIN. Nothing is
// compared: the face is followed by its box alone.
func (g *Gate) faceOff(ob Observation) *Decision {
	if !g.cfg.Face {
		return nil
	}
	g.mu.Lock()
	tell := g.follow(ob, 0) >= g.cfg.Frames && !g.told
	if tell {
		g.told = true
	}
	g.mu.Unlock()
	if !tell {
		return nil
	}
	d := g.decide(Decision{Method: MethodFace, Outcome: Denied, Reason: ReasonFaceOff})
	return &d
}

// verify handles a frame in Verify mode: it opens the door only when the
// face matches the holder of the card just shown: the fused probe of Frames
// frames of one face, seen since the card, lies within the threshold of the
// holder's templates (decided again on a sliding window as frames come). A
// face that does not match is told, once for the card, that the PIN is
// needed; the card still waits for it (and for the holder's face). A face
// while no card waits does nothing.
func (g *Gate) verify(ctx context.Context, ob Observation, p match.Policy) (*Decision, error) {
	g.mu.Lock()
	pc := g.pending
	if pc != nil && g.cfg.Now().After(pc.until) {
		g.pending, pc = nil, nil
	}
	g.mu.Unlock()
	probe, err := g.visit(ob, p.Threshold)
	if pc == nil || probe == nil || err != nil {
		return nil, err
	}
	resident := pc.resident
	dist, ok, err := g.gallery.Distance(resident, probe)
	if err != nil {
		return nil, fmt.Errorf("gate: face verification: %w", err)
	}
	g.mu.Lock()
	if g.pending != pc {
		g.mu.Unlock()
		return nil, nil
	}
	if !ok || dist >= p.Threshold {
		tell := !pc.told
		pc.told = true
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
	if live, score := g.padVerdict(); !live {
		// The card still waits for its PIN.
		return g.refusePresentation(MethodCardFace, g.cfg.LivenessLayer, score), nil
	}
	g.pending = nil
	g.track.restart()
	g.mu.Unlock()
	d := g.decide(Decision{Method: MethodCardFace, Outcome: Granted, Resident: resident, Name: pc.name, Reader: pc.reader, Distance: dist, measured: true})
	return &d, nil
}
