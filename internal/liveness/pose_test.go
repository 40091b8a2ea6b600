package liveness

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// head is a face in 3-D (millimetres; x to the person's left, which the
// camera sees on the image right; y down; z towards the camera): eye
// centres, nose tip and mouth corners. The nose tip stands 30 mm out of the
// plane of the eyes, the mouth corners 5 mm behind it.
var head = [5][3]float64{
	{-32, -35, 0}, // image-left eye (the person's right)
	{32, -35, 0},  // image-right eye
	{0, 5, 30},    // nose tip
	{-25, 35, -5}, // image-left mouth corner
	{25, 35, -5},  // image-right mouth corner
}

// project turns the head by yaw radians to the person's own left (pitch
// about the horizontal axis) and projects it through a pinhole camera at
// dist millimetres with focal length f pixels, centred at (320, 240).
func project(yaw, pitch, dist, f float64) [5]Point {
	var out [5]Point
	for i, p := range head {
		x, y, z := p[0], p[1], p[2]
		// Turning to their left brings the face's front (+z) towards +x.
		x, z = x*math.Cos(yaw)+z*math.Sin(yaw), -x*math.Sin(yaw)+z*math.Cos(yaw)
		y, z = y*math.Cos(pitch)-z*math.Sin(pitch), y*math.Sin(pitch)+z*math.Cos(pitch)
		out[i] = Point{320 + f*x/(dist-z), 240 + f*y/(dist-z)}
	}
	return out
}

func poseOf(t *testing.T, p [5]Point) Pose {
	t.Helper()
	pose, err := PoseOf(p[0], p[1], p[2], p[3], p[4])
	if err != nil {
		t.Fatalf("PoseOf(%v) = %v", p, err)
	}
	return pose
}

func TestFrontalFaceHasItsNoseInTheMiddle(t *testing.T) {
	p := poseOf(t, project(0, 0, 800, 600))
	if math.Abs(p.X-0.5) > 1e-9 {
		t.Fatalf("frontal Pose.X = %v, want 0.5", p.X)
	}
}

// homography applies a row-major 3x3 homography to a point.
func homography(h [9]float64, p Point) Point {
	w := h[6]*p.X + h[7]*p.Y + h[8]
	return Point{(h[0]*p.X + h[1]*p.Y + h[2]) / w, (h[3]*p.X + h[4]*p.Y + h[5]) / w}
}

// randomPlaneView is the homography a camera sees a flat picture through,
// moved, rotated in the image plane, tilted about both axes by up to 60
// degrees and scaled: the picture's plane rotated in 3-D and projected.
func randomPlaneView(r *rand.Rand) [9]float64 {
	roll := (r.Float64() - 0.5) * math.Pi / 2
	tiltX := (r.Float64() - 0.5) * 2 * math.Pi / 3
	tiltY := (r.Float64() - 0.5) * 2 * math.Pi / 3
	scale := 0.3 + r.Float64()*2
	dist := 400 + r.Float64()*1200
	f := 400 + r.Float64()*800
	// Columns of the plane's rotation (its x and y axes in 3-D).
	cr, sr := math.Cos(roll), math.Sin(roll)
	cx, sx := math.Cos(tiltX), math.Sin(tiltX)
	cy, sy := math.Cos(tiltY), math.Sin(tiltY)
	// R = Ry * Rx * Rz
	rz := [3][3]float64{{cr, -sr, 0}, {sr, cr, 0}, {0, 0, 1}}
	rx := [3][3]float64{{1, 0, 0}, {0, cx, -sx}, {0, sx, cx}}
	ry := [3][3]float64{{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}}
	mul := func(a, b [3][3]float64) (c [3][3]float64) {
		for i := range 3 {
			for j := range 3 {
				for k := range 3 {
					c[i][j] += a[i][k] * b[k][j]
				}
			}
		}
		return c
	}
	R := mul(ry, mul(rx, rz))
	// A picture point (u, v) lands at scale*(R col0 * u + R col1 * v) + (0, 0, -dist).
	// Image: x = 320 + f*X/(-Z)... with the camera looking down -z: depth = dist - Z.
	return [9]float64{
		f*scale*R[0][0] + 320*(-scale*R[2][0]), f*scale*R[0][1] + 320*(-scale*R[2][1]), 320 * dist,
		f*scale*R[1][0] + 240*(-scale*R[2][0]), f*scale*R[1][1] + 240*(-scale*R[2][1]), 240 * dist,
		-scale * R[2][0], -scale * R[2][1], dist,
	}
}

