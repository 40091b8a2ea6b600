package gate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"time"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

// Turn is the outcome that asks the face in view to turn its head (the
// head-turn challenge, Config.Challenge): not a decision yet, shown at the
// door and not audited.
const Turn Outcome = "turn"

// The head-turn challenge's words and timing.
const (
	// challengeHits is how many frames must show the turn: one frame's
	// landmarks can be off by more than liveness.TurnMin.
	challengeHits = 2
	// challengeTime is how long the face has to turn (default).
	challengeTime = 5 * time.Second
	// challengeLayer names the challenge in audit entries.
	challengeLayer = "challenge"
)

// TurnPrompt is what the face is asked: "turn your head to your left".
func TurnPrompt(t liveness.Turn) string { return "turn your head to your " + t.String() }

// challenge is a face the gate would let in (Identify mode), asked to turn
// its head one way, chosen at random.
type challenge struct {
	resident         string
	distance, margin float32
	turn             liveness.Turn
	base             liveness.Pose // the mean pose of the frames that recognised the face
	box              image.Rectangle
	until            time.Time
	hits             int
	pad              []liveness.Frame // the PAD figures of the frames that turned (Config.Liveness)
	best             float64          // the most the face turned the asked way, for the audit
	// last and lastFace are the pose and descriptor of the face's last
	// frame: each frame must follow from it (liveness.Continuous, and a
	// descriptor within the threshold), so that the turn is a path and
	// not a photo swapped for its mirror image or for another face.
	last     liveness.Pose
	lastFace []float32
}

// randomTurn picks the way to turn with crypto/rand: a photo's holder must
// not know it in advance.
func randomTurn() liveness.Turn {
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil || b[0]&1 == 0 {
		return liveness.TurnLeft
	}
	return liveness.TurnRight
}

// steadyPose is how far in Pose X the frames a challenge's baseline is
// taken from may lie from one another: a live person being recognised
// holds still (the kiosk's live capture holds its frames to the same).
// Frames that jump more are a face turning, or pictures swapped (a photo
// and its mirror image, alternated, put the mean between them and answer
// either turn): the challenge waits for steady frames.
const steadyPose = liveness.TurnMin / 2

// startChallenge asks the face the gate would let in as r to turn its
// head, instead of letting it in. The baseline is the mean pose of the
// track's frames, which must be steady (steadyPose) and all have a pose,
// else no challenge starts yet (nil: the window slides on). Frames none of
// which has a pose (dlib's detector) make the challenge impossible: the
// face is refused as unjudged. g.mu held; it is released.
func (g *Gate) startChallenge(r match.Result) *Decision {
	var base liveness.Pose
	lo, hi, posed := math.Inf(1), math.Inf(-1), 0
	for _, p := range g.track.pose {
		if p == nil {
			continue
		}
		posed++
		lo, hi = min(lo, p.X), max(hi, p.X)
		base.X += p.X / float64(len(g.track.pose))
		base.Y += p.Y / float64(len(g.track.pose))
	}
	switch {
	case posed == 0:
		return g.refusePresentation(MethodFace, challengeLayer, 0)
	case posed < len(g.track.pose) || hi-lo > steadyPose:
		g.mu.Unlock()
		return nil
	}
	turn := g.cfg.Turn()
	n := len(g.track.pose)
	g.challenge = &challenge{resident: r.Resident, distance: r.Distance, margin: r.Margin(), turn: turn, base: base,
		box: g.track.box, until: g.cfg.Now().Add(g.cfg.ChallengeTime),
		last: *g.track.pose[n-1], lastFace: slices.Clone(g.track.faces[len(g.track.faces)-1])}
	g.track.restart()
	g.mu.Unlock()
	d := g.decide(Decision{Method: MethodFace, Outcome: Turn, Reason: TurnPrompt(turn)})
	return &d
}

