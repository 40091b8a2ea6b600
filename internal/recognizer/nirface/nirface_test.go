package nirface_test

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/nir"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/recognizer/nirface"
	"github.com/gated-dev/gated/internal/testenv"
)

// known is the registration of the synthetic pairs: the NIR camera sees
// the scene 0.85 times as large, shifted by (30, -12) px.
var known = nir.Similarity{A: 0.85, TX: 30, TY: -12}

func load(t *testing.T) *nirface.Checker {
	t.Helper()
	c, err := nirface.Load(testenv.Models(t))
	if err != nil {
		t.Fatalf("YuNet: %v (make setup fetches it)", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scene is a 640x480 colour frame with a real photo scaled to side px high
// at (x, y), on a mid-grey wall.
func scene(t testing.TB, photo string, x, y, side int) gocv.Mat {
	t.Helper()
	p, err := recognizer.DecodeImage(testenv.Photo(t, photo))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := side * p.Cols() / p.Rows()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(p, &small, image.Pt(w, side), 0, 0, gocv.InterpolationArea)
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(110, 120, 125, 0), 480, 640, gocv.MatTypeCV8UC3)
	r := image.Rect(x, y, x+w, y+side).Intersect(image.Rect(0, 0, 640, 480))
	src := small.Region(image.Rect(0, 0, r.Dx(), r.Dy()))
	defer src.Close()
	dst := m.Region(r)
	defer dst.Close()
	src.CopyTo(&dst)
	return m
}

// nirOf is the NIR stand-in of a colour frame: grey, contrast changed
// (0.7 g + 35: skin is bright in NIR, the scene flatter), sensor noise
// (sigma 4), seen through the camera beside it (m).
func nirOf(colour gocv.Mat, m nir.Similarity) gocv.Mat {
	g := gocv.NewMat()
	defer g.Close()
	gocv.CvtColor(colour, &g, gocv.ColorBGRToGray)
	g.ConvertToWithParams(&g, gocv.MatTypeCV8UC1, 0.7, 35)
	noise := gocv.NewMatWithSize(g.Rows(), g.Cols(), gocv.MatTypeCV16SC1)
	defer noise.Close()
	gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(4, 0, 0, 0))
	g16 := gocv.NewMat()
	defer g16.Close()
	g.ConvertTo(&g16, gocv.MatTypeCV16SC1)
	gocv.Add(g16, noise, &g16)
	g16.ConvertTo(&g, gocv.MatTypeCV8UC1)
	return warp(g, m, 0)
}

func warp(src gocv.Mat, m nir.Similarity, fill uint8) gocv.Mat {
	a := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer a.Close()
	for i, v := range []float64{m.A, -m.B, m.TX, m.B, m.A, m.TY} {
		a.SetDoubleAt(i/3, i%3, v)
	}
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(src, &out, a, image.Pt(640, 480), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{fill, fill, fill, 0})
	return out
}

// flat is what a screen shows an NIR camera: dark and flat.
func flat() gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(18, 0, 0, 0), 480, 640, gocv.MatTypeCV8UC1)
	noise := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC1)
	defer noise.Close()
	gocv.RandU(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(6, 0, 0, 0))
	gocv.Add(m, noise, &m)
	return m
}

func oneFace(t *testing.T, c *nirface.Checker, m gocv.Mat, what string) image.Rectangle {
	t.Helper()
	fs, err := c.Faces(m)
	if err != nil || len(fs) != 1 {
		t.Fatalf("%s: %d faces, %v; want exactly one", what, len(fs), err)
	}
	return fs[0]
}

