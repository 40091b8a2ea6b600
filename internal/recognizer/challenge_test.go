package recognizer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer"
)

// target is where a composed camera frame has the face: a resident
// standing at the kiosk, 640x480.
var target = image.Rect(230, 130, 410, 310)

// frame is a camera frame and the faces the gate's recognizer finds in it.
type frame struct {
	mat   gocv.Mat
	faces []recognizer.Face
}

// camera composes a 640x480 camera frame from a shared photo, the face
// moved and scaled onto target (two photos of one person then show the
// face where a resident holding still would keep it), and finds its faces.
func camera(t *testing.T, r *recognizer.Recognizer, name string) frame {
	t.Helper()
	m := decode(t, name)
	defer m.Close()
	faces, err := r.Faces(m)
	if err != nil || len(faces) != 1 {
		t.Fatalf("%s: %d faces, %v; want one", name, len(faces), err)
	}
	b := faces[0].Rect
	k := float64(target.Dx()) / float64(b.Dx())
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: float32(b.Min.X), Y: float32(b.Min.Y)}, {X: float32(b.Max.X), Y: float32(b.Min.Y)}, {X: float32(b.Min.X), Y: float32(b.Max.Y)}})
	defer src.Close()
	x0, y0 := float32(target.Min.X), float32(target.Min.Y)
	side := float32(float64(b.Dx()) * k)
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: x0, Y: y0}, {X: x0 + side, Y: y0}, {X: x0, Y: y0 + float32(float64(b.Dy())*k)}})
	defer dst.Close()
	a := gocv.GetAffineTransform2f(src, dst)
	defer a.Close()
	out := gocv.NewMat()
	gocv.WarpAffine(m, &out, a, image.Pt(640, 480))
	return find(t, r, out, name)
}

func find(t *testing.T, r *recognizer.Recognizer, m gocv.Mat, name string) frame {
	t.Helper()
	t.Cleanup(func() { m.Close() })
	faces, err := r.Faces(m)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return frame{m, faces}
}

// tilted is f's picture as a flat print or screen held at an angle: the
// homography taking the frame's corners to dst.
func tilted(t *testing.T, r *recognizer.Recognizer, f frame, dst [4]image.Point, name string) frame {
	t.Helper()
	src := gocv.NewPointVectorFromPoints([]image.Point{{0, 0}, {640, 0}, {640, 480}, {0, 480}})
	defer src.Close()
	d := gocv.NewPointVectorFromPoints(dst[:])
	defer d.Close()
	h := gocv.GetPerspectiveTransform(src, d)
	defer h.Close()
	out := gocv.NewMat()
	gocv.WarpPerspective(f.mat, &out, h, image.Pt(640, 480))
	return find(t, r, out, name)
}

// fade is a head turning from a to b in steps frames, as a camera at 10
// frames a second would see a slow turn: a cross-fade of the two photos
// (composed with the face in one place), whose landmarks, and so its pose,
// move in steps of under 0.1 (bona4 to bona3: 0.57, 0.52, 0.42 ... 0.21,
// 0.23), then b held for two more frames. It is also what an attacker's
// morphing video would show: the challenge stops photos, not videos.
func fade(t *testing.T, r *recognizer.Recognizer, a, b frame, steps int) []frame {
	t.Helper()
	var out []frame
	for i := 1; i <= steps; i++ {
		w := float64(i) / float64(steps)
		m := gocv.NewMat()
		gocv.AddWeighted(a.mat, 1-w, b.mat, w, 0, &m)
		out = append(out, find(t, r, m, fmt.Sprintf("fade %.1f", w)))
	}
	return append(out, b, b)
}

