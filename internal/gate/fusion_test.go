package gate_test

import (
	"context"
	"image"
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
)

// Two places in a 640x480 frame where a face may be: boxes that do not
// overlap at all, and a box a few pixels off the first (the same person
// moving a little: IoU about 0.9).
var (
	here    = image.Rect(200, 120, 360, 300)
	nearby  = image.Rect(206, 124, 366, 304)
	thereBx = image.Rect(420, 140, 580, 320)
)

func (fx *fixture) frameAt(t *testing.T, face []float32, box image.Rectangle) *gate.Decision {
	t.Helper()
	fx.clock.advance(100 * time.Millisecond)
	d, err := fx.g.Face(context.Background(), gate.Observation{Time: fx.clock.now(), Face: face, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fusedOnly finds, among a resident's photos that are not their templates,
// three that the gate takes for one track (each within the threshold of
// the fused frames before it, so the gate does not take them for two
// people) where
// at least one photo alone is not accepted as the resident but their fused
// descriptor is. It returns them in order, and the index of one that alone
// misses.
func fusedOnly(t *testing.T, fx *fixture, id string) ([][]float32, int, bool) {
	t.Helper()
	vs := fx.photos[id][5:]
	accepted := func(v []float32) bool {
		r, err := fx.gallery.Lookup(v)
		if err != nil {
			t.Fatal(err)
		}
		return testPolicy.Accept(r) && r.Resident == id
	}
	for i := range vs {
		for j := range vs {
			for k := range vs {
				if i == j || j == k || i == k {
					continue
				}
				tri := [][]float32{vs[i], vs[j], vs[k]}
				two, err := match.Fuse(tri[:2])
				if err != nil {
					t.Fatal(err)
				}
				if match.Distance(tri[0], tri[1]) >= testPolicy.Threshold || match.Distance(tri[2], two) >= testPolicy.Threshold {
					continue
				}
				miss := -1
				for n, v := range tri {
					if !accepted(v) {
						miss = n
					}
				}
				f, err := match.Fuse(tri)
				if err != nil {
					t.Fatal(err)
				}
				if miss >= 0 && accepted(f) {
					return tri, miss, true
				}
			}
		}
	}
	return nil, 0, false
}

// TestFusedFramesLetInWhomOneFrameWouldNot: three real photos of one
// resident, one of which alone is refused (the old rule, every frame
// accepted on its own, kept this resident out), open the door once fused.
func TestFusedFramesLetInWhomOneFrameWouldNot(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3})
	var (
		id   string
		tri  [][]float32
		miss int
	)
	for _, label := range []string{"a", "b"} {
		var ok bool
		if tri, miss, ok = fusedOnly(t, fx, fx.ids[label]); ok {
			id = fx.ids[label]
			break
		}
	}
	if id == "" {
		t.Fatalf("no resident of the fixture has three photos that fusion lets in and one alone does not, under %+v", testPolicy)
	}
	// The photo that misses, alone (Frames 1), is refused.
	one, err := gate.New(gate.Config{Face: true, Mode: calibrate.Identify, Frames: 1, Policy: testPolicy, Now: fx.clock.now}, fx.st, fx.door, fx.gallery)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := one.Face(context.Background(), gate.Observation{Time: fx.clock.now(), Face: tri[miss], Box: here}); err != nil || d == nil || d.Outcome != gate.Denied {
		t.Fatalf("the missing photo alone: %+v, %v; want denied", d, err)
	}
	boxes := []image.Rectangle{here, nearby, here}
	for i := 0; i < 2; i++ {
		if d := fx.frameAt(t, tri[i], boxes[i]); d != nil {
			t.Fatalf("frame %d of 3: %+v, want no decision before 3 frames", i+1, d)
		}
	}
	d := fx.frameAt(t, tri[2], boxes[2])
	if d == nil || d.Outcome != gate.Granted || d.Resident != id || d.Method != gate.MethodFace {
		t.Fatalf("third frame (photo %d alone is refused): %+v, want granted to %s on the fused frames", miss+1, d, id)
	}
	fx.waitOpened(t, 1)
}

// TestFramesOfTwoPeopleAreNotFused: a face that lands elsewhere in the
// frame, or changes in place, starts a new track: the frames before it are
// not fused with it.
func TestFramesOfTwoPeopleAreNotFused(t *testing.T) {
	t.Run("the box jumps", func(t *testing.T) {
		fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3})
		a := fx.people[fx.ids["a"]]
		fx.frameAt(t, a, here)
		fx.frameAt(t, a, nearby)
		// The same descriptor, but elsewhere: someone else's track (the
		// descriptor being a's shows it is the box that split it).
		if d := fx.frameAt(t, a, thereBx); d != nil {
			t.Fatalf("first frame of a face elsewhere: %+v, want no decision (a new track of 1 frame)", d)
		}
		fx.frameAt(t, a, thereBx)
		if d := fx.frameAt(t, a, thereBx); d == nil || d.Outcome != gate.Granted {
			t.Fatalf("third frame of the new track: %+v, want granted", d)
		}
	})
	t.Run("a stranger takes a resident's place", func(t *testing.T) {
		fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3})
		aID := fx.ids["a"]
		a := fx.people[aID]
		// Fused with a's two frames, the stranger's frame would be let in
		// as a: that is what must not happen.
		f, err := match.Fuse([][]float32{a, a, fx.strange})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := fx.gallery.Lookup(f); !testPolicy.Accept(r) || r.Resident != aID {
			t.Fatalf("precondition: a, a and the stranger fused = %+v, not accepted as a: the test would prove nothing", r)
		}
		fx.frameAt(t, a, here)
		fx.frameAt(t, a, nearby)
		var got []*gate.Decision
		for i := 0; i < 6; i++ {
			if d := fx.frameAt(t, fx.strange, here); d != nil {
				if i != 2 {
					t.Errorf("stranger's frame %d decided %+v; want the one word at their third frame", i+1, d)
				}
				got = append(got, d)
			}
		}
		if len(got) != 1 || got[0].Outcome != gate.Denied || got[0].Reason != gate.ReasonFaceUnknown {
			t.Fatalf("a stranger in a's place: decisions %+v, want one denial", got)
		}
		if n := fx.door.opened(); n != 0 {
			t.Errorf("door opened %d times for a stranger who took a resident's place", n)
		}
	})
}

