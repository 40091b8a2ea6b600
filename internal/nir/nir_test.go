package nir

import (
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/liveness"
)

var known = Similarity{A: 0.9, TX: 25, TY: -15}

// pairs are boxes of a face moving about a 640x480 colour frame, with
// their place in the NIR frame under m, the NIR corners jittered by up to
// jitter px (a detector's noise).
func pairs(m Similarity, n int, jitter float64, rng *rand.Rand) []BoxPair {
	var out []BoxPair
	for i := range n {
		x, y, s := 150+40*i%300, 100+30*i%200, 100+10*(i%5)
		c := image.Rect(x, y, x+s, y+s)
		r := m.MapRect(c)
		j := func() int { return int(math.Round((rng.Float64()*2 - 1) * jitter)) }
		out = append(out, BoxPair{Colour: c, NIR: image.Rect(r.Min.X+j(), r.Min.Y+j(), r.Max.X+j(), r.Max.Y+j())})
	}
	return out
}

func TestRegisterRecoversTheMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	reg, err := Register(pairs(known, 10, 2, rng), image.Pt(640, 480), image.Pt(640, 480))
	if err != nil {
		t.Fatal(err)
	}
	// The map's error anywhere in the frame, not only its parameters.
	for _, p := range []Point{{0, 0}, {639, 0}, {0, 479}, {639, 479}, {320, 240}} {
		got, want := reg.Map.Apply(p), known.Apply(p)
		if d := math.Hypot(got.X-want.X, got.Y-want.Y); d > 2 {
			t.Errorf("registered map at %v = %v, want %v (off by %.2f px, want <= 2)", p, got, want, d)
		}
	}
	if reg.Residual > 2 {
		t.Errorf("residual = %.2f px, want <= 2 for 2 px jitter", reg.Residual)
	}
}

