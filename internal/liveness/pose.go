package liveness

import (
	"errors"
	"fmt"
	"math"
)

// Point is a landmark, to a fraction of a pixel.
type Point struct{ X, Y float64 }

// Pose is where the nose tip lies within the quadrilateral of the eyes and
// the mouth corners, once the projective map (homography) that takes that
// quadrilateral to the unit square is applied: the image-left eye goes to
// (0, 0), the image-right eye to (1, 0), the image-right mouth corner to
// (1, 1), the image-left mouth corner to (0, 1). A frontal face has its
// nose near X = 0.5.
//
// Pose is a projective invariant of the five points: a flat picture of a
// face (a print, a phone or tablet screen), moved, turned, tilted, bent
// towards or away from the camera at any angle or printed at any size, is a
// homography of itself, and every homography of it gives the same Pose to
// within the landmarks' noise. A head that turns does not: its nose stands
// out of the plane of its eyes and mouth, so it crosses the quadrilateral.
// That is what the head-turn challenge (Challenge) measures.
type Pose struct{ X, Y float64 }

// ErrPose is a set of landmarks no pose can be taken from: the eyes and
// mouth corners do not make a convex quadrilateral in the expected order
// (a detector's mistake, or a face seen upside down or edge-on).
var ErrPose = errors.New("liveness: landmarks give no pose")

// PoseOf returns the Pose of five landmarks: YuNet's eye centres (image
// left, image right), nose tip and mouth corners (image left, image right).
func PoseOf(eyeL, eyeR, nose, mouthL, mouthR Point) (Pose, error) {
	// The homography from the unit square to the quadrilateral, in
	// Heckbert's closed form, then inverted.
	h, err := squareToQuad(eyeL, eyeR, mouthR, mouthL)
	if err != nil {
		return Pose{}, err
	}
	inv, ok := invert3(h)
	if !ok {
		return Pose{}, ErrPose
	}
	w := inv[6]*nose.X + inv[7]*nose.Y + inv[8]
	if w == 0 || math.IsNaN(w) {
		return Pose{}, ErrPose
	}
	p := Pose{(inv[0]*nose.X + inv[1]*nose.Y + inv[2]) / w, (inv[3]*nose.X + inv[4]*nose.Y + inv[5]) / w}
	if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
		return Pose{}, ErrPose
	}
	return p, nil
}

// squareToQuad is the homography (row-major 3x3) taking (0,0), (1,0),
// (1,1), (0,1) to p0, p1, p2, p3, which must be a convex quadrilateral
// turning the same way as the square does in image coordinates.
func squareToQuad(p0, p1, p2, p3 Point) ([9]float64, error) {
	q := [4]Point{p0, p1, p2, p3}
	for i := range q {
		a, b, c := q[i], q[(i+1)%4], q[(i+2)%4]
		// Image y grows downwards: (0,0) -> (1,0) -> (1,1) turns clockwise
		// on screen, a positive cross product here.
		if cross := (b.X-a.X)*(c.Y-b.Y) - (b.Y-a.Y)*(c.X-b.X); !(cross > 0) {
			return [9]float64{}, fmt.Errorf("%w: eyes and mouth corners are not a convex quadrilateral", ErrPose)
		}
	}
	sx := p0.X - p1.X + p2.X - p3.X
	sy := p0.Y - p1.Y + p2.Y - p3.Y
	var a, b, c, d, e, f, g, h float64
	if sx == 0 && sy == 0 {
		a, b, c = p1.X-p0.X, p2.X-p1.X, p0.X
		d, e, f = p1.Y-p0.Y, p2.Y-p1.Y, p0.Y
	} else {
		dx1, dx2 := p1.X-p2.X, p3.X-p2.X
		dy1, dy2 := p1.Y-p2.Y, p3.Y-p2.Y
		den := dx1*dy2 - dx2*dy1
		if den == 0 {
			return [9]float64{}, ErrPose
		}
		g = (sx*dy2 - dx2*sy) / den
		h = (dx1*sy - sx*dy1) / den
		a, b, c = p1.X-p0.X+g*p1.X, p3.X-p0.X+h*p3.X, p0.X
		d, e, f = p1.Y-p0.Y+g*p1.Y, p3.Y-p0.Y+h*p3.Y, p0.Y
	}
	return [9]float64{a, b, c, d, e, f, g, h, 1}, nil
}

// invert3 inverts a row-major 3x3 matrix.
func invert3(m [9]float64) ([9]float64, bool) {
	c00 := m[4]*m[8] - m[5]*m[7]
	c01 := m[5]*m[6] - m[3]*m[8]
	c02 := m[3]*m[7] - m[4]*m[6]
	det := m[0]*c00 + m[1]*c01 + m[2]*c02
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) {
		return [9]float64{}, false
	}
	return [9]float64{
		c00 / det, (m[2]*m[7] - m[1]*m[8]) / det, (m[1]*m[5] - m[2]*m[4]) / det,
		c01 / det, (m[0]*m[8] - m[2]*m[6]) / det, (m[2]*m[3] - m[0]*m[5]) / det,
		c02 / det, (m[1]*m[6] - m[0]*m[7]) / det, (m[0]*m[4] - m[1]*m[3]) / det,
	}, true
}

// Turn is the way the head-turn challenge asks a person to turn: to their
// own left or right, as they would say it (the camera sees them mirrored).
type Turn int

// Turns.
const (
	TurnLeft Turn = iota
	TurnRight
)

func (t Turn) String() string {
	if t == TurnLeft {
		return "left"
	}
	return "right"
}

// TurnMin is how far, in Pose X, the nose must cross the face towards the
// asked side for a turn to count: about a 20-degree turn of an average head
// (TestATurningHeadPassesTheWayItTurns). Exact landmarks of a flat picture
// never move at all; YuNet's landmarks found again on a tilted photo move
// by 0.05 (median), and by 0.2 or more in 1.7% (left) and 3.5% (right) of
// rendered views, which is
// what a person wiggling a photo at the camera can hope for
// (docs/liveness.md, "Head-turn challenge").
const TurnMin = 0.2

// Turned reports whether pose, seen after base, is the head turned the way
// t asks, by at least min in Pose X. A person turning to their own left
// shows the camera the right side of their face: the nose moves towards
// the image-right eye, X grows.
func Turned(t Turn, base, pose Pose, min float64) bool {
	dx := pose.X - base.X
	if t == TurnRight {
		dx = -dx
	}
	return dx >= min
}

// MaxStep is the most a head's Pose may move between two consecutive
// frames of the head-turn challenge (in X or Y). A head turning at the
// pace the screen asks for ("slowly") moves its Pose X by 0.02-0.07 a
// frame at 10 frames a second (TurnMin, about 20 degrees, in half a second
// or more); a photo swapped for another, or for its own mirror image
// (which moves X to 1-X), jumps at once, and any jump that alone would pass
// TurnMin is over MaxStep. So the turn must be a path, not a jump.
const MaxStep = 0.15

// Continuous reports whether next can follow prev in one frame of a
// turning head (MaxStep).
func Continuous(prev, next Pose) bool {
	return math.Abs(next.X-prev.X) <= MaxStep && math.Abs(next.Y-prev.Y) <= MaxStep
}
