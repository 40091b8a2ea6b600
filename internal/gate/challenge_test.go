package gate_test

import (
	"context"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/liveness"
)

var (
	spot    = image.Rect(200, 150, 320, 270)
	frontal = liveness.Pose{X: 0.5, Y: 0.55}
	toLeft  = liveness.Pose{X: 0.5 + liveness.TurnMin + 0.05, Y: 0.55} // the person's left: the nose towards the image-right eye
	toRight = liveness.Pose{X: 0.5 - liveness.TurnMin - 0.05, Y: 0.55}
	// leftPath is a head on its way from frontal to toLeft, a frame at a
	// time (liveness.MaxStep), not yet turned by TurnMin.
	leftPath = []liveness.Pose{{X: 0.55, Y: 0.55}, {X: 0.6, Y: 0.55}, {X: 0.65, Y: 0.55}}
)

// turnLeft shows the frames of a head turning from frontal to the edge of
// a left turn (leftPath): no decision yet.
func (fx *fixture) turnLeft(t *testing.T, face []float32, box image.Rectangle) {
	t.Helper()
	for _, p := range leftPath {
		if d := fx.posed(t, face, box, &p); d != nil {
			t.Fatalf("a head on its way to turning (pose %v): %+v, want no decision yet", p, d)
		}
	}
}

