package liveness

import (
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

func TestContextRect(t *testing.T) {
	cases := []struct {
		w, h int
		box  image.Rectangle
		want image.Rectangle
	}{
		// Room all round: 2.7x about the centre (100x100 box -> 270x270).
		{640, 480, image.Rect(270, 190, 370, 290), image.Rect(185, 105, 455, 375)},
		// Near the left edge: shifted right, not clipped.
		{640, 480, image.Rect(0, 190, 100, 290), image.Rect(0, 105, 270, 375)},
		// Too big for 2.7x: the scale shrinks to what fits.
		{640, 480, image.Rect(200, 100, 400, 400), image.Rect(140, 0, 459, 479)},
		{1, 1, image.Rect(0, 0, 1, 1), image.Rectangle{}},
		{640, 480, image.Rectangle{}, image.Rectangle{}},
	}
	for _, c := range cases {
		if got := ContextRect(c.w, c.h, c.box, ContextScale); got != c.want {
			t.Errorf("ContextRect(%d, %d, %v) = %v, want %v", c.w, c.h, c.box, got, c.want)
		}
	}
}

// TestFuseNoLuckyFrame replays an attack that scores live on one frame of
// many: the fused score stays an attack's.
func TestFuseNoLuckyFrame(t *testing.T) {
	if got := Fuse([]float64{0.05, 0.99, 0.1, 0.02, 0.08}); got > 0.1 {
		t.Errorf("Fuse(one lucky frame of five) = %.3f, want <= 0.1", got)
	}
	if got := Fuse([]float64{0.9, 0.1}); got != 0.1 {
		t.Errorf("Fuse(0.9, 0.1) = %v, want the minimum 0.1", got)
	}
	if got := Fuse([]float64{0.9, 0.95, 0.3, 0.92, 0.97, 0.91}); got < 0.7 {
		t.Errorf("Fuse(a live person with one bad frame of six) = %.3f, want >= 0.7", got)
	}
	if got := Fuse(nil); got != 0 {
		t.Errorf("Fuse(no frames) = %v, want 0", got)
	}
	if got := Fuse([]float64{math.NaN(), 1}); got != 0 {
		t.Errorf("Fuse(NaN, 1) = %v, want 0", got)
	}
}

func greyImage(w, h int, f func(x, y int) uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	return g
}

// TestEdgeScoreBezel replays a phone held to the camera: a dark bezel's
// straight outline around the face scores far above a textured room with
// no long straight edge.
func TestEdgeScoreBezel(t *testing.T) {
	face := image.Rect(60, 50, 100, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(x, y int) uint8 { return uint8(100 + rng.IntN(40)) }
	room := greyImage(160, 160, noise)
	phone := greyImage(160, 160, func(x, y int) uint8 {
		if x >= 30 && x < 130 && y >= 20 && y < 140 {
			return 220 // the lit screen
		}
		return noise(x, y)
	})
	r, p := EdgeScore(room, face), EdgeScore(phone, face)
	if !(p > 0.4 && p > 3*r) {
		t.Errorf("EdgeScore(phone) = %.3f, EdgeScore(room) = %.3f; want the phone > 0.4 and > 3x the room", p, r)
	}
	// The face's own outline is left out.
	onlyFace := greyImage(160, 160, func(x, y int) uint8 {
		if (image.Point{x, y}).In(face) {
			return 250
		}
		return 120
	})
	if s := EdgeScore(onlyFace, face); s != 0 {
		t.Errorf("EdgeScore(edges only at the face box) = %.3f, want 0", s)
	}
	if s := EdgeScore(greyImage(4, 4, noise), face); s != 0 {
		t.Errorf("EdgeScore(4x4) = %v, want 0", s)
	}
}

// TestMoireScore: a screen's fine periodic pattern scores above smooth
// skin-like shading and above white noise.
func TestMoireScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	smooth := greyImage(MoireSide, MoireSide, func(x, y int) uint8 { return uint8(100 + x + y/2 + rng.IntN(6)) })
	grid := greyImage(MoireSide, MoireSide, func(x, y int) uint8 {
		return uint8(128 + 20*math.Sin(2*math.Pi*float64(x)*0.4) + float64(x+y/2) + float64(rng.IntN(6)))
	})
	s, g := MoireScore(smooth), MoireScore(grid)
	if !(g > s+2) {
		t.Errorf("MoireScore(grid) = %.2f, MoireScore(smooth) = %.2f; want the grid > smooth + 2", g, s)
	}
	if got := MoireScore(greyImage(60, 60, func(x, y int) uint8 { return 0 })); got != 0 {
		t.Errorf("MoireScore(60x60) = %v, want 0 (not a power of two)", got)
	}
}

// TestRectScore: a sheet's two perpendicular sides count, one straight
// door frame does not.
func TestRectScore(t *testing.T) {
	face := image.Rect(60, 50, 100, 100)
	door := greyImage(160, 160, func(x, y int) uint8 {
		if x < 20 {
			return 30
		}
		return 150
	})
	sheet := greyImage(160, 160, func(x, y int) uint8 {
		if x >= 30 && x < 130 && y >= 20 && y < 140 {
			return 230
		}
		return 90
	})
	d, s := RectScore(door, face), RectScore(sheet, face)
	if !(s > 0.5 && d < 0.1) {
		t.Errorf("RectScore(sheet) = %.3f, RectScore(door frame) = %.3f; want > 0.5 and < 0.1", s, d)
	}
	if e := EdgeScore(door, face); e < 0.9 {
		t.Errorf("EdgeScore(door frame) = %.3f, want >= 0.9 (a full-height line)", e)
	}
}

// TestSharpnessScore: a blurred copy of a texture has less fine detail.
func TestSharpnessScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	sharp := greyImage(MoireSide, MoireSide, func(x, y int) uint8 { return uint8(60 + rng.IntN(120)) })
	blur := greyImage(MoireSide, MoireSide, func(x, y int) uint8 {
		var s int
		for dy := -2; dy <= 2; dy++ {
			for dx := -2; dx <= 2; dx++ {
				s += int(sharp.GrayAt(min(max(x+dx, 0), MoireSide-1), min(max(y+dy, 0), MoireSide-1)).Y)
			}
		}
		return uint8(s / 25)
	})
	if a, b := SharpnessScore(sharp), SharpnessScore(blur); !(a > b+1) {
		t.Errorf("SharpnessScore(sharp) = %.2f, SharpnessScore(blurred) = %.2f; want sharp > blurred + 1", a, b)
	}
}

