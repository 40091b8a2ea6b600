package recognizer_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
)

func TestQualityGate(t *testing.T) {
	r := load(t)
	// Each case starts from a real photo and, where needed, degrades it the
	// way a gate camera would: distance, blur, darkness, glare, framing.
	tests := []struct {
		name  string
		photo string
		edit  func(m gocv.Mat) gocv.Mat
		want  recognizer.Problem
	}{
		{"good portrait", "tzuyu2.jpg", nil, recognizer.Good},
		{"good, smaller face", "jimin2.jpg", nil, recognizer.Good},
		{"group", "pristin.jpg", nil, recognizer.SeveralFaces},
		{"no face", "pristin.jpg", func(m gocv.Mat) gocv.Mat {
			return crop(m, image.Rect(0, 520, m.Cols(), m.Rows()))
		}, recognizer.NoFace},
		{"far away", "tzuyu2.jpg", func(m gocv.Mat) gocv.Mat { return scale(m, 0.22) }, recognizer.TooSmall},
		{"cut by the edge", "tzuyu2.jpg", func(m gocv.Mat) gocv.Mat {
			// tzuyu2's face is at x 462-850: keep from x 560 on.
			return crop(m, image.Rect(560, 0, m.Cols(), m.Rows()))
		}, recognizer.AtEdge},
		{"head turned", "eunseo2.jpg", nil, recognizer.NotFrontal},
		{"dark", "tzuyu2.jpg", func(m gocv.Mat) gocv.Mat { return gain(m, 0.3, 0) }, recognizer.TooDark},
		{"glare", "tzuyu2.jpg", func(m gocv.Mat) gocv.Mat { return gain(m, 1, 90) }, recognizer.TooBright},
		{"blurred", "tzuyu2.jpg", func(m gocv.Mat) gocv.Mat {
			out := gocv.NewMat()
			gocv.GaussianBlur(m, &out, image.Pt(0, 0), 4, 0, gocv.BorderDefault)
			return out
		}, recognizer.TooBlurry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := decode(t, tt.photo)
			defer orig.Close()
			m := orig
			if tt.edit != nil {
				e := tt.edit(orig)
				defer e.Close()
				m = e
			}
			faces, err := r.Faces(m)
			if err != nil {
				t.Fatal(err)
			}
			a := recognizer.Assess(m, faces, recognizer.Quality{})
			if a.Problem != tt.want {
				t.Fatalf("Assess = %v (%+v), want %v", a.Problem, a, tt.want)
			}
			err = a.Err()
			if (err == nil) != (tt.want == recognizer.Good) {
				t.Errorf("Err() = %v for %v", err, a.Problem)
			}
		})
	}
}

func TestAdviceInBothLanguages(t *testing.T) {
	for p := recognizer.Good; p <= recognizer.TooBlurry; p++ {
		en, zh := p.Advice("en"), p.Advice("zh")
		if en == "" || zh == "" || en == zh {
			t.Errorf("problem %d: advice en %q, zh %q", p, en, zh)
		}
	}
}

func crop(m gocv.Mat, r image.Rectangle) gocv.Mat {
	reg := m.Region(r)
	defer reg.Close()
	return reg.Clone()
}

func scale(m gocv.Mat, f float64) gocv.Mat {
	out := gocv.NewMat()
	gocv.Resize(m, &out, image.Point{}, f, f, gocv.InterpolationArea)
	return out
}

// gain returns m*a + b, saturated.
func gain(m gocv.Mat, a, b float64) gocv.Mat {
	out := gocv.NewMat()
	m.ConvertToWithParams(&out, gocv.MatTypeCV8UC3, float32(a), float32(b))
	return out
}
