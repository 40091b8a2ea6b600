package recognizer

import (
	"image"

	"gocv.io/x/gocv"
)

// FaceFinder finds and describes the faces of a frame: a Recognizer, or
// the face model the gate opened (facemodel.Source).
type FaceFinder interface {
	Faces(frame gocv.Mat) ([]Face, error)
}

// EnrollQuality is the quality gate every enrollment applies (a staff
// photo, the kiosk's and the staff CLI's camera captures): the defaults.
// gated-eval's daemon-faithful mode applies it too, through EnrollAssess,
// so that its figures are the gallery the gate would hold.
var EnrollQuality = Quality{}

// EnrollAssess is the enrollment verdict on a frame and the faces found in
// it: Assess with EnrollQuality. A Good assessment's Face.Descriptor is the
// template to store.
func EnrollAssess(frame gocv.Mat, faces []Face) Assessment {
	return Assess(frame, faces, EnrollQuality)
}

// EnrollPhoto is staff enrollment from a photo (gated face enroll
// --photo): decode it (DecodeImage), find its faces with ff, and apply the
// enrollment quality gate. The error is for a photo that cannot be decoded
// or a detector that failed; a photo the gate refuses is an Assessment
// whose Problem says why.
func EnrollPhoto(ff FaceFinder, photo []byte) (Assessment, error) {
	m, err := DecodeImage(photo)
	if err != nil {
		return Assessment{}, err
	}
	defer m.Close()
	faces, err := ff.Faces(m)
	if err != nil {
		return Assessment{}, err
	}
	return EnrollAssess(m, faces), nil
}

// LiveFace is the face the gate decides on in a live camera frame: the
// largest, with no quality gate (a resident at the door is not asked to
// pose); nil when there is none.
func LiveFace(faces []Face) *Face {
	var best *Face
	for i := range faces {
		f := &faces[i]
		if best == nil || f.Rect.Dx()*f.Rect.Dy() > best.Rect.Dx()*best.Rect.Dy() {
			best = f
		}
	}
	return best
}

// Measure takes every measurement the quality gate uses of one face in a
// frame, whatever Assess would decide (Problem is left Good): for
// studying the gate's thresholds.
func Measure(frame gocv.Mat, f Face) Assessment {
	a := Assessment{Face: f, FaceSide: min(f.Rect.Dx(), f.Rect.Dy())}
	a.Edge = edge(f.Rect, frame.Cols(), frame.Rows())
	a.Yaw = yaw(f.Scheme, f.Landmarks)
	a.Brightness, a.Sharpness = faceStats(frame, f.Rect)
	return a
}

// edge is the distance in pixels from r to the nearest side of a w x h
// frame: negative when r is cut by it.
func edge(r image.Rectangle, w, h int) int {
	return min(r.Min.X, r.Min.Y, w-r.Max.X, h-r.Max.Y)
}