// A flat picture of a face, seen from any angle, at any distance and size,
// has the Pose of the picture: no way of holding a photo turns its head.
func TestNoViewOfAFlatPictureTurnsItsHead(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, yaw := range []float64{-0.4, 0, 0.3} {
		picture := project(yaw, 0.1, 800, 600)
		// The picture's own coordinates, centred.
		var flat [5]Point
		for i, p := range picture {
			flat[i] = Point{p.X - 320, p.Y - 240}
		}
		want := poseOf(t, flat)
		for range 2000 {
			h := randomPlaneView(r)
			var seen [5]Point
			for i, p := range flat {
				seen[i] = homography(h, p)
			}
			got, err := PoseOf(seen[0], seen[1], seen[2], seen[3], seen[4])
			if err != nil {
				continue // seen edge-on or from behind: no pose, so no turn
			}
			if math.Abs(got.X-want.X) > 1e-6 || math.Abs(got.Y-want.Y) > 1e-6 {
				t.Fatalf("a view of a flat picture moved its Pose from %v to %v", want, got)
			}
			for _, turn := range []Turn{TurnLeft, TurnRight} {
				if Turned(turn, want, got, TurnMin) {
					t.Fatalf("a view of a flat picture passed a turn %s", turn)
				}
			}
		}
	}
}

// A head turned by 20 degrees or more to either side passes the challenge
// that asked for that side, and fails the one that asked for the other.
func TestATurningHeadPassesTheWayItTurns(t *testing.T) {
	for _, pitch := range []float64{-0.2, 0, 0.2} {
		base := poseOf(t, project(0, pitch, 800, 600))
		for _, deg := range []float64{20, 30, 45} {
			yaw := deg * math.Pi / 180
			left := poseOf(t, project(yaw, pitch, 800, 600))
			right := poseOf(t, project(-yaw, pitch, 800, 600))
			if !Turned(TurnLeft, base, left, TurnMin) || Turned(TurnRight, base, left, TurnMin) {
				t.Errorf("pitch %v, %v degrees to the left: Pose.X %v -> %v, want a left turn only", pitch, deg, base.X, left.X)
			}
			if !Turned(TurnRight, base, right, TurnMin) || Turned(TurnLeft, base, right, TurnMin) {
				t.Errorf("pitch %v, %v degrees to the right: Pose.X %v -> %v, want a right turn only", pitch, deg, base.X, right.X)
			}
		}
		// A head held (nearly) still does not pass.
		still := poseOf(t, project(5*math.Pi/180, pitch, 800, 600))
		if Turned(TurnLeft, base, still, TurnMin) || Turned(TurnRight, base, still, TurnMin) {
			t.Errorf("pitch %v: a 5-degree turn passed (Pose.X %v -> %v)", pitch, base.X, still.X)
		}
	}
}

func TestLandmarksThatAreNoFaceGiveNoPose(t *testing.T) {
	good := project(0, 0, 800, 600)
	cases := map[string][5]Point{
		"eyes swapped":       {good[1], good[0], good[2], good[3], good[4]},
		"all in one point":   {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},
		"mouth on the eyes":  {good[0], good[1], good[2], good[0], good[1]},
		"not a number":       {{math.NaN(), 0}, good[1], good[2], good[3], good[4]},
		"infinitely distant": {{math.Inf(1), 0}, good[1], good[2], good[3], good[4]},
	}
	for name, p := range cases {
		if pose, err := PoseOf(p[0], p[1], p[2], p[3], p[4]); !errors.Is(err, ErrPose) {
			t.Errorf("%s: PoseOf = %v, %v; want ErrPose", name, pose, err)
		}
	}
}

func FuzzPoseOf(f *testing.F) {
	g := project(0.2, 0.1, 800, 600)
	f.Add(g[0].X, g[0].Y, g[1].X, g[1].Y, g[2].X, g[2].Y, g[3].X, g[3].Y, g[4].X, g[4].Y)
	f.Add(0.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 1.0, 1.0)
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g, h, i, j, k float64) {
		p, err := PoseOf(Point{a, b}, Point{c, d}, Point{e, g}, Point{h, i}, Point{j, k})
		if err != nil {
			if !errors.Is(err, ErrPose) {
				t.Fatalf("PoseOf error %v is not ErrPose", err)
			}
			return
		}
		if math.IsNaN(p.X+p.Y) || math.IsInf(p.X+p.Y, 0) {
			t.Fatalf("PoseOf = %v, a pose that is not finite", p)
		}
	})
}

// A head turning by up to 45 degrees in steps of 3 degrees moves
// continuously; a photo swapped for its mirror image does not, whenever
// the swap alone would pass TurnMin.
func TestATurnIsAPathNotAJump(t *testing.T) {
	prev := poseOf(t, project(0, 0, 800, 600))
	for deg := 3.0; deg <= 45; deg += 3 {
		next := poseOf(t, project(deg*math.Pi/180, 0, 800, 600))
		if !Continuous(prev, next) {
			t.Fatalf("a 3-degree step at %v degrees moved Pose %v -> %v: not continuous", deg, prev, next)
		}
		prev = next
	}
	for x := 0.0; x <= 1; x += 0.01 {
		photo, mirror := Pose{X: x, Y: 0.5}, Pose{X: 1 - x, Y: 0.5}
		passes := Turned(TurnLeft, photo, mirror, TurnMin) || Turned(TurnRight, photo, mirror, TurnMin)
		if passes && Continuous(photo, mirror) {
			t.Fatalf("a photo at X %.2f and its mirror: the jump passes a turn and is continuous", x)
		}
	}
}