// posed shows one frame of a face at box with a head pose (nil: none).
func (fx *fixture) posed(t *testing.T, face []float32, box image.Rectangle, pose *liveness.Pose) *gate.Decision {
	t.Helper()
	fx.clock.advance(100 * time.Millisecond)
	d, err := fx.g.Face(context.Background(), gate.Observation{Time: fx.clock.now(), Face: face, Box: box, Pose: pose})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (fx *fixture) challenged(t *testing.T, face []float32, want liveness.Turn) {
	t.Helper()
	fx.posed(t, face, spot, &frontal)
	fx.posed(t, face, spot, &frontal)
	d := fx.posed(t, face, spot, &frontal)
	if d == nil || d.Outcome != gate.Turn || d.Reason != gate.TurnPrompt(want) || d.Resident != "" {
		t.Fatalf("a resident's face, challenge on: %+v, want %q, naming nobody", d, gate.TurnPrompt(want))
	}
}

func challengeEntries(t *testing.T, fx *fixture) int {
	n := 0
	for _, e := range accessEntries(fx.audit(t)) {
		if strings.Contains(e.Detail, "presentation attack suspected layer=challenge score=") {
			if e.Outcome != "denied" {
				t.Errorf("challenge audit entry %+v, want denied", e)
			}
			n++
		}
	}
	return n
}

// TestHeadTurnChallenge (issue 14): with the challenge on, a face the gate
// would let in is asked to turn its head the way chosen at random, and let
// in only when two frames of the same face, still the resident's, show
// that turn in time. A photo that keeps its pose, a turn the wrong way, a
// face that moves away and another person's head turning in its place are
// refused as suspected presentation attacks.
func TestHeadTurnChallenge(t *testing.T) {
	turn := liveness.TurnLeft
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Challenge: true, Turn: func() liveness.Turn { return turn }})
	a, b := fx.ids["a"], fx.ids["b"]
	next := func() { fx.clock.advance(10 * time.Second); fx.posed(t, nil, image.Rectangle{}, nil) }

	// The resident turns as asked.
	fx.challenged(t, fx.people[a], liveness.TurnLeft)
	fx.turnLeft(t, fx.people[a], spot)
	if d := fx.posed(t, fx.people[a], spot.Add(image.Pt(4, 2)), &toLeft); d != nil {
		t.Fatalf("one turned frame: %+v, want no decision yet", d)
	}
	if d := fx.posed(t, fx.people[a], spot.Add(image.Pt(8, 3)), &toLeft); d == nil || d.Outcome != gate.Granted || d.Resident != a {
		t.Fatalf("two turned frames: %+v, want a granted", d)
	}
	fx.waitOpened(t, 1)

	// A photo: its pose does not change, however long it is held.
	next()
	fx.challenged(t, fx.people[a], liveness.TurnLeft)
	var refused []*gate.Decision
	for range 60 {
		if d := fx.posed(t, fx.people[a], spot, &frontal); d != nil {
			refused = append(refused, d)
		}
	}
	if len(refused) != 1 || refused[0].Outcome != gate.Denied || refused[0].Reason != gate.ReasonPresentation {
		t.Fatalf("a photo held for 6 s: %+v, want one denial %q", refused, gate.ReasonPresentation)
	}

	// A turn the wrong way.
	next()
	turn = liveness.TurnRight
	fx.challenged(t, fx.people[a], liveness.TurnRight)
	for range 60 {
		if d := fx.posed(t, fx.people[a], spot, &toLeft); d != nil && d.Outcome == gate.Granted {
			t.Fatalf("a left turn passed a right challenge: %+v", d)
		}
	}

	// Another person's head, turning as asked where the resident's photo was.
	next()
	fx.challenged(t, fx.people[a], liveness.TurnRight)
	if d := fx.posed(t, fx.people[b], spot, &toRight); d == nil || d.Outcome != gate.Denied {
		t.Fatalf("b's turned head in the place of a's photo: %+v, want denied", d)
	}

	// The photo swapped for its mirror image: the pose jumps.
	next()
	turn = liveness.TurnLeft
	fx.challenged(t, fx.people[a], liveness.TurnLeft)
	if d := fx.posed(t, fx.people[a], spot, &toLeft); d == nil || d.Outcome != gate.Denied || d.Reason != gate.ReasonPresentation {
		t.Fatalf("the photo's mirror image: %+v, want denied at once: %q", d, gate.ReasonPresentation)
	}

	// Another person's frontal face put in the photo's place, then
	// turning: the descriptor jumps.
	next()
	fx.challenged(t, fx.people[a], liveness.TurnLeft)
	if d := fx.posed(t, fx.people[b], spot, &frontal); d == nil || d.Outcome != gate.Denied {
		t.Fatalf("another face in the photo's place: %+v, want denied at once", d)
	}

	// The challenged face moves away (swapped for something elsewhere).
	turn = liveness.TurnRight
	next()
	fx.challenged(t, fx.people[a], liveness.TurnRight)
	if d := fx.posed(t, fx.people[a], spot.Add(image.Pt(300, 0)), &toRight); d == nil || d.Outcome != gate.Denied {
		t.Fatalf("the face jumped elsewhere: %+v, want denied", d)
	}

	// Frames whose landmarks give no pose (dlib's detector) cannot be
	// challenged: refused.
	next()
	fx.posed(t, fx.people[a], spot, nil)
	fx.posed(t, fx.people[a], spot, nil)
	if d := fx.posed(t, fx.people[a], spot, nil); d == nil || d.Outcome != gate.Denied || d.Reason != gate.ReasonPresentation {
		t.Fatalf("no poses: %+v, want denied", d)
	}

	fx.waitOpened(t, 1)
	if n := challengeEntries(t, fx); n != 7 {
		t.Errorf("%d audit entries for failed challenges, want 7", n)
	}
	for _, e := range fx.audit(t) {
		if strings.Contains(e.Detail, "turn your head") {
			t.Errorf("a prompt was audited: %+v", e)
		}
	}
}

// TestChallengeEndsWithTheMode: a change of face mode cancels a challenge.
func TestChallengeEndsWithTheMode(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Challenge: true, Turn: func() liveness.Turn { return liveness.TurnLeft }})
	a := fx.ids["a"]
	fx.challenged(t, fx.people[a], liveness.TurnLeft)
	mode, p := fx.g.FaceMode()
	if err := fx.g.SetFace(calibrate.Off, p); err != nil {
		t.Fatal(err)
	}
	if err := fx.g.SetFace(mode, p); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if d := fx.posed(t, fx.people[a], spot, &toLeft); d != nil && d.Outcome == gate.Granted {
			t.Fatalf("a challenge survived a mode change: %+v", d)
		}
	}
}
