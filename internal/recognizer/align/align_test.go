package align_test

import (
	"errors"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/gated-dev/gated/internal/recognizer/align"
)

func near(a, b align.Point) bool { return math.Hypot(a.X-b.X, a.Y-b.Y) < 1e-6 }

func TestFitRecoversASimilarity(t *testing.T) {
	tests := []align.Similarity{
		{A: 1, B: 0, TX: 0, TY: 0},
		{A: 0.5, B: 0.2, TX: 10, TY: -3},
		{A: -0.3, B: 1.1, TX: -50, TY: 7},
	}
	src := []align.Point{{10, 20}, {60, 22}, {35, 50}, {15, 70}, {55, 71}}
	for _, want := range tests {
		var dst []align.Point
		for _, p := range src {
			dst = append(dst, want.Apply(p))
		}
		got, err := align.Fit(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range src {
			if !near(got.Apply(p), dst[i]) {
				t.Errorf("Fit(%+v): point %d maps to %v, want %v", want, i, got.Apply(p), dst[i])
			}
			if back := got.Invert().Apply(dst[i]); !near(back, p) {
				t.Errorf("Invert(%+v): %v maps back to %v, want %v", got, dst[i], back, p)
			}
		}
	}
	if _, err := align.Fit([]align.Point{{1, 1}, {1, 1}}, []align.Point{{0, 0}, {1, 1}}); !errors.Is(err, align.ErrPoints) {
		t.Errorf("Fit(coincident points) = %v, want ErrPoints", err)
	}
	if _, err := align.Fit([]align.Point{{1, 1}}, []align.Point{{0, 0}}); !errors.Is(err, align.ErrPoints) {
		t.Errorf("Fit(one point) = %v, want ErrPoints", err)
	}
}

func TestFromDlib5(t *testing.T) {
	// dlib order: one eye's corners, the other's, the nose base; the eye
	// given first may be either.
	pts := []image.Point{{80, 40}, {70, 40}, {20, 40}, {30, 40}, {50, 70}}
	src, dst, err := align.FromDlib5(pts)
	if err != nil {
		t.Fatal(err)
	}
	if want := (align.Point{X: 25, Y: 40}); !near(src[0], want) {
		t.Errorf("left eye centre = %v, want %v", src[0], want)
	}
	if want := align.ArcFace112[0]; !near(dst[0], want) {
		t.Errorf("left eye template = %v, want %v", dst[0], want)
	}
	if !(dst[2].Y > align.ArcFace112[2].Y && dst[2].Y < align.ArcFace112[3].Y) {
		t.Errorf("nose base template y = %v, want between the nose tip and the mouth", dst[2].Y)
	}
	if _, _, err := align.FromDlib5(pts[:4]); !errors.Is(err, align.ErrPoints) {
		t.Errorf("FromDlib5(4 points) = %v, want ErrPoints", err)
	}
}

func TestCropResamples(t *testing.T) {
	// A 40x20 image, left half red, right half blue; crop it scaled by 1/2
	// into 20x10: the left half of the crop is red, the right blue, and
	// what falls outside the image is black.
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 20 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	out := align.Crop(img, align.Similarity{A: 0.5}, 20, 10)
	px := func(x, y int) [3]byte { o := 3 * (y*20 + x); return [3]byte{out[o], out[o+1], out[o+2]} }
	if got := px(3, 5); got != [3]byte{255, 0, 0} {
		t.Errorf("crop (3,5) = %v, want red", got)
	}
	if got := px(16, 5); got != [3]byte{0, 0, 255} {
		t.Errorf("crop (16,5) = %v, want blue", got)
	}
	shifted := align.Crop(img, align.Similarity{A: 1, TX: 30}, 20, 10)
	if got := [3]byte{shifted[0], shifted[1], shifted[2]}; got != [3]byte{0, 0, 0} {
		t.Errorf("crop outside the image = %v, want black", got)
	}
}