func TestRegisterRefusesPoorOrDegenerateFits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sz := image.Pt(640, 480)
	one := pairs(known, 1, 0, rng)[0]
	still := []BoxPair{one, one, one, one, one}
	still[0].Colour = image.Rect(one.Colour.Min.X, one.Colour.Min.Y, one.Colour.Min.X+3, one.Colour.Min.Y+3)
	tiny := make([]BoxPair, 5)
	for i := range tiny {
		tiny[i] = BoxPair{Colour: image.Rect(300, 200, 303, 203), NIR: image.Rect(300, 200, 303, 203)}
	}
	noisy := pairs(known, 10, 2, rng)
	for i := range noisy { // another face in NIR half the time
		if i%2 == 1 {
			noisy[i].NIR = noisy[i].NIR.Add(image.Pt(60, 40)).Intersect(image.Rect(0, 0, 640, 480))
		}
	}
	mirrored := pairs(Similarity{A: -1, TX: 639, TY: 479}, 8, 0, rng)
	huge := pairs(Similarity{A: 0.1}, 8, 0, rng)
	cases := []struct {
		name  string
		pairs []BoxPair
		want  string
	}{
		{"too few", pairs(known, 4, 0, rng), "want 5 or more"},
		{"points at one place", tiny, "degenerate"},
		{"other faces", noisy, "residual"},
		{"rotated", mirrored, "rotation"},
		{"scale", huge, "scale"},
		{"outside", append(pairs(known, 5, 0, rng), BoxPair{Colour: image.Rect(600, 400, 700, 500), NIR: image.Rect(0, 0, 10, 10)}), "outside"},
	}
	for _, c := range cases {
		_, err := Register(c.pairs, sz, sz)
		if !errors.Is(err, ErrFit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register(%s) = %v, want ErrFit saying %q", c.name, err, c.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	reg, err := Register(pairs(known, 8, 1, rand.New(rand.NewPCG(5, 6))), image.Pt(640, 480), image.Pt(640, 480))
	if err != nil {
		t.Fatal(err)
	}
	reg.By = "staff:alice"
	b, err := Encode(reg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || got.Map != reg.Map || got.Pairs != reg.Pairs || got.By != reg.By {
		t.Fatalf("Decode(Encode(r)) = %+v, %v, want %+v", got, err, reg)
	}
	// Damaged values: refused, never used.
	flip := []byte(strings.Replace(string(b), `\"pairs\":8`, `\"pairs\":9`, 1))
	if string(flip) == string(b) {
		flip = []byte(strings.Replace(string(b), `"pairs":8`, `"pairs":9`, 1))
	}
	for name, v := range map[string][]byte{
		"empty":        nil,
		"not json":     []byte("scale=0.9"),
		"checksum":     flip,
		"truncated":    b[:len(b)/2],
		"trailing":     append(append([]byte{}, b...), []byte(" {}")...),
		"unknown":      []byte(`{"registration":{},"sha256":"","extra":1}`),
		"huge":         make([]byte, 5000),
		"zero map":     mustSeal(t, `{"version":1,"map":{"a":0,"b":0,"tx":0,"ty":0},"residual_px":0,"pairs":5,"colour_size":{"X":640,"Y":480},"nir_size":{"X":640,"Y":480},"at":"2026-01-01T00:00:00Z","by":""}`),
		"version":      mustSeal(t, `{"version":2,"map":{"a":1,"b":0,"tx":0,"ty":0},"residual_px":0,"pairs":5,"colour_size":{"X":640,"Y":480},"nir_size":{"X":640,"Y":480},"at":"2026-01-01T00:00:00Z","by":""}`),
		"no sizes":     mustSeal(t, `{"version":1,"map":{"a":1,"b":0,"tx":0,"ty":0},"residual_px":0,"pairs":5,"at":"2026-01-01T00:00:00Z","by":""}`),
		"few pairs":    mustSeal(t, `{"version":1,"map":{"a":1,"b":0,"tx":0,"ty":0},"residual_px":0,"pairs":1,"colour_size":{"X":640,"Y":480},"nir_size":{"X":640,"Y":480},"at":"2026-01-01T00:00:00Z","by":""}`),
		"negative res": mustSeal(t, `{"version":1,"map":{"a":1,"b":0,"tx":0,"ty":0},"residual_px":-1,"pairs":5,"colour_size":{"X":640,"Y":480},"nir_size":{"X":640,"Y":480},"at":"2026-01-01T00:00:00Z","by":""}`),
	} {
		if _, err := Decode(v); !errors.Is(err, ErrDamaged) {
			t.Errorf("Decode(%s) = %v, want ErrDamaged", name, err)
		}
	}
	if _, err := Decode(mustSeal(t, `{"version":1,"map":{"a":1,"b":0,"tx":0,"ty":0},"residual_px":0,"pairs":5,"colour_size":{"X":640,"Y":480},"nir_size":{"X":640,"Y":480},"at":"2026-01-01T00:00:00Z","by":""}`)); err != nil {
		t.Errorf("Decode(identity sealed by hand) = %v, want nil (the test's sealing is right)", err)
	}
}

func mustSeal(t *testing.T, reg string) []byte {
	t.Helper()
	var r Registration
	if err := strict([]byte(reg), &r); err != nil {
		t.Fatalf("test registration: %v", err)
	}
	b, err := seal([]byte(reg))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	reg, _ := Register(pairs(known, 6, 0, rand.New(rand.NewPCG(7, 8))), image.Pt(640, 480), image.Pt(320, 240))
	b, _ := Encode(reg)
	f.Add(b)
	f.Add([]byte(`{"registration":{"version":1},"sha256":"00"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("Decode error %v does not wrap ErrDamaged", err)
			}
			return
		}
		// Whatever decodes is usable: it encodes again and maps finitely.
		if _, err := Encode(r); err != nil {
			t.Fatalf("Decode accepted %+v that Encode refuses: %v", r, err)
		}
		q := r.Map.Apply(Point{320, 240})
		if math.IsNaN(q.X) || math.IsInf(q.Y, 0) {
			t.Fatalf("decoded map is not finite: %+v", r.Map)
		}
	})
}

func TestIoU(t *testing.T) {
	a := image.Rect(0, 0, 100, 100)
	for _, c := range []struct {
		b    image.Rectangle
		want float64
	}{
		{a, 1}, {image.Rect(50, 0, 150, 100), 1.0 / 3}, {image.Rect(200, 0, 300, 100), 0}, {image.Rectangle{}, 0},
	} {
		if got := IoU(a, c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("IoU(%v, %v) = %v, want %v", a, c.b, got, c.want)
		}
	}
}

func grey(w, h int, f func(x, y int) float64) []uint8 {
	p := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			p[y*w+x] = uint8(math.Max(0, math.Min(255, f(x, y))))
		}
	}
	return p
}

func TestCropChecks(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	noise := func(s float64) float64 { return rng.NormFloat64() * s }
	w, h := 100, 120
	// A lit face: mid-grey with dark eyes and mouth.
	face := grey(w, h, func(x, y int) float64 {
		v := 130.0
		if (y > 35 && y < 50) && ((x > 20 && x < 40) || (x > 60 && x < 80)) {
			v = 50
		}
		if y > 85 && y < 95 && x > 30 && x < 70 {
			v = 70
		}
		return v + noise(4)
	})
	cases := []struct {
		name string
		pix  []uint8
		want string // "" passes
	}{
		{"lit face", face, ""},
		{"screen: dark and flat", grey(w, h, func(x, y int) float64 { return 18 + noise(3) }), "dark"},
		{"flat card", grey(w, h, func(x, y int) float64 { return 120 + noise(6) }), "flat"},
		{"glare", grey(w, h, func(x, y int) float64 { return 255 - float64(x%3) }), "overexposed"},
		{"glossy patch", grey(w, h, func(x, y int) float64 {
			if y < 40 {
				return 255
			}
			return 100 + 40*math.Sin(float64(x)/5)
		}), "saturated"},
	}
	for _, c := range cases {
		s := CropStats(c.pix, w, h, w)
		got := DefaultLimits.Check(s)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Check(%s %+v) = %q, want %q", c.name, s, got, c.want)
		}
	}
	if s := CropStats(face, w, h, w-1); s != (Stats{}) {
		t.Errorf("CropStats with a stride under the width = %+v, want zero", s)
	}
	if s := CropStats(face[:10], w, h, w); s != (Stats{}) {
		t.Errorf("CropStats of a short buffer = %+v, want zero", s)
	}
}

func TestJudge(t *testing.T) {
	reg := Registration{Version: 1, Map: known, Pairs: 5, Colour: image.Pt(640, 480), NIR: image.Pt(640, 480)}
	colour := image.Rect(200, 150, 320, 270)
	at := known.MapRect(colour)
	lit := func(image.Rectangle) Stats { return Stats{Mean: 120, Contrast: 30} }
	dark := func(image.Rectangle) Stats { return Stats{Mean: 15, Contrast: 2} }
	sz := image.Pt(640, 480)
	cases := []struct {
		name  string
		reg   *Registration
		frame bool
		nsz   image.Point
		faces []image.Rectangle
		stats func(image.Rectangle) Stats
		want  liveness.NIRState
	}{
		{"face in both, at the registered place", &reg, true, sz, []image.Rectangle{at.Add(image.Pt(4, -3))}, lit, liveness.NIRPassed},
		{"only in colour", &reg, true, sz, nil, lit, liveness.NIRFailed},
		{"offset by half a face", &reg, true, sz, []image.Rectangle{at.Add(image.Pt(at.Dx()/2, 0))}, lit, liveness.NIRFailed},
		{"at the place but dark", &reg, true, sz, []image.Rectangle{at}, dark, liveness.NIRFailed},
		{"no NIR frame", &reg, false, sz, nil, lit, liveness.NIRMissing},
		{"no registration", nil, true, sz, []image.Rectangle{at}, lit, liveness.NIRUnregistered},
		{"NIR size changed", &reg, true, image.Pt(320, 240), []image.Rectangle{at}, lit, liveness.NIRUnregistered},
	}
	for _, c := range cases {
		r := Judge(c.reg, colour, sz, c.frame, c.nsz, c.faces, c.stats, DefaultLimits)
		if r.State != c.want || (c.want != liveness.NIRPassed) == (r.Reason == "") {
			t.Errorf("Judge(%s) = %v %q, want %v", c.name, r.State, r.Reason, c.want)
		}
	}
}

type fixed struct {
	v     liveness.Verdict
	calls *int
}

func (f fixed) Decide([]liveness.Frame) (liveness.Verdict, error) { *f.calls++; return f.v, nil }

func TestLayer(t *testing.T) {
	pass := liveness.Frame{Net: 0.9, NIR: liveness.NIRPassed}
	n := 0
	inner := fixed{liveness.Verdict{Score: 0.7, Live: true, Frames: 2}, &n}
	for _, c := range []struct {
		name   string
		l      Layer
		frames []liveness.Frame
		live   bool
	}{
		{"alone, all passed", Layer{}, []liveness.Frame{pass, pass}, true},
		{"alone, one failed", Layer{}, []liveness.Frame{pass, {NIR: liveness.NIRFailed}}, false},
		{"alone, one missing", Layer{}, []liveness.Frame{pass, {NIR: liveness.NIRMissing}}, false},
		{"alone, one unchecked", Layer{}, []liveness.Frame{pass, {}}, false},
		{"alone, unregistered", Layer{}, []liveness.Frame{{NIR: liveness.NIRUnregistered}}, false},
		{"alone, no frames", Layer{}, nil, false},
		{"with passive, all passed", Layer{Inner: inner}, []liveness.Frame{pass, pass}, true},
		{"with passive, one failed", Layer{Inner: inner}, []liveness.Frame{{NIR: liveness.NIRFailed}, pass}, false},
	} {
		v, err := c.l.Decide(c.frames)
		if err != nil || v.Live != c.live {
			t.Errorf("Layer.Decide(%s) = %+v, %v, want live %v", c.name, v, err, c.live)
		}
	}
	if n != 1 {
		t.Errorf("the passive layer was asked %d times, want once (only when NIR passed)", n)
	}
	passiveRefuses := Layer{Inner: fixed{liveness.Verdict{Score: 0.1}, &n}}
	if v, _ := passiveRefuses.Decide([]liveness.Frame{pass}); v.Live {
		t.Error("NIR passed but the passive layer refused: Layer said live, want not live")
	}
	if LayerName("") != "nir" || LayerName(liveness.Model) != "nir+"+liveness.Model {
		t.Errorf("LayerName = %q, %q", LayerName(""), LayerName(liveness.Model))
	}
}