func TestSaturationScore(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			m.SetRGBA(x, y, color.RGBA{200, 100, 100, 255})
		}
	}
	if got := SaturationScore(m, image.Rect(0, 0, 4, 4)); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("SaturationScore = %v, want 0.5", got)
	}
	if got := SaturationScore(m, image.Rectangle{}); got != 0 {
		t.Errorf("SaturationScore(empty face) = %v, want 0", got)
	}
}

func TestGlareScore(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := range m.Pix {
		m.Pix[i] = 100
	}
	for y := range 2 {
		for x := range 10 {
			m.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	face := image.Rect(5, 5, 10, 10) // 25 pixels left out
	if got, want := GlareScore(m, face), 20.0/75; math.Abs(got-want) > 1e-12 {
		t.Errorf("GlareScore = %v, want %v", got, want)
	}
}

func TestMetrics(t *testing.T) {
	bona := []float64{0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.96, 0.97, 0.99}
	att := []float64{0.0, 0.05, 0.2, 0.55, 0.92}
	r := At(bona, att, 0.5)
	if r.APCER != 0.4 || r.BPCER != 0.1 {
		t.Errorf("At(0.5) = %+v, want APCER 0.4, BPCER 0.1", r)
	}
	// BPCER at most 10%: refuse only the lowest live score (0.1).
	if r := AtBPCER(bona, att, 0.10); r.Threshold != 0.5 || r.BPCER != 0.1 || r.APCER != 0.4 {
		t.Errorf("AtBPCER(10%%) = %+v, want threshold 0.5, BPCER 0.1, APCER 0.4", r)
	}
	if r := AtBPCER(bona, att, 0.05); r.Threshold != 0.1 || r.BPCER != 0 || r.APCER != 0.6 {
		t.Errorf("AtBPCER(5%%) = %+v, want threshold 0.1, BPCER 0, APCER 0.6", r)
	}
	if e, _ := EER([]float64{0.6, 0.7, 0.8, 0.9}, []float64{0.1, 0.2, 0.3, 0.4}); e != 0 {
		t.Errorf("EER(separated) = %v, want 0", e)
	}
}

func TestFitAndDecide(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var frames []Frame
	var live []bool
	for i := range 400 {
		l := i%2 == 0
		f := Frame{Net: 0.2 + 0.1*rng.Float64(), Edges: 0.5 + 0.3*rng.Float64()}
		if l {
			f = Frame{Net: 0.6 + 0.3*rng.Float64(), Edges: 0.2 + 0.3*rng.Float64()}
		}
		frames, live = append(frames, f), append(live, l)
	}
	c, err := Fit(frames, live, []string{"net", "edges"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !(c.W[0] > 0 && c.W[1] < 0) {
		t.Errorf("Fit weights = %v, want net positive and edges negative", c.W)
	}
	c.Threshold = 0.5
	v, err := c.Decide([]Frame{{Net: 0.8, Edges: 0.3}, {Net: 0.85, Edges: 0.25}})
	if err != nil || !v.Live {
		t.Errorf("Decide(live frames) = %+v, %v; want live", v, err)
	}
	v, err = c.Decide([]Frame{{Net: 0.8, Edges: 0.3}, {Net: 0.25, Edges: 0.7}})
	if err != nil || v.Live {
		t.Errorf("Decide(one live-looking frame, one attack) = %+v, %v; want refused", v, err)
	}
	if v, err := c.Decide(nil); err != nil || v.Live {
		t.Errorf("Decide(no frames) = %+v, %v; want refused", v, err)
	}
	if _, err := c.Score(Frame{Edges: math.NaN()}); !errors.Is(err, ErrFeatures) {
		t.Errorf("Score(NaN edges) = %v, want ErrFeatures", err)
	}
	if _, err := Fit(frames, live, []string{"height"}, 1); !errors.Is(err, ErrFeatures) {
		t.Errorf("Fit(unknown feature) = %v, want ErrFeatures", err)
	}
	bad := c
	bad.W = bad.W[:1]
	if _, err := bad.Score(frames[0]); !errors.Is(err, ErrFeatures) {
		t.Errorf("Score with 1 weight for 2 features = %v, want ErrFeatures", err)
	}
}

func TestDefaultIsWellFormed(t *testing.T) {
	if err := Default.Check(); err != nil {
		t.Fatalf("Default.Check() = %v", err)
	}
}

// BenchmarkCues is the cues' share of PAD's time per face.
func BenchmarkCues(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	ctx := image.NewRGBA(image.Rect(0, 0, ContextSide, ContextSide*3/4))
	for i := range ctx.Pix {
		ctx.Pix[i] = uint8(rng.IntN(256))
	}
	skin := greyImage(MoireSide, MoireSide, func(x, y int) uint8 { return uint8(rng.IntN(256)) })
	c := Crops{Context: ctx, Face: image.Rect(50, 30, 110, 90), Skin: skin}
	for range b.N {
		Cues(c, Frame{})
	}
}