// feed plays frames to c as the camera loop would, a few milliseconds
// apart, until ctx ends: each of frontal n times, then each of then in
// turn, over and over.
func feed(ctx context.Context, c *recognizer.Collector, frontal []frame, n int, then []frame) {
	for range n {
		for _, f := range frontal {
			c.Frame(f.mat, f.faces)
			time.Sleep(2 * time.Millisecond)
		}
	}
	for ctx.Err() == nil && len(then) > 0 {
		for _, f := range then {
			c.Frame(f.mat, f.faces)
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// capture runs a live capture of 3 frames, asking for turn, on the frames
// feed plays; within is the time the turn may take.
func capture(t *testing.T, turn liveness.Turn, within time.Duration, frontal frame, then []frame, l recognizer.Live) ([][]float32, []recognizer.Progress, error) {
	t.Helper()
	l.Turn, l.TurnWithin = turn, within
	c := recognizer.NewLiveCollector(l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); feed(ctx, c, []frame{frontal}, 9, then) }()
	var progress []recognizer.Progress
	vecs, err := c.CollectLive(ctx, 3, func(p recognizer.Progress) { progress = append(progress, p) })
	cancel()
	<-done
	return vecs, progress, err
}

func wantChallengeRefused(t *testing.T, err error, what string) {
	t.Helper()
	var nl *recognizer.NotLiveError
	if !errors.As(err, &nl) || nl.Layer != recognizer.LayerChallenge {
		t.Errorf("%s: CollectLive = %v, want refused by the challenge", what, err)
	}
}

// TestHeadTurnChallengeAtEnrollment replays the attacks on kiosk
// enrollment with real photos of one person through the gate's recognizer
// (YuNet finds, dlib describes): a flat photo held still, tilted or turned
// any way (homographies of the frontal photo) never passes; nothing within
// the time refuses; the head turned the way asked (another photo of the
// same person, where that person's head is turned) passes, and turned the
// other way does not.
func TestHeadTurnChallengeAtEnrollment(t *testing.T) {
	r := loadYuNet(t)
	// Pose X in the composed frames (the detector's noise on a flat photo
	// is about 0.05, liveness.TurnMin 0.2): bona4 0.57 (nearly frontal),
	// bona 0.74, bona3 0.23. From bona3 to bona4 her head turns to her
	// left by 0.34; from bona4 to bona3 to her right by as much. (bona4 to
	// bona is 0.17: too small a turn to pass.)
	front := camera(t, r, "bona4.jpg")
	left := camera(t, r, "bona.jpg")
	right := camera(t, r, "bona3.jpg")
	if a := recognizer.EnrollAssess(front.mat, front.faces); a.Problem != recognizer.Good {
		t.Fatalf("the frontal frame: %v, want Good", a.Problem)
	}
	const within = 1500 * time.Millisecond
	for _, f := range []frame{front, left, right} {
		p, err := f.faces[0].Pose()
		t.Logf("composed frame: box %v pose %.3f %v", f.faces[0].Rect, p.X, err)
	}

	t.Run("turned as asked", func(t *testing.T) {
		for _, tt := range []struct {
			turn     liveness.Turn
			from, to frame
		}{{liveness.TurnLeft, right, front}, {liveness.TurnRight, front, right}} {
			vecs, progress, err := capture(t, tt.turn, within, tt.from, fade(t, r, tt.from, tt.to, 10), recognizer.Live{MaxJump: 0.45})
			if err != nil || len(vecs) != 3 {
				t.Errorf("turn %v: CollectLive = %d templates, %v; want 3 and no error", tt.turn, len(vecs), err)
				continue
			}
			last := progress[len(progress)-1]
			if !last.Turning || last.Turn != tt.turn || last.Turned < 2 || last.Taken != 3 {
				t.Errorf("turn %v: last progress %+v, want the turn asked and 2 frames turned", tt.turn, last)
			}
		}
	})
	t.Run("turned the other way", func(t *testing.T) {
		_, _, err := capture(t, liveness.TurnRight, within, front, []frame{left}, recognizer.Live{})
		wantChallengeRefused(t, err, "asked right, turned left")
	})
	t.Run("no turn in time", func(t *testing.T) {
		start := time.Now()
		_, _, err := capture(t, liveness.TurnLeft, within, front, []frame{front}, recognizer.Live{})
		wantChallengeRefused(t, err, "the frontal photo held still")
		if d := time.Since(start); d < within {
			t.Errorf("refused after %v, before the %v the turn may take", d, within)
		}
	})
	t.Run("a flat photo tilted", func(t *testing.T) {
		// The print held at angles: turned about its upright axis either
		// way (one side nearer the camera), tipped forward and back,
		// rotated, moved and smaller.
		views := [][4]image.Point{
			{{40, -40}, {600, 30}, {600, 450}, {40, 520}},
			{{40, 30}, {600, -40}, {600, 520}, {40, 450}},
			{{80, -20}, {560, -20}, {640, 480}, {0, 480}},
			{{0, 0}, {640, 0}, {560, 500}, {80, 500}},
			{{60, -30}, {680, 40}, {600, 500}, {-20, 430}},
			{{90, 60}, {570, 30}, {590, 430}, {70, 460}},
		}
		var seen []frame
		for i, v := range views {
			f := tilted(t, r, front, v, "tilt")
			if len(f.faces) != 1 {
				t.Logf("view %d: %d faces", i, len(f.faces))
				continue
			}
			p, err := f.faces[0].Pose()
			if err != nil {
				t.Fatalf("view %d: %v", i, err)
			}
			base, _ := front.faces[0].Pose()
			t.Logf("view %d: box %v pose %.3f (frontal %.3f)", i, f.faces[0].Rect, p.X, base.X)
			if math.Abs(p.X-base.X) >= liveness.TurnMin {
				t.Errorf("view %d of the flat photo moved its pose by %.3f, at least TurnMin %.2f", i, p.X-base.X, liveness.TurnMin)
			}
			seen = append(seen, f)
		}
		if len(seen) < 4 {
			t.Fatalf("the recognizer found the tilted photo in %d of %d views, want at least 4: the test would prove nothing", len(seen), len(views))
		}
		for _, turn := range []liveness.Turn{liveness.TurnLeft, liveness.TurnRight} {
			_, _, err := capture(t, turn, within, front, seen, recognizer.Live{})
			wantChallengeRefused(t, err, "a tilted photo, asked "+turn.String())
			t.Logf("asked %v: %v", turn, err)
		}
	})
}

// TestLivePreview: a live capture shows the person small JPEGs of the
// camera's frames, PreviewWidth wide, at most about ten a second.
func TestLivePreview(t *testing.T) {
	r := loadYuNet(t)
	front := camera(t, r, "bona4.jpg")
	var mu sync.Mutex
	var shots [][]byte
	l := recognizer.Live{Preview: func(b []byte) { mu.Lock(); shots = append(shots, b); mu.Unlock() }}
	start := time.Now()
	_, _, err := capture(t, liveness.TurnLeft, 600*time.Millisecond, front, []frame{front}, l)
	wantChallengeRefused(t, err, "no turn")
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if len(shots) == 0 {
		t.Fatal("no preview while capturing")
	}
	if max := int(elapsed/(100*time.Millisecond)) + 2; len(shots) > max {
		t.Errorf("%d previews in %v, want at most %d (10 a second)", len(shots), elapsed, max)
	}
	m, err := jpeg.Decode(bytes.NewReader(shots[0]))
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	if got := m.Bounds().Size(); got != image.Pt(recognizer.PreviewWidth, 240) {
		t.Errorf("preview size = %v, want %dx240", got, recognizer.PreviewWidth)
	}
}

// TestChallengeNeedsYuNet: dlib's detector gives no head pose, so a live
// capture cannot run its challenge and says so instead of enrolling.
func TestChallengeNeedsYuNet(t *testing.T) {
	r := load(t) // face.detector = "hog"
	yf := camera(t, loadYuNet(t), "bona4.jpg")
	front := find(t, r, yf.mat.Clone(), "bona4 hog")
	_, _, err := capture(t, liveness.TurnLeft, time.Second, front, nil, recognizer.Live{})
	if !errors.Is(err, recognizer.ErrNoPose) {
		t.Errorf("CollectLive with dlib's landmarks = %v, want ErrNoPose", err)
	}
}

// TestSwappedPhotosMakeNoBaseline replays what the simulated rig's flat
// photos did before the frames taken had to agree: photos of one person,
// turned right, frontal, then turned left, shown one after another in the
// same place during the frontal captures. Their mean pose was frontal, so
// the last photo, held still, counted as a turn to the left. Now the
// captures start again at each swap and the baseline is the last photo
// itself: held still, it is refused.
func TestSwappedPhotosMakeNoBaseline(t *testing.T) {
	r := loadYuNet(t)
	front, left, right := camera(t, r, "bona4.jpg"), camera(t, r, "bona.jpg"), camera(t, r, "bona3.jpg")
	c := recognizer.NewLiveCollector(recognizer.Live{Turn: liveness.TurnLeft, TurnWithin: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, f := range []frame{right, front} {
			feed(ctx, c, []frame{f}, 4, nil)
		}
		feed(ctx, c, nil, 0, []frame{left})
	}()
	_, err := c.CollectLive(ctx, 3, nil)
	cancel()
	<-done
	wantChallengeRefused(t, err, "photos swapped during the captures, the last held still")
}
