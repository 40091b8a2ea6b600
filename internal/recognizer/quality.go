package recognizer

import (
	"errors"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer/align"
)

// Problem is why a capture cannot be used to enroll, phrased so the person in
// front of the camera can fix it.
type Problem int

// Problems found by Assess, in the order it checks them.
const (
	Good         Problem = iota // the capture can be enrolled
	NoFace                      // no face found
	SeveralFaces                // more than one face in view
	TooSmall                    // face too small: come closer
	AtEdge                      // face cut by the frame's edge
	NotFrontal                  // head turned: look straight at the camera
	TooDark                     // face too dark
	TooBright                   // face too bright or backlit
	TooBlurry                   // face blurred: hold still
)

var advice = map[Problem][2]string{
	Good:         {"Good. Hold still.", "很好，请保持不动。"},
	NoFace:       {"No face found: look at the camera.", "未检测到人脸：请看向摄像头。"},
	SeveralFaces: {"More than one face: only the person enrolling should be in view.", "检测到多张人脸：请只让登记人出现在画面中。"},
	TooSmall:     {"Face too small: move closer to the camera.", "人脸太小：请靠近摄像头。"},
	AtEdge:       {"Face at the edge of the picture: move to the centre.", "人脸在画面边缘：请移到画面中央。"},
	NotFrontal:   {"Head turned: look straight at the camera.", "头部偏转：请正对摄像头。"},
	TooDark:      {"Too dark: face the light, or turn on a light.", "光线太暗：请面向光源或打开照明。"},
	TooBright:    {"Too bright or backlit: step out of direct light.", "光线太强或逆光：请避开强光。"},
	TooBlurry:    {"Picture blurred: hold still (or clean the lens).", "画面模糊：请保持不动（或清洁镜头）。"},
}

// Advice says, in English ("en") or Chinese ("zh"), what to do about p.
func (p Problem) Advice(lang string) string {
	a, ok := advice[p]
	if !ok {
		return fmt.Sprintf("problem %d", int(p))
	}
	if lang == "zh" {
		return a[1]
	}
	return a[0]
}

func (p Problem) String() string { return p.Advice("en") }

// Quality sets the enrollment quality gate. The zero value uses the
// defaults, which were chosen on the shared real photos (docs/accuracy.md).
type Quality struct {
	MinFaceSide   int     // face box side in pixels (default 100)
	MaxYaw        float64 // nose offset from the eyes' midpoint over eye distance (default 0.25)
	MinBrightness float64 // mean grey level of the face, 0-255 (default 60)
	MaxBrightness float64 // (default 200)
	MinSharpness  float64 // variance of the Laplacian of the face at 150x150 (default 60)
}

// Defaults is q with every zero field set to its default: the thresholds
// Assess applies.
func (q Quality) Defaults() Quality { return q.withDefaults() }

func (q Quality) withDefaults() Quality {
	if q.MinFaceSide == 0 {
		q.MinFaceSide = 100
	}
	if q.MaxYaw == 0 {
		q.MaxYaw = 0.25
	}
	if q.MinBrightness == 0 {
		q.MinBrightness = 60
	}
	if q.MaxBrightness == 0 {
		q.MaxBrightness = 200
	}
	if q.MinSharpness == 0 {
		q.MinSharpness = 60
	}
	return q
}

// Assessment is the quality gate's verdict on one capture, with the
// measurements behind it (zero where the check was not reached).
type Assessment struct {
	Problem    Problem
	Face       Face // the one face, when there is exactly one
	FaceSide   int
	Edge       int // pixels from the face box to the frame's nearest side; negative when cut
	Yaw        float64
	Brightness float64
	Sharpness  float64
}

// QualityError is the error form of an Assessment that is not Good.
type QualityError struct{ Assessment }

func (e *QualityError) Error() string {
	return "recognizer: capture refused: " + e.Problem.Advice("en")
}

// Err returns nil for a Good capture, else a *QualityError.
func (a Assessment) Err() error {
	if a.Problem == Good {
		return nil
	}
	return &QualityError{a}
}

// Assess applies the enrollment quality gate to a frame and the faces found
// in it: exactly one face, big enough, inside the frame, looking at the
// camera, lit well enough and sharp.
func Assess(frame gocv.Mat, faces []Face, q Quality) Assessment {
	q = q.withDefaults()
	var a Assessment
	switch len(faces) {
	case 0:
		a.Problem = NoFace
		return a
	case 1:
	default:
		a.Problem = SeveralFaces
		return a
	}
	f := faces[0]
	a.Face = f
	a.FaceSide = min(f.Rect.Dx(), f.Rect.Dy())
	if a.FaceSide < q.MinFaceSide {
		a.Problem = TooSmall
		return a
	}
	a.Edge = edge(f.Rect, frame.Cols(), frame.Rows())
	if a.Edge < 0 {
		a.Problem = AtEdge
		return a
	}
	a.Yaw = yaw(f.Scheme, f.Landmarks)
	if math.Abs(a.Yaw) > q.MaxYaw {
		a.Problem = NotFrontal
		return a
	}
	a.Brightness, a.Sharpness = faceStats(frame, f.Rect)
	switch {
	case a.Brightness < q.MinBrightness:
		a.Problem = TooDark
	case a.Brightness > q.MaxBrightness:
		a.Problem = TooBright
	case a.Sharpness < q.MinSharpness:
		a.Problem = TooBlurry
	}
	return a
}

