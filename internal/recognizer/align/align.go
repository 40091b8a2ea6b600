// Package align crops a face into the fixed frame an embedding network was
// trained on: it fits a similarity transform (rotation, uniform scale,
// shift) that takes the face's landmarks onto the network's template
// points, and resamples the image through it (bilinear).
//
// It owns only that geometry, in pure Go. It never finds faces or
// landmarks: the caller passes them in (dlib's 5 points, from package
// recognizer).
package align

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Point is a position in pixels.
type Point struct{ X, Y float64 }

// Similarity maps p to (A·x - B·y + TX, B·x + A·y + TY): a rotation by
// atan2(B, A), a scale of hypot(A, B), then a shift.
type Similarity struct{ A, B, TX, TY float64 }

// Apply maps p.
func (s Similarity) Apply(p Point) Point {
	return Point{s.A*p.X - s.B*p.Y + s.TX, s.B*p.X + s.A*p.Y + s.TY}
}

// Invert returns the inverse map.
func (s Similarity) Invert() Similarity {
	d := s.A*s.A + s.B*s.B
	a, b := s.A/d, -s.B/d
	return Similarity{A: a, B: b, TX: -(a*s.TX - b*s.TY), TY: -(b*s.TX + a*s.TY)}
}

// ErrPoints: the landmarks cannot define a transform.
var ErrPoints = errors.New("align: unusable landmarks")

// Fit returns the least-squares similarity taking src onto dst (Umeyama's
// method without reflection). It needs two or more distinct points.
func Fit(src, dst []Point) (Similarity, error) {
	if len(src) != len(dst) || len(src) < 2 {
		return Similarity{}, fmt.Errorf("%w: %d source and %d template points", ErrPoints, len(src), len(dst))
	}
	n := float64(len(src))
	var ms, md Point
	for i := range src {
		ms.X += src[i].X / n
		ms.Y += src[i].Y / n
		md.X += dst[i].X / n
		md.Y += dst[i].Y / n
	}
	var sxx, a, b float64
	for i := range src {
		x, y := src[i].X-ms.X, src[i].Y-ms.Y
		u, v := dst[i].X-md.X, dst[i].Y-md.Y
		sxx += x*x + y*y
		a += x*u + y*v
		b += x*v - y*u
	}
	if !(sxx > 1e-9) || math.IsNaN(a) || math.IsNaN(b) {
		return Similarity{}, fmt.Errorf("%w: points coincide", ErrPoints)
	}
	a, b = a/sxx, b/sxx
	return Similarity{A: a, B: b, TX: md.X - (a*ms.X - b*ms.Y), TY: md.Y - (b*ms.X + a*ms.Y)}, nil
}

// Crop resamples img through s (image coordinates to crop coordinates) into
// a w x h crop, as interleaved 8-bit RGB. Pixels from outside img are black.
func Crop(img image.Image, s Similarity, w, h int) []byte {
	inv := s.Invert()
	b := img.Bounds()
	out := make([]byte, 3*w*h)
	get := func(x, y int) (r, g, bl float64) {
		if x < b.Min.X || y < b.Min.Y || x >= b.Max.X || y >= b.Max.Y {
			return 0, 0, 0
		}
		switch m := img.(type) {
		case *image.YCbCr:
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			yy, cb, cr := float64(m.Y[yi]), float64(m.Cb[ci])-128, float64(m.Cr[ci])-128
			return clamp(yy + 1.402*cr), clamp(yy - 0.344136*cb - 0.714136*cr), clamp(yy + 1.772*cb)
		case *image.RGBA:
			o := m.PixOffset(x, y)
			return float64(m.Pix[o]), float64(m.Pix[o+1]), float64(m.Pix[o+2])
		case *image.Gray:
			v := float64(m.Pix[m.PixOffset(x, y)])
			return v, v, v
		}
		rr, gg, bb, _ := img.At(x, y).RGBA()
		return float64(rr >> 8), float64(gg >> 8), float64(bb >> 8)
	}
	for v := range h {
		for u := range w {
			p := inv.Apply(Point{float64(u), float64(v)})
			x0, y0 := int(math.Floor(p.X)), int(math.Floor(p.Y))
			fx, fy := p.X-float64(x0), p.Y-float64(y0)
			var acc [3]float64
			for _, c := range [4]struct {
				dx, dy int
				wt     float64
			}{{0, 0, (1 - fx) * (1 - fy)}, {1, 0, fx * (1 - fy)}, {0, 1, (1 - fx) * fy}, {1, 1, fx * fy}} {
				if c.wt == 0 {
					continue
				}
				r, g, bl := get(x0+c.dx, y0+c.dy)
				acc[0] += c.wt * r
				acc[1] += c.wt * g
				acc[2] += c.wt * bl
			}
			o := 3 * (v*w + u)
			for k := range 3 {
				out[o+k] = uint8(clamp(math.Round(acc[k])))
			}
		}
	}
	return out
}

func clamp(x float64) float64 { return min(255, max(0, x)) }

// ArcFace112 are the 5 template points of the 112x112 crop used by ArcFace,
// MobileFaceNet and MobileFace: the eye centres (left and right in the
// image), the nose tip, the mouth corners.
var ArcFace112 = [5]Point{{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}}

// FromDlib5 turns dlib's 5 points (two corners of each eye, the base of the
// nose) into the points it can give of ArcFace112 and their template
// positions: the two eye centres and the base of the nose, which lies about
// a fifth of the eye-to-mouth distance below the nose tip.
func FromDlib5(p []image.Point) (src, dst []Point, err error) {
	if len(p) != 5 {
		return nil, nil, fmt.Errorf("%w: %d dlib points, want 5", ErrPoints, len(p))
	}
	mid := func(a, b image.Point) Point { return Point{float64(a.X+b.X) / 2, float64(a.Y+b.Y) / 2} }
	e1, e2 := mid(p[0], p[1]), mid(p[2], p[3])
	if e2.X < e1.X {
		e1, e2 = e2, e1
	}
	t := ArcFace112
	noseBase := Point{t[2].X, t[2].Y + 0.2*((t[3].Y+t[4].Y)/2-(t[0].Y+t[1].Y)/2)}
	return []Point{e1, e2, {float64(p[4].X), float64(p[4].Y)}}, []Point{t[0], t[1], noseBase}, nil
}

// FromYuNet5 pairs YuNet's 5 points (eye centres left and right in the
// image, nose tip, mouth corners left and right) with ArcFace112: the same
// points, in the same order.
func FromYuNet5(p []image.Point) (src, dst []Point, err error) {
	if len(p) != 5 {
		return nil, nil, fmt.Errorf("%w: %d YuNet points, want 5", ErrPoints, len(p))
	}
	for _, q := range p {
		src = append(src, Point{float64(q.X), float64(q.Y)})
	}
	return src, ArcFace112[:], nil
}
