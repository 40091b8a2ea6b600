// Package nir owns the near-infrared camera pair's presentation-attack
// check (issue 14 §1, [camera.nir]): the colour-to-NIR registration (a
// similarity map fitted once by staff, stored encoded with its own
// checksum), where a colour face box lies in the NIR frame, whether the
// NIR frame of the same moment shows a face there (IoU), the simple checks
// of the NIR crop (lit by the 850 nm illuminator, not saturated, not flat),
// and Layer, the decorator that refuses a window with any frame whose NIR
// check did not pass.
//
// It is pure Go: finding faces in the NIR frame and cutting its pixels
// live in internal/recognizer/nirface (cgo). It never stores, logs or
// returns an image, and it never decides who a face belongs to or whether
// the door opens: the gate does, from Layer's verdict. It is not measured
// on NIR hardware (docs/liveness.md), so it never lowers the APCER the
// policy counts (liveness.APCER).
package nir

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Point is a point in frame pixels.
type Point struct{ X, Y float64 }

// Similarity maps a point of the colour frame to the NIR frame:
// x' = A x - B y + TX, y' = B x + A y + TY (a scale, a rotation and a
// shift: two cameras side by side, looking the same way).
type Similarity struct {
	A  float64 `json:"a"`
	B  float64 `json:"b"`
	TX float64 `json:"tx"`
	TY float64 `json:"ty"`
}

// Scale is the map's scale (NIR pixels per colour pixel).
func (s Similarity) Scale() float64 { return math.Hypot(s.A, s.B) }

// Rotation is the map's rotation in degrees.
func (s Similarity) Rotation() float64 { return math.Atan2(s.B, s.A) * 180 / math.Pi }

// Apply maps one point.
func (s Similarity) Apply(p Point) Point {
	return Point{s.A*p.X - s.B*p.Y + s.TX, s.B*p.X + s.A*p.Y + s.TY}
}

// MapRect is where a colour box lies in the NIR frame: the bounding box of
// its four mapped corners, rounded to the nearest pixel.
func (s Similarity) MapRect(r image.Rectangle) image.Rectangle {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, c := range corners(r) {
		q := s.Apply(c)
		x0, y0, x1, y1 = math.Min(x0, q.X), math.Min(y0, q.Y), math.Max(x1, q.X), math.Max(y1, q.Y)
	}
	return image.Rect(iround(x0), iround(y0), iround(x1), iround(y1))
}

func corners(r image.Rectangle) [4]Point {
	x0, y0, x1, y1 := float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y)
	return [4]Point{{x0, y0}, {x1, y0}, {x0, y1}, {x1, y1}}
}

func iround(v float64) int {
	if math.IsNaN(v) || v > 1e9 || v < -1e9 {
		return 0
	}
	return int(math.Floor(v + 0.5))
}

// ErrFit is wrapped by errors of a fit that cannot be used.
var ErrFit = errors.New("nir: registration refused")

// FitScaleShift is the least-squares map of src to dst by a scale and a
// shift (closed form; B = 0), and the root-mean-square distance in pixels
// between dst and the mapped src. Face boxes are upright rectangles
// whatever the cameras' roll, so a rotation cannot be fitted from them
// without bias: two cameras mounted the same way up have none, and one
// mounted askew shows as a residual Register refuses. It refuses fewer
// than 2 points, unequal lengths, non-finite values and points all at one
// place.
func FitScaleShift(src, dst []Point) (Similarity, float64, error) {
	if len(src) != len(dst) || len(src) < 2 {
		return Similarity{}, 0, fmt.Errorf("%w: %d and %d points (want 2 or more of each, paired)", ErrFit, len(src), len(dst))
	}
	n := float64(len(src))
	var sx, sy, dx, dy float64
	for i := range src {
		for _, v := range []float64{src[i].X, src[i].Y, dst[i].X, dst[i].Y} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Similarity{}, 0, fmt.Errorf("%w: point %d is not finite", ErrFit, i)
			}
		}
		sx, sy, dx, dy = sx+src[i].X, sy+src[i].Y, dx+dst[i].X, dy+dst[i].Y
	}
	sx, sy, dx, dy = sx/n, sy/n, dx/n, dy/n
	var den, num float64
	for i := range src {
		x, y := src[i].X-sx, src[i].Y-sy
		den += x*x + y*y
		num += x*(dst[i].X-dx) + y*(dst[i].Y-dy)
	}
	if den < 1e-9 {
		return Similarity{}, 0, fmt.Errorf("%w: the colour points are all at one place", ErrFit)
	}
	s := Similarity{A: num / den}
	s.TX, s.TY = dx-s.A*sx, dy-s.A*sy
	var sq float64
	for i := range src {
		q := s.Apply(src[i])
		sq += (q.X-dst[i].X)*(q.X-dst[i].X) + (q.Y-dst[i].Y)*(q.Y-dst[i].Y)
	}
	return s, math.Sqrt(sq / n), nil
}

// IoU is the intersection over union of two boxes (0 when either is
// empty).
func IoU(a, b image.Rectangle) float64 {
	if a.Empty() || b.Empty() {
		return 0
	}
	in := a.Intersect(b)
	i := float64(in.Dx()) * float64(in.Dy())
	u := float64(a.Dx())*float64(a.Dy()) + float64(b.Dx())*float64(b.Dy()) - i
	if u <= 0 {
		return 0
	}
	return i / u
}

// MinIoU is how much a face the NIR frame shows must overlap the place the
// registration puts the colour face for the frame to pass. 0.5 (the usual
// detection criterion): YuNet's boxes jitter by about 5% of a side between
// frames and a registration is refused above 5% residual (IoU about 0.8
// left), while a face a third of its width away (IoU 0.5) is somewhere
// else: the attacker's own face beside the screen they hold.
const MinIoU = 0.5

// Match picks the NIR face that overlaps where reg puts the colour box
// most, and reports its IoU with that place; ok is false when none
// reaches MinIoU.
func Match(reg Registration, colour image.Rectangle, nirFaces []image.Rectangle) (best image.Rectangle, iou float64, ok bool) {
	want := reg.Map.MapRect(colour)
	for _, f := range nirFaces {
		if v := IoU(want, f); v > iou {
			best, iou = f, v
		}
	}
	return best, iou, iou >= MinIoU
}
