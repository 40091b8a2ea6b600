package gate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
)

// Red team (issue 14), fixed. One photo held up: after PAD refuses it, the same
// track, never leaving the camera, gets a fresh PAD decision every Frames
// frames, for as long as it stays. A presentation whose frames look live
// two times in three (hand shake, a tilt that hides the sheet's corner)
// opens the door on the next window, within the same visit and while the
// PAD alarm stands.
func TestRefusedFaceDecidesNothingMore(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	var ds []*gate.Decision
	seq := []*liveness.Frame{
		&attackFrame, &attackFrame, &attackFrame, // refused: told once
		&attackFrame, &attackFrame, &attackFrame, // refused silently
		&attackFrame, &attackFrame, &attackFrame, // refused silently: the alarm is raised
		&attackFrame, &liveFrame, &liveFrame, // the same photo, two lucky frames
	}
	for i, f := range seq {
		if d := fx.padFrame(t, fx.people[a], f); d != nil {
			t.Logf("frame %d: %s %s", i+1, d.Outcome, d.Reason)
			ds = append(ds, d)
		}
	}
	t.Logf("Alarms() = %v", fx.g.Alarms())
	if len(ds) != 1 {
		t.Errorf("one photo held up for 12 frames: %d decisions, want one refusal", len(ds))
	}
	if last := ds[len(ds)-1]; last.Outcome == gate.Granted {
		t.Errorf("one visit, never leaving the camera, refused 3 times as a photo (alarm standing: %v): frame 12 = granted %s; want no face decision for the rest of a refused track", fx.g.Alarms(), last.Resident)
	}
}

// Red team, fixed: the PAD alarm ("someone may be trying to get in with a
// picture", 3 refusals in 10 minutes) is raised by ONE presentation held
// for under a second (3 windows of one track), or by one live resident
// whom PAD refuses a few windows in a row (BPCER 5% a decision) while
// they stand at the camera.
func TestOnePresentationIsOneRefusal(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	told := 0
	for range 9 { // 0.9 s
		if d := fx.padFrame(t, fx.people[a], &attackFrame); d != nil {
			told++
		}
	}
	al := fx.g.Alarms()
	t.Logf("one track of 9 frames: told %d times, Alarms() = %v", told, al)
	if slices.ContainsFunc(al, func(s string) bool { return strings.Contains(s, "photos or screens") }) {
		t.Errorf("one presentation held 0.9 s (one track, told %d time) raised the PAD alarm %q; want the alarm counted per track (3 tracks refused)", told, al)
	}
}

// Red team, fixed: a photo told "face not recognised" first (the first window,
// brought into position, was a little off) and then recognised and
// refused by PAD in the same track is never audited as a suspected
// presentation attack: the "told" flag is shared, and a refusal that is
// not told is not recorded.
func TestRefusalAfterNotRecognisedIsAudited(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	pa, s := fx.people[a], fx.strange
	mix := func(l float32) []float32 {
		v := make([]float32, len(pa))
		for i := range v {
			v[i] = (1-l)*pa[i] + l*s[i]
		}
		return v
	}
	// The least mix of the stranger that a's face is not accepted at.
	var far []float32
	for l := float32(0.05); l <= 1; l += 0.05 {
		r, err := fx.gallery.Lookup(mix(l))
		if err != nil {
			t.Fatal(err)
		}
		if !testPolicy.Accept(r) {
			far = mix(l)
			t.Logf("mix %.2f: nearest %s at %.3f margin %.3f: not accepted; %.3f from a's probe", l, r.Resident, r.Distance, r.Margin(), match.Distance(far, pa))
			break
		}
	}
	if far == nil || match.Distance(far, pa) >= testPolicy.Threshold {
		t.Fatalf("no mix both rejected and within the track's jump of a's probe")
	}
	for _, f := range [][]float32{far, far, far, pa, pa, pa, pa, pa, pa} {
		if d := fx.padFrame(t, f, &attackFrame); d != nil {
			t.Logf("decision: %s %q", d.Outcome, d.Reason)
			if d.Outcome == gate.Granted {
				t.Fatalf("a photo let in: %+v", d)
			}
		}
	}
	n := 0
	for _, e := range accessEntries(fx.audit(t)) {
		t.Logf("audit: %s %s", e.Outcome, e.Detail)
		if strings.Contains(e.Detail, "presentation attack suspected") {
			n++
		}
	}
	if n == 0 {
		t.Errorf("a photo of a recognised and refused by PAD (after a first window not recognised) left no \"presentation attack suspected\" audit entry")
	}
}