// challengeFrame takes a frame while a challenge runs. The frame counts
// towards the turn when its face is where the challenged face was (box
// overlap), follows from the frame before (its pose within
// liveness.MaxStep, its descriptor within the threshold: a path, not a
// jump), is still the resident's (the 1:1 distance within the threshold:
// nobody else's head can be swapped in to turn) and shows the asked turn;
// challengeHits such frames let the resident in. Time running out, the
// face leaving or changing place, or a jump refuses it as a suspected
// presentation attack. g.mu not held.
func (g *Gate) challengeFrame(ctx context.Context, ob Observation, ch *challenge, p match.Policy) (*Decision, error) {
	now := g.cfg.Now()
	g.mu.Lock()
	if g.challenge != ch {
		g.mu.Unlock()
		return nil, nil
	}
	g.lastFrame = ob.Time
	switch {
	case now.After(ch.until):
		return g.failChallenge(ch), nil
	case ob.Face == nil:
		g.mu.Unlock()
		return nil, nil // a turned head may be missed for a frame
	case !ob.Box.Empty() && !ch.box.Empty() && iou(ob.Box, ch.box) < trackIoU:
		g.track.end() // another face, or the same elsewhere: a new track
		return g.failChallenge(ch), nil
	}
	// Each frame must follow from the last: a jump in pose (a photo
	// swapped for its mirror image, or for another photo) or in
	// descriptor (another face in its place) is refused.
	if (ob.Pose != nil && !liveness.Continuous(ch.last, *ob.Pose)) || distance(ch.lastFace, ob.Face) >= p.Threshold {
		return g.failChallenge(ch), nil
	}
	if ob.Pose != nil {
		ch.last = *ob.Pose
	}
	ch.lastFace = slices.Clone(ob.Face)
	// The challenged face is followed where it goes; if it fails, it
	// stays refused until it leaves (track.refused).
	ch.box, g.track.box, g.track.last = ob.Box, ob.Box, slices.Clone(ob.Face)
	if ob.Pose != nil {
		turned := ob.Pose.X - ch.base.X
		if ch.turn == liveness.TurnRight {
			turned = -turned
		}
		ch.best = max(ch.best, turned)
	}
	g.mu.Unlock()

	if ob.Pose == nil || !liveness.Turned(ch.turn, ch.base, *ob.Pose, liveness.TurnMin) {
		return nil, nil
	}
	dist, ok, err := g.gallery.Distance(ch.resident, ob.Face)
	if err != nil {
		return nil, fmt.Errorf("gate: face verification: %w", err)
	}
	if !ok || dist >= p.Threshold {
		return nil, nil // turned, but not shown to be the same person
	}
	g.mu.Lock()
	if g.challenge != ch {
		g.mu.Unlock()
		return nil, nil
	}
	if g.cfg.Liveness != nil {
		// The frames that turn are judged as the frames that recognised
		// the face were: else a print shown to PAD while recognised and a
		// screen's clip turning for the challenge each beat the one layer
		// they are shown to. A frame PAD could not judge does not count.
		if ob.Liveness == nil {
			g.mu.Unlock()
			return nil, nil
		}
		ch.pad = append(ch.pad, *ob.Liveness)
	}
	if ch.hits++; ch.hits < challengeHits {
		g.mu.Unlock()
		return nil, nil
	}
	g.challenge = nil
	if g.cfg.Liveness != nil {
		if v, err := g.cfg.Liveness.Decide(ch.pad); err != nil || !v.Live {
			return g.refusePresentation(MethodFace, g.cfg.LivenessLayer, v.Score), nil
		}
	}
	g.track.restart()
	g.cooldown[ch.resident] = now.Add(g.cfg.Cooldown)
	g.mu.Unlock()
	return g.admitFace(Decision{Method: MethodFace, Resident: ch.resident, Distance: ch.distance, Margin: ch.margin, measured: true})
}

// failChallenge refuses a challenged face, audited with how far it turned
// the asked way. g.mu held; it is released.
func (g *Gate) failChallenge(ch *challenge) *Decision {
	g.challenge = nil
	return g.refusePresentation(MethodFace, challengeLayer, ch.best)
}

// admitFace finishes a face decision for a resident the gate accepted:
// granted unless the resident is gone or not active.
func (g *Gate) admitFace(d Decision) (*Decision, error) {
	res, err := g.st.Resident(d.Resident)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deleted since the gallery was loaded: never let in.
		d.Outcome, d.Reason = Denied, "resident no longer exists"
	case err != nil:
		return nil, fmt.Errorf("gate: resident %s: %w", d.Resident, err)
	case res.Status != store.StatusActive:
		d.Outcome, d.Name, d.Reason = Denied, res.Name, "resident is "+res.Status.String()
	case g.outside(res, "") != "":
		d.Outcome, d.Name, d.Reason = Denied, res.Name, schedule.Reason
	default:
		d.Outcome, d.Name = Granted, res.Name
	}
	out := g.decide(d)
	return &out, nil
}