// TestFusedStrangerIsRefused: every photo of someone never enrolled, shown
// one after another at one place, in their order and then backwards: none
// of the windows the gate fuses opens the door, and the stranger is told,
// once for each track.
//
// The stranger is one whose photos, alone and fused three at a time, lie
// beyond the threshold: the fixture's own stranger is let in as b when
// three of their photos are fused at testPolicy, a single-frame threshold.
// Photos taken on different days average out far more of a face's
// variation than consecutive frames do, and pull a stranger's fused
// descriptor toward people who look alike; docs/accuracy.md ("Multi-frame
// fusion") measures by how much, and calibration must set the threshold
// for fused probes. This test checks the gate's part: the windows and
// tracks it fuses, and what it says.
func TestFusedStrangerIsRefused(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3})
	pics := farStranger(t, fx)
	var denied int
	for _, order := range [][][]float32{pics, reversed(pics)} {
		for i, v := range order {
			d := fx.frameAt(t, v, here)
			if d != nil && (d.Outcome != gate.Denied || d.Reason != gate.ReasonFaceUnknown) {
				t.Fatalf("stranger's photo %d: %+v, want denied", i, d)
			}
			if d != nil {
				denied++
			}
		}
		fx.frame(t, nil) // gone
	}
	if denied == 0 {
		t.Errorf("a stranger shown %d photos was never told to use card or PIN", 2*len(pics))
	}
	if n := fx.door.opened(); n != 0 {
		t.Errorf("door opened %d times for a stranger", n)
	}
}

// farStranger returns the photos of someone in idols.json who is not in
// the fixture, with at least 6 photos, none of which alone, and no three of
// which fused in their order (or backwards), the test policy accepts.
func farStranger(t *testing.T, fx *fixture) [][]float32 {
	t.Helper()
	set := evaltest.Idols(t)
	by := map[string][][]float32{}
	for i, l := range set.Labels {
		by[l] = append(by[l], set.Vectors[i])
	}
	refused := func(v []float32) bool {
		r, err := fx.gallery.Lookup(v)
		if err != nil {
			t.Fatal(err)
		}
		return r.Distance >= testPolicy.Threshold
	}
people:
	for _, l := range set.People() {
		vs := by[l]
		if len(vs) < 6 || slices.ContainsFunc(vs, func(v []float32) bool { return !refused(v) }) {
			continue
		}
		for _, order := range [][][]float32{vs, reversed(vs)} {
			for i := 0; i+3 <= len(order); i++ {
				f, err := match.Fuse(order[i : i+3])
				if err != nil {
					t.Fatal(err)
				}
				if !refused(f) {
					continue people
				}
			}
		}
		return vs
	}
	t.Fatalf("no one in idols.json whom %+v refuses alone and fused", testPolicy)
	return nil
}

// TestVerifyFusesFramesSinceTheCard: in Verify mode the holder's face is
// fused from the frames after the card, not before.
func TestVerifyFusesFramesSinceTheCard(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Frames: 3, CardNeedsPIN: true, Mode: calibrate.Verify})
	a := fx.people[fx.ids["a"]]
	ctx := context.Background()
	fx.frameAt(t, a, here)
	fx.frameAt(t, a, here)
	if _, err := fx.g.Reader(ctx, card("100a")); err != nil {
		t.Fatal(err)
	}
	if d := fx.frameAt(t, a, here); d != nil {
		t.Fatalf("first frame after the card: %+v, want no decision (frames before the card do not count)", d)
	}
	fx.frameAt(t, a, here)
	if d := fx.frameAt(t, a, here); d == nil || d.Outcome != gate.Granted || d.Method != gate.MethodCardFace {
		t.Fatalf("third frame after the card: %+v, want granted card+face", d)
	}
}

func reversed(vs [][]float32) [][]float32 {
	out := slices.Clone(vs)
	slices.Reverse(out)
	return out
}
