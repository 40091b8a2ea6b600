package main

import (
	"encoding/json"
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/testenv"
)

var (
	composeOnce sync.Once
	composeRec  *recognizer.Recognizer
	composeErr  error
)

// faceSpot is where a composed camera frame has the face: a person
// standing still at the camera, 640x480.
var faceSpot = image.Rect(230, 130, 410, 310)

// composed writes a 640x480 camera frame made from a shared photo, its face
// moved and scaled onto faceSpot (so that two photos of one person show the
// face where someone turning their head in place keeps it), and returns its
// path.
func composed(t *testing.T, name string) string {
	t.Helper()
	return compose(t, name, false)
}

// mirrored is composed with the photo flipped left to right: the same
// person with her head turned the other way.
func mirrored(t *testing.T, name string) string {
	t.Helper()
	return compose(t, name, true)
}

func compose(t *testing.T, name string, flip bool) string {
	t.Helper()
	composeOnce.Do(func() {
		composeRec, composeErr = recognizer.Load(testenv.Models(t), recognizer.Options{Detector: recognizer.DetectorYuNet})
	})
	if composeErr != nil {
		t.Fatalf("recognizer with the yunet detector: %v (run make setup)", composeErr)
	}
	m, err := recognizer.DecodeImage(testenv.Photo(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if flip {
		gocv.Flip(m, &m, 1)
	}
	faces, err := composeRec.Faces(m)
	if err != nil || len(faces) != 1 {
		t.Fatalf("%s: %d faces, %v; want one", name, len(faces), err)
	}
	b := faces[0].Rect
	k := float32(faceSpot.Dx()) / float32(b.Dx())
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: float32(b.Min.X), Y: float32(b.Min.Y)}, {X: float32(b.Max.X), Y: float32(b.Min.Y)}, {X: float32(b.Min.X), Y: float32(b.Max.Y)}})
	defer src.Close()
	x0, y0 := float32(faceSpot.Min.X), float32(faceSpot.Min.Y)
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: x0, Y: y0}, {X: x0 + float32(b.Dx())*k, Y: y0}, {X: x0, Y: y0 + float32(b.Dy())*k}})
	defer dst.Close()
	a := gocv.GetAffineTransform2f(src, dst)
	defer a.Close()
	out := gocv.NewMat()
	defer out.Close()
	gocv.WarpAffine(m, &out, a, image.Pt(640, 480))
	suffix := "-at-camera.jpg"
	if flip {
		suffix = "-mirrored-at-camera.jpg"
	}
	path := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".jpg")+suffix)
	if ok := gocv.IMWrite(path, out); !ok {
		t.Fatalf("write %s", path)
	}
	return path
}

// turnFrames is a head turning from the frame at path from to the frame at
// path to, as a camera sees a slow turn: a cross-fade in steps (the pose
// moves by under 0.1 a step), ending on to, shown twice. (The head-turn
// challenge refuses a jump: a photo swapped for another.)
func turnFrames(t *testing.T, from, to string, steps int) []string {
	t.Helper()
	a, b := gocv.IMRead(from, gocv.IMReadColor), gocv.IMRead(to, gocv.IMReadColor)
	defer a.Close()
	defer b.Close()
	if a.Empty() || b.Empty() {
		t.Fatalf("read %s, %s", from, to)
	}
	dir := t.TempDir()
	var out []string
	for i := 1; i <= steps; i++ {
		m := gocv.NewMat()
		w := float64(i) / float64(steps)
		gocv.AddWeighted(a, 1-w, b, w, 0, &m)
		p := filepath.Join(dir, fmt.Sprintf("turn-%02d.jpg", i))
		ok := gocv.IMWrite(p, m)
		m.Close()
		if !ok {
			t.Fatalf("write %s", p)
		}
		out = append(out, p)
	}
	return append(out, to)
}