// yaw estimates how far the head is turned from 5 landmarks: the
// horizontal offset of the nose from the midpoint between the eyes, over the
// distance between the eyes. 0 is frontal; about ±0.5 is a profile. The
// eyes are dlib's eye corners averaged, or YuNet's eye centres; the nose is
// dlib's base of the nose or YuNet's tip (both lie on the face's midline).
func yaw(scheme Scheme, lm []image.Point) float64 {
	if len(lm) != 5 {
		return 0
	}
	var ex1, ey1, ex2, ey2 float64
	var nose image.Point
	switch scheme {
	case YuNet5:
		ex1, ey1 = float64(lm[0].X), float64(lm[0].Y)
		ex2, ey2 = float64(lm[1].X), float64(lm[1].Y)
		nose = lm[2]
	default:
		ex1, ey1 = float64(lm[0].X+lm[1].X)/2, float64(lm[0].Y+lm[1].Y)/2
		ex2, ey2 = float64(lm[2].X+lm[3].X)/2, float64(lm[2].Y+lm[3].Y)/2
		nose = lm[4]
	}
	dx, dy := ex2-ex1, ey2-ey1
	eyes := math.Hypot(dx, dy)
	if eyes == 0 {
		return 0
	}
	// Project the nose onto the line through the eyes.
	mx, my := (ex1+ex2)/2, (ey1+ey2)/2
	nx, ny := float64(nose.X)-mx, float64(nose.Y)-my
	return (nx*dx + ny*dy) / (eyes * eyes)
}

// faceStats returns the mean grey level of the face and the variance of the
// Laplacian of the face scaled to 150x150 (a focus measure independent of
// the face's size in the frame).
func faceStats(frame gocv.Mat, r image.Rectangle) (brightness, sharpness float64) {
	r = r.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if r.Empty() {
		return 0, 0
	}
	roi := frame.Region(r)
	defer roi.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	if roi.Channels() == 1 {
		roi.CopyTo(&grey)
	} else {
		gocv.CvtColor(roi, &grey, gocv.ColorBGRToGray)
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(grey, &small, image.Pt(150, 150), 0, 0, gocv.InterpolationArea)
	brightness = small.Mean().Val1

	lap := gocv.NewMat()
	defer lap.Close()
	gocv.Laplacian(small, &lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	mean, std := gocv.NewMat(), gocv.NewMat()
	defer mean.Close()
	defer std.Close()
	gocv.MeanStdDev(lap, &mean, &std)
	s := std.GetDoubleAt(0, 0)
	return brightness, s * s
}

// Pose is the face's head pose for the head-turn challenge
// (liveness.PoseOf), from YuNet's landmarks (to a fraction of a pixel where
// given; kept when the dlib model put its own in Landmarks). dlib's
// detectors' 5 points (eye corners and the base of the nose, no mouth) give
// no pose: ErrNoPose.
func (f Face) Pose() (liveness.Pose, error) {
	pts := HeadLandmarks(f)
	if len(pts) != 5 {
		return liveness.Pose{}, ErrNoPose
	}
	var p [5]liveness.Point
	for i, q := range pts {
		p[i] = liveness.Point{X: q.X, Y: q.Y}
	}
	return liveness.PoseOf(p[0], p[1], p[2], p[3], p[4])
}

// YuNetBox is YuNet's box of the face: Rect for a face YuNet found and
// described, YuNetRect where dlib described it; ok is false for a face only
// dlib's detectors found.
func YuNetBox(f Face) (image.Rectangle, bool) {
	if f.Scheme == YuNet5 {
		return f.Rect, !f.Rect.Empty()
	}
	return f.YuNetRect, !f.YuNetRect.Empty()
}

// HeadLandmarks are the 5 YuNet landmarks a head pose is taken from
// (Pose), or nil when f has none (dlib's detectors).
func HeadLandmarks(f Face) []align.Point {
	pts := f.YuNet
	if f.Scheme == YuNet5 {
		pts = f.Precise
		if len(pts) != 5 {
			pts = nil
			for _, p := range f.Landmarks {
				pts = append(pts, align.Point{X: float64(p.X), Y: float64(p.Y)})
			}
		}
	}
	if len(pts) != 5 {
		return nil
	}
	return pts
}

// ErrNoPose is a face whose landmarks give no head pose: the detector is
// dlib's (face.detector = "hog" or "cnn"), whose 5 points have no mouth.
var ErrNoPose = errors.New("recognizer: the head-turn challenge needs the yunet detector's landmarks")
