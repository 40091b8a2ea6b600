package gate

import (
	"image"
	"math"
	"slices"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
)

// trackIoU is the least overlap (intersection over union) between a face's
// box and the box of the face in the frame before for both to be one
// person's track. A person standing at the camera moves a few pixels between
// frames at 10 fps: their boxes overlap by 0.7 or more. Someone else
// stepping in, or the largest face switching to another person in view,
// lands elsewhere: under 0.3 the frames are not fused.
const trackIoU = 0.3

// track is the face the camera follows: where it was last seen, its last
// descriptor, and the descriptors of its last frames, which the gate fuses
// into one probe (match.Fuse).
type track struct {
	box   image.Rectangle
	last  []float32
	faces [][]float32       // the last Frames descriptors, oldest first
	pad   []*liveness.Frame // their PAD figures (nil: none for that frame)
	pose  []*liveness.Pose  // their head poses (nil: none for that frame)
	// refused: PAD refused this face; it decides nothing more until it
	// leaves (one presentation is one attempt, not one every few frames).
	refused bool
}

// follow adds a frame's face to the track, or starts a new track with it
// when it is not the same face: its box overlaps the last one by less than
// trackIoU, or (jump > 0) its descriptor lies jump or farther from what it
// would be fused with (the fused descriptor of the frames held, else the
// last one): a face changed in place. With jump the accept threshold, a
// face is never fused with frames the gate would not accept as the same
// person. A zero box is a caller that gives no boxes: it continues a track
// of zero boxes only. It keeps the last k descriptors and reports whether
// a new track began.
func (t *track) follow(box image.Rectangle, face []float32, pad *liveness.Frame, pose *liveness.Pose, k int, jump float32) (fresh bool) {
	fresh = t.last == nil ||
		box.Empty() != t.box.Empty() ||
		(!box.Empty() && iou(box, t.box) < trackIoU) ||
		(jump > 0 && distance(face, t.reference()) >= jump)
	if fresh {
		t.faces, t.pad, t.pose, t.refused = t.faces[:0], t.pad[:0], t.pose[:0], false
	}
	face = slices.Clone(face) // the caller's buffer may be reused
	t.box, t.last = box, face
	t.faces, t.pad, t.pose = append(t.faces, face), append(t.pad, pad), append(t.pose, pose)
	if len(t.faces) > k {
		t.faces = slices.Delete(t.faces, 0, len(t.faces)-k)
		t.pad = slices.Delete(t.pad, 0, len(t.pad)-k)
		t.pose = slices.Delete(t.pose, 0, len(t.pose)-k)
	}
	return fresh
}

// reference is what a new face of the track is compared with: the fused
// descriptor of the frames held, or the last face when none are held (just
// after a decision restarted them).
func (t *track) reference() []float32 {
	if len(t.faces) == 0 {
		return t.last
	}
	f, err := match.Fuse(t.faces)
	if err != nil {
		return nil // another length: distance says another face
	}
	return f
}

// end ends the track: the next face starts a new one.
func (t *track) end() { *t = track{} }

// restart keeps following the face but forgets its frames: the next
// decision waits for k new ones.
func (t *track) restart() { t.faces, t.pad, t.pose = t.faces[:0], t.pad[:0], t.pose[:0] }

// iou is the intersection over union of two non-empty rectangles.
func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	area := func(r image.Rectangle) float64 { return float64(r.Dx()) * float64(r.Dy()) }
	i := area(in)
	return i / (area(a) + area(b) - i)
}

// distance is the Euclidean distance, as the gallery measures it; a
// descriptor of another length (a model changed) is another face.
func distance(a, b []float32) float32 {
	if len(a) != len(b) {
		return float32(math.Inf(1))
	}
	return match.Distance(a, b)
}
