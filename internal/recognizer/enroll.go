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

// EnrollQuality is the quality gate camera enrollment applies (the kiosk's
// and the staff CLI's captures): the defaults. A resident at the camera can
// step closer and hold still: 100 pixels is about 0.9 m from the gate's
// 640x480 camera. gated-eval's daemon-faithful mode applies it too, through
// EnrollAssess, so that its figures are the gallery the gate would hold.
var EnrollQuality = Quality{}

// PhotoQuality is the quality gate staff photos pass (gated face enroll
// --photo): smaller and softer faces than the camera's, because staff
// photos are often small published pictures whose face fills the frame,
// and those recognise as well as the ones the camera's gate keeps
// (docs/accuracy.md, "Are the thresholds right?": on the East Asian photos,
// 80 px and sharpness 40 enroll 33 of 36 residents instead of 20, the
// calibrated mode goes from off to verify, and no more strangers get in).
// Pose, light, one face and the whole face are checked as at the camera.
var PhotoQuality = Quality{MinFaceSide: 80, MinSharpness: 40}

// EnrollAssess is the enrollment verdict on a frame and the faces found in
// it: Assess with EnrollQuality. A Good assessment's Face.Descriptor is the
// template to store.
func EnrollAssess(frame gocv.Mat, faces []Face) Assessment {
	return Assess(frame, faces, EnrollQuality)
}

// EnrollPhoto is staff enrollment from a photo (gated face enroll
// --photo): decode it (DecodeImage), find its faces with ff, and apply the
// staff photo quality gate (PhotoQuality). The error is for a photo that cannot be decoded
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
	return PhotoAssess(m, faces), nil
}

// PhotoAssess is the staff-photo verdict on a decoded photo and the faces
// found in it: Assess with PhotoQuality (what EnrollPhoto applies, and
// gated-eval's daemon-faithful mode).
func PhotoAssess(photo gocv.Mat, faces []Face) Assessment {
	return Assess(photo, faces, PhotoQuality)
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