// challengeFrames are camera frames of one person for the head-turn
// challenge, her face in one place: nearly frontal (bona4, Pose X 0.57 as
// composed here), her head turned to her left (bona2 mirrored, 0.79) and to
// her right (bona2, 0.20). (Other same-person photos in the shared set turn
// less than liveness.TurnMin once composed: jimin7 is 0.17 in its own
// photo and 0.43 here.)
func challengeFrames(t *testing.T) (front, left, right string) {
	t.Helper()
	return composed(t, "bona4.jpg"), mirrored(t, "bona2.jpg"), composed(t, "bona2.jpg")
}

// TestHeadTurnChallengeOnTheRealBinary (issue 14): with face.challenge on,
// a resident's face is asked at the door to turn left or right; turning as
// asked (another photo of her, her head turned that way, in the same place)
// opens the door; the frontal photo held still is refused after the time
// to turn, audited as a suspected presentation attack, and the door stays
// shut.
func TestHeadTurnChallengeOnTheRealBinary(t *testing.T) {
	front, left, right := challengeFrames(t)
	// Each photo is 2 frames (not the rig's 4): the turn's 9 frames then
	// take under a second of the 5 s the gate allows, even on a busy test
	// machine.
	r := startRigWith(t, map[string]string{"face.challenge": "true", "camera.repeat": "2", "face.challenge_time": `"8s"`})
	id := r.addResident("Bona", "7101", "1234")
	r.gated("face", "enroll", id, "--photo", front, "--photo", left, "--photo", right, "--consent", "paper")
	lines, _ := r.watch("--json")
	var d struct{ Outcome, Reason, Resident string }
	read := func(l string) {
		t.Helper()
		d.Outcome, d.Reason, d.Resident = "", "", ""
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
	}

	r.drainOpens()
	r.showFile(front)
	r.showFile(front)
	read(r.expectLine(lines, "the resident's face", 20*time.Second, `"method":"face"`))
	if d.Outcome != string(gate.Turn) || !strings.HasPrefix(d.Reason, "turn your head to your ") || d.Resident != "" {
		t.Fatalf("a resident's face with the challenge on: %+v, want a turn asked, naming nobody", d)
	}
	r.expectShut("asked to turn", 500*time.Millisecond)
	turned := left
	if strings.HasSuffix(d.Reason, "right") {
		turned = right
	}
	for _, f := range turnFrames(t, front, turned, 8) {
		r.showFile(f)
		time.Sleep(100 * time.Millisecond)
	}
	read(r.expectLine(lines, "the turned head", 20*time.Second, `"method":"face"`))
	if d.Outcome != "granted" || d.Resident != id {
		t.Fatalf("turned as asked: %+v, want granted to %s", d, id)
	}
	r.expectOpen("turned as asked", 5*time.Second)

	// The frontal photo held still past the time to turn.
	time.Sleep(2500 * time.Millisecond) // the cooldown
	r.showFile(blankFrame(t))
	time.Sleep(300 * time.Millisecond)
	r.drainOpens()
	r.showFile(front)
	r.showFile(front)
	read(r.expectLine(lines, "the photo", 20*time.Second, `"method":"face"`))
	if d.Outcome != string(gate.Turn) {
		t.Fatalf("the photo: %+v, want a turn asked", d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for d.Outcome == string(gate.Turn) || d.Outcome == "" {
		if time.Now().After(deadline) {
			t.Fatal("the photo held still was not refused within 15 s")
		}
		r.showFile(front)
		select {
		case l := <-lines:
			if strings.Contains(l, `"method":"face"`) {
				read(l)
			}
		case <-time.After(500 * time.Millisecond):
		}
	}
	if d.Outcome != "denied" || d.Reason != gate.ReasonPresentation {
		t.Fatalf("the photo held still: %+v, want denied: %q", d, gate.ReasonPresentation)
	}
	r.expectShut("the photo held still", time.Second)
	if audit := r.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, "presentation attack suspected layer=challenge") {
		t.Errorf("the refused photo is not audited as a suspected attack:\n%s", audit)
	}
}