// TestSyntheticPairs replays the NIR camera pair's cases on real photos:
// a live face is in both frames at the registered place (passes); a
// screen shows a face in colour only (the NIR frame is dark and flat:
// fails); the NIR face is somewhere else (an offset beyond MinIoU: fails);
// and a colour frame without its NIR frame fails closed.
func TestSyntheticPairs(t *testing.T) {
	c := load(t)
	reg := nir.Registration{Version: nir.Version, Map: known, Pairs: 5, Colour: image.Pt(640, 480), NIR: image.Pt(640, 480)}
	colour := scene(t, "bona.jpg", 180, 60, 360)
	defer colour.Close()
	box := oneFace(t, c, colour, "colour frame")
	size := image.Pt(640, 480)

	live := nirOf(colour, known)
	defer live.Close()
	screen := flat()
	defer screen.Close()
	// The same scene, but the NIR camera's face is 0.6 of a face width
	// away from where the registration puts it.
	off := known
	off.TX += 0.6 * float64(box.Dx())
	offset := nirOf(colour, off)
	defer offset.Close()
	// A screen held in front of the face: the rest of the scene in NIR,
	// the face's place dark and flat.
	held := nirOf(colour, known)
	defer held.Close()
	hole := held.Region(known.MapRect(box).Inset(-20).Intersect(image.Rect(0, 0, 640, 480)))
	hole.SetTo(gocv.NewScalar(20, 0, 0, 0))
	hole.Close()

	for _, cs := range []struct {
		name  string
		frame *camera.NIRFrame
		want  liveness.NIRState
	}{
		{"face in both, at the registered place", &camera.NIRFrame{Mat: live}, liveness.NIRPassed},
		{"face only in colour (a screen: NIR dark and flat)", &camera.NIRFrame{Mat: screen}, liveness.NIRFailed},
		{"a screen held before the face", &camera.NIRFrame{Mat: held}, liveness.NIRFailed},
		{"NIR face offset beyond the bound", &camera.NIRFrame{Mat: offset}, liveness.NIRFailed},
		{"no NIR frame of the same moment", nil, liveness.NIRMissing},
	} {
		r, err := c.Check(&reg, box, size, cs.frame)
		if err != nil || r.State != cs.want {
			t.Errorf("Check(%s) = %v (IoU %.2f, %+v, %q), %v; want %v", cs.name, r.State, r.IoU, r.Stats, r.Reason, err, cs.want)
		}
	}
	if r, _ := c.Check(nil, box, size, &camera.NIRFrame{Mat: live}); r.State != liveness.NIRUnregistered {
		t.Errorf("Check without a registration = %v, want %v", r.State, liveness.NIRUnregistered)
	}
}

// TestRegistrationFromSyntheticPairs: the registration fitted from frame
// pairs of faces at several places recovers the known map within 2 px
// over the frame.
func TestRegistrationFromSyntheticPairs(t *testing.T) {
	c := load(t)
	var pairs []nir.BoxPair
	for _, p := range []struct {
		photo      string
		x, y, side int
	}{{"bona.jpg", 40, 40, 300}, {"bona2.jpg", 300, 100, 340}, {"jimin.jpg", 150, 20, 420}, {"bona3.jpg", 380, 150, 300}, {"bona4.jpg", 60, 140, 330}, {"joy.jpg", 260, 60, 380}} {
		colour := scene(t, p.photo, p.x, p.y, p.side)
		n := nirOf(colour, known)
		pairs = append(pairs, nir.BoxPair{Colour: oneFace(t, c, colour, p.photo), NIR: oneFace(t, c, n, p.photo+" NIR")})
		colour.Close()
		n.Close()
	}
	reg, err := nir.Register(pairs, image.Pt(640, 480), image.Pt(640, 480))
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, b := range pairs {
		for _, q := range []nir.Point{{X: float64(b.Colour.Min.X), Y: float64(b.Colour.Min.Y)}, {X: float64(b.Colour.Max.X), Y: float64(b.Colour.Max.Y)}} {
			g, w := reg.Map.Apply(q), known.Apply(q)
			worst = math.Max(worst, math.Hypot(g.X-w.X, g.Y-w.Y))
		}
	}
	t.Logf("registration: %s; worst error at the faces %.2f px", reg, worst)
	if worst > 2 {
		t.Errorf("registered map is off by up to %.2f px at the faces, want <= 2 (%s)", worst, reg)
	}
}

// BenchmarkNIRCheckPerFace is what the NIR layer adds to a face that may
// open the door: YuNet on the NIR frame, the crop statistics and the
// decision ("box known": the recognizer kept YuNet's box of the face, as
// the gate's yunet detector does), and YuNet again on the colour frame
// where it did not ("box found again").
func BenchmarkNIRCheckPerFace(b *testing.B) {
	c, err := nirface.Load(testenv.Models(b))
	if err != nil {
		b.Fatalf("YuNet: %v (make setup fetches it)", err)
	}
	defer c.Close()
	reg := nir.Registration{Version: nir.Version, Map: known, Pairs: 5, Colour: image.Pt(640, 480), NIR: image.Pt(640, 480)}
	colour := scene(b, "bona.jpg", 180, 60, 360)
	defer colour.Close()
	live := nirOf(colour, known)
	defer live.Close()
	box, ok, err := c.ColourBox(colour, image.Rect(250, 120, 420, 300))
	if err != nil || !ok {
		b.Fatalf("ColourBox = %v, %v", ok, err)
	}
	check := func(box image.Rectangle) {
		r, err := c.Check(&reg, box, image.Pt(640, 480), &camera.NIRFrame{Mat: live})
		if err != nil || r.State != liveness.NIRPassed {
			b.Fatalf("Check = %v, %v", r.State, err)
		}
	}
	b.Run("box known", func(b *testing.B) {
		for b.Loop() {
			check(box)
		}
	})
	b.Run("box found again", func(b *testing.B) {
		for b.Loop() {
			again, _, err := c.ColourBox(colour, box)
			if err != nil {
				b.Fatal(err)
			}
			check(again)
		}
	})
}
