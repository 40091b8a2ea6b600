package gate_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/liveness"
)

// Frames as liveness.Default sees them: the passive network sure of a live
// face with no bezel or sheet edges around it, and sure of a photo with a
// sheet's corner in view. (The network and cues that produce such figures
// from camera frames are tested in internal/recognizer/livenessnet.)
var (
	liveFrame   = liveness.Frame{Net: 0.98, Rect: 0.05, Wide: 0.2, WideRect: 0.1, Fill: 0.3}
	attackFrame = liveness.Frame{Net: 0.001, Rect: 0.6, Wide: 0.7, WideRect: 0.5, Fill: 0.3}
)

func (fx *fixture) padFrame(t *testing.T, face []float32, lf *liveness.Frame) *gate.Decision {
	t.Helper()
	fx.clock.advance(100 * time.Millisecond)
	d, err := fx.g.Face(context.Background(), gate.Observation{Time: fx.clock.now(), Face: face, Liveness: lf})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPresentationAttackIsRefused (issue 14): with PAD, a resident's face
// judged live opens the door; the same face judged a photo is refused once
// for the track with "please use your card or PIN", audited as a suspected
// attack with the layer and score, and never opens the door; a frame PAD
// could not judge fails closed; repeated attempts raise an alarm.
func TestPresentationAttackIsRefused(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	watch, stop := fx.g.Subscribe()
	defer stop()
	if !fx.g.WantsLiveness() {
		t.Fatal("WantsLiveness() = false with PAD in Identify mode")
	}
	for _, f := range []*liveness.Frame{&liveFrame, &liveFrame} {
		if d := fx.padFrame(t, fx.people[a], f); d != nil {
			t.Fatalf("decision before 3 frames: %+v", d)
		}
	}
	if d := fx.padFrame(t, fx.people[a], &liveFrame); d == nil || d.Outcome != gate.Granted || d.Resident != a {
		t.Fatalf("a live face: %+v, want granted", d)
	}
	fx.waitOpened(t, 1)

	fx.clock.advance(10 * time.Second) // past the cooldown, a new visit
	fx.padFrame(t, nil, nil)
	var told []*gate.Decision
	for range 9 { // one photo held up for 9 frames: one word
		if d := fx.padFrame(t, fx.people[a], &attackFrame); d != nil {
			told = append(told, d)
		}
	}
	if len(told) != 1 || told[0].Outcome != gate.Denied || told[0].Reason != gate.ReasonPresentation || told[0].Resident != "" {
		t.Fatalf("a photo of a: %+v, want one denial saying %q, naming nobody", told, gate.ReasonPresentation)
	}
	// One lucky live-looking frame among photos does not carry them.
	fx.padFrame(t, nil, nil)
	fx.padFrame(t, fx.people[a], &attackFrame)
	fx.padFrame(t, fx.people[a], &liveFrame)
	if d := fx.padFrame(t, fx.people[a], &attackFrame); d == nil || d.Outcome != gate.Denied {
		t.Fatalf("two photo frames and one live one: %+v, want denied", d)
	}
	// No figures for a frame (the layer failed): closed.
	fx.padFrame(t, nil, nil)
	fx.padFrame(t, fx.people[a], &liveFrame)
	fx.padFrame(t, fx.people[a], nil)
	if d := fx.padFrame(t, fx.people[a], &liveFrame); d == nil || d.Outcome != gate.Denied {
		t.Fatalf("a frame PAD could not judge: %+v, want denied", d)
	}
	fx.waitOpened(t, 1) // still only the live face's

	n := 0
	for _, e := range accessEntries(fx.audit(t)) {
		if strings.Contains(e.Detail, "presentation attack suspected layer="+liveness.Model+" score=") {
			n++
			if e.Outcome != "denied" || !strings.Contains(e.Detail, gate.ReasonPresentation) {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d audit entries for suspected attacks, want 3", n)
	}
	if al := fx.g.Alarms(); !slices.ContainsFunc(al, func(s string) bool { return strings.Contains(s, "photos or screens") }) {
		t.Errorf("Alarms() = %v after 3 refused presentations, want the PAD alarm", al)
	}
	// And `gated watch` saw it raised, once.
	raised := 0
	for len(watch) > 0 {
		if d := <-watch; d.Outcome == gate.AlarmRaised {
			raised++
			if d.Method != gate.MethodDoor || d.Reader != gate.AlarmPresentation || !strings.Contains(d.Reason, "photos or screens") {
				t.Errorf("alarm in the decision stream: %+v", d)
			}
		}
	}
	if raised != 1 {
		t.Errorf("%d alarms in the decision stream after 3 refused presentations, want 1", raised)
	}

	// Its time up, the alarm ends: audited with how long it stood (so the
	// report pairs it), sent to watch, gone from status. Not before.
	fx.g.EndPADAlarm()
	if len(watch) != 0 {
		t.Errorf("the PAD alarm ended before its time: %+v", <-watch)
	}
	fx.clock.advance(31 * time.Minute)
	fx.g.EndPADAlarm()
	fx.g.EndPADAlarm() // once only
	var ends []gate.Decision
	for len(watch) > 0 {
		if d := <-watch; d.Outcome == gate.AlarmCleared {
			ends = append(ends, d)
		}
	}
	if len(ends) != 1 || ends[0].Reader != gate.AlarmPresentation || !strings.Contains(ends[0].Reason, "ended after 30m0s") {
		t.Errorf("decision stream when the PAD alarm's time is up: %+v, want one end after 30m0s", ends)
	}
	if al := fx.g.Alarms(); slices.ContainsFunc(al, func(s string) bool { return strings.Contains(s, "photos or screens") }) {
		t.Errorf("Alarms() = %v after the PAD alarm ended", al)
	}
	var started, cleared int
	for _, e := range fx.audit(t) {
		if strings.HasPrefix(e.Detail, "alarm="+gate.AlarmPresentation) {
			switch e.Outcome {
			case string(gate.AlarmRaised):
				started++
			case string(gate.AlarmCleared):
				cleared++
				if !strings.Contains(e.Detail, "lasted=30m0s") {
					t.Errorf("end of the PAD alarm audited as %q, want lasted=30m0s", e.Detail)
				}
			}
		}
	}
	if started != 1 || cleared != 1 {
		t.Errorf("audit: %d PAD alarm starts, %d ends; want 1 and 1", started, cleared)
	}
}

// TestNoLivenessWhileFacesAreOff: with faces off (or no PAD) the camera
// need not score frames.
func TestNoLivenessWhileFacesAreOff(t *testing.T) {
	if fx := setup(t, gate.Config{Face: true, Mode: calibrate.Off, Frames: 3, Liveness: liveness.Default}); fx.g.WantsLiveness() {
		t.Error("WantsLiveness() = true while faces are off")
	}
	if fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3}); fx.g.WantsLiveness() {
		t.Error("WantsLiveness() = true without PAD")
	}
}

// TestFrameTakenWhileFacesWereOff: a frame the camera did not score
// because faces were off when it was taken (Unjudged), arriving just after
// calibration switched faces on, is dropped, not refused and audited as a
// presentation attack; a frame PAD failed on still fails closed.
func TestFrameTakenWhileFacesWereOff(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Off, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	if err := fx.g.SetFace(calibrate.Identify, testPolicy); err != nil {
		t.Fatal(err)
	}
	fx.clock.advance(100 * time.Millisecond)
	d, err := fx.g.Face(context.Background(), gate.Observation{Time: fx.clock.now(), Face: fx.people[a], Unjudged: true})
	if err != nil || d != nil {
		t.Fatalf("Face(unjudged frame) = %+v, %v; want no decision", d, err)
	}
	for range 2 {
		if d := fx.padFrame(t, fx.people[a], &liveFrame); d != nil {
			t.Fatalf("decision before 3 judged frames: %+v", d)
		}
	}
	if d := fx.padFrame(t, fx.people[a], &liveFrame); d == nil || d.Outcome != gate.Granted {
		t.Fatalf("three live frames after an unjudged one: %+v, want granted", d)
	}
	for _, e := range accessEntries(fx.audit(t)) {
		if strings.Contains(e.Detail, "presentation attack") {
			t.Errorf("audit entry %+v for a frame PAD never judged", e)
		}
	}
}
