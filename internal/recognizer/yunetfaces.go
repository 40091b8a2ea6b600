package recognizer

import (
	"fmt"
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer/align"
	"github.com/gated-dev/gated/internal/recognizer/cvutil"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
)

// GateTopK is the most faces YuNet reports in one frame at the gate: each
// is described (for dlib, found again), so a poster of faces held to the
// camera must not cost tens of descriptors a frame (red team round 4: 70
// faces took 1.9 s a frame).
const GateTopK = 5

// ToBGR returns frame as 8-bit BGR: frame itself, or a converted copy the
// caller must close (when its Ptr differs from frame's).
func ToBGR(frame gocv.Mat) (gocv.Mat, error) {
	if frame.Empty() {
		return frame, fmt.Errorf("%w: empty frame", ErrImage)
	}
	switch frame.Type() {
	case gocv.MatTypeCV8UC3:
		return frame, nil
	case gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC4:
		code := gocv.ColorGrayToBGR
		if frame.Type() == gocv.MatTypeCV8UC4 {
			code = gocv.ColorBGRAToBGR
		}
		out := gocv.NewMat()
		gocv.CvtColor(frame, &out, code)
		return out, nil
	}
	return frame, fmt.Errorf("%w: Mat type %v, want 8-bit grey, BGR or BGRA", ErrImage, frame.Type())
}

// YuNetFaces finds the faces in an 8-bit BGR frame with d: Rect, YuNet5
// landmarks and Score, no descriptor; sorted left to right.
func YuNetFaces(d *yunet.Detector, bgr gocv.Mat) ([]Face, error) {
	return yunetFaces(d, bgr)
}

// AlignedYuNetFace is the face YuNet finds in frame (any Mat
// DecodeImage gives) whose box overlaps near most, its landmarks refined
// as the gate refines them for fr-feature (RefineYuNet); ok is false when
// YuNet finds none.
func AlignedYuNetFace(d *yunet.Detector, frame gocv.Mat, near image.Rectangle) (f Face, ok bool, err error) {
	bgr, err := ToBGR(frame)
	if err != nil {
		return Face{}, false, err
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	found, err := yunetFaces(d, bgr)
	if err != nil || len(found) == 0 {
		return Face{}, false, err
	}
	best, area := found[0], -1
	for _, g := range found {
		in := g.Rect.Intersect(near)
		if a := in.Dx() * in.Dy(); a > area {
			best, area = g, a
		}
	}
	f, err = RefineYuNet(d, bgr, best)
	return f, err == nil, err
}

func yunetFaces(d *yunet.Detector, bgr gocv.Mat) ([]Face, error) {
	found, err := d.Detect(bgr)
	if err != nil {
		return nil, fmt.Errorf("recognizer: %w", err)
	}
	out := make([]Face, len(found))
	for i, f := range found {
		out[i] = Face{
			Rect:   image.Rect(round(f.Box.X), round(f.Box.Y), round(f.Box.X+f.Box.W), round(f.Box.Y+f.Box.H)),
			Scheme: YuNet5,
			Score:  f.Score,
		}
		for _, p := range f.Landmarks {
			out[i].Landmarks = append(out[i].Landmarks, image.Pt(round(p.X), round(p.Y)))
			out[i].Precise = append(out[i].Precise, align.Point{X: p.X, Y: p.Y})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rect.Min.X < out[j].Rect.Min.X })
	return out, nil
}

func round(x float64) int { return int(math.Floor(x + 0.5)) }

// confirmSide is the side, in pixels, a smaller YuNet box is scaled up to
// before dlib's HOG detector looks for the face in it: dlib's box is then
// about 150 pixels, well above the 80 its detector needs. Larger faces are
// searched at their own scale, so dlib's box and landmarks are those it
// would find in the whole frame.
const confirmSide = 200

// yunetFaces finds faces with YuNet, then has dlib find each one again in
// a crop around YuNet's box (scaled up to confirmSide when smaller) and
// describe it: dlib's descriptor needs its own landmarks. A face dlib does
// not find in its crop is looked for once more in dlib's detection over the
// whole frame (so no face dlib alone would find is lost); one dlib does not
// find at all (turned too far for its HOG detector) is left out. Rect and
// Landmarks are dlib's.
func (r *Recognizer) yunetFaces(frame gocv.Mat) ([]Face, error) {
	bgr, err := ToBGR(frame)
	if err != nil {
		return nil, err
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	r.mu.RLock()
	yn := r.yn
	r.mu.RUnlock()
	if yn == nil {
		return nil, ErrClosed
	}
	found, err := YuNetFaces(yn, bgr)
	if err != nil {
		return nil, err
	}
	bounds := image.Rect(0, 0, bgr.Cols(), bgr.Rows())
	var out []Face
	var whole []Face // dlib over the whole frame, when needed
	for i, f := range found {
		g, ok, err := r.confirm(bgr, bounds, f)
		if err != nil {
			return nil, err
		}
		if !ok {
			if whole == nil {
				if whole, err = r.dlibFaces(bgr); err != nil {
					return nil, err
				}
				if whole == nil {
					whole = []Face{}
				}
			}
			rects := make([]image.Rectangle, len(whole))
			for j, w := range whole {
				rects[j] = w.Rect
			}
			var j int
			if j, ok = closest(found[i].Rect, rects); ok {
				g = whole[j]
				g.Score = f.Score
				g.YuNet, g.YuNetRect = f.Precise, f.Rect
			}
		}
		if ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// closest returns the index of the rectangle whose centre lies inside box,
// closest to box's centre.
func closest(box image.Rectangle, rects []image.Rectangle) (int, bool) {
	centre := box.Min.Add(box.Max).Div(2)
	best, bestD := -1, math.Inf(1)
	for i, r := range rects {
		c := r.Min.Add(r.Max).Div(2)
		if !c.In(box) {
			continue
		}
		if d := math.Hypot(float64(c.X-centre.X), float64(c.Y-centre.Y)); d < bestD {
			best, bestD = i, d
		}
	}
	return best, best >= 0
}

// confirm runs dlib on the crop around f and returns the face whose box
// centre lies inside f's box, closest to its centre.
func (r *Recognizer) confirm(bgr gocv.Mat, bounds image.Rectangle, f Face) (Face, bool, error) {
	side := max(f.Rect.Dx(), f.Rect.Dy())
	if side <= 0 {
		return Face{}, false, nil
	}
	crop := f.Rect.Inset(-side / 2).Intersect(bounds)
	if crop.Empty() {
		return Face{}, false, nil
	}
	k := max(1, float64(confirmSide)/float64(side))
	roi := bgr.Region(crop)
	defer roi.Close()
	scaled := gocv.NewMat()
	defer scaled.Close()
	if err := cvutil.Scale(roi, &scaled, k); err != nil {
		return Face{}, false, fmt.Errorf("recognizer: %w", err)
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, scaled, []int{gocv.IMWriteJpegQuality, 95})
	if err != nil {
		return Face{}, false, fmt.Errorf("recognizer: encode crop: %w", err)
	}
	defer buf.Close()
	found, err := r.recognize(buf.GetBytes(), false)
	if err != nil {
		return Face{}, false, err
	}
	back := func(p image.Point) image.Point {
		return image.Pt(crop.Min.X+round(float64(p.X)/k), crop.Min.Y+round(float64(p.Y)/k))
	}
	rects := make([]image.Rectangle, len(found))
	for i, g := range found {
		rects[i] = image.Rectangle{Min: back(g.Rectangle.Min), Max: back(g.Rectangle.Max)}
	}
	best, ok := closest(f.Rect, rects)
	if !ok {
		return Face{}, false, nil
	}
	g := found[best]
	out := Face{Rect: rects[best], Scheme: Dlib5, Score: f.Score, YuNet: f.Precise, YuNetRect: f.Rect, Descriptor: append([]float32(nil), g.Descriptor[:]...)}
	for _, p := range g.Shapes {
		out.Landmarks = append(out.Landmarks, back(p))
	}
	return out, true, nil
}

// refineSide is the side a smaller YuNet box is scaled up to when its
// landmarks are found again (RefineYuNet), in a crop a quarter of the box
// wider on each side. On the East Asian photos, fr-feature's FNMR at FMR
// 1%, 0.1%, 0.01% was 5.2%, 16.2%, 35.6% with YuNet's landmarks as found
// in the photo; refining brings it near dlib's landmarks' (docs/accuracy.md
// has the figures for this value).
const refineSide = 256

// RefineYuNet finds f's landmarks again in a crop around its box, scaled
// so the box is refineSide pixels: YuNet places landmarks on a grid of 8 to
// 32 pixels, which is coarse on a face that is small in what the network
// saw (a large photo is scaled down first). A face the network already saw
// that large, or one YuNet does not find again in the crop, is returned
// unchanged.
func RefineYuNet(d *yunet.Detector, bgr gocv.Mat, f Face) (Face, error) {
	side := max(f.Rect.Dx(), f.Rect.Dy())
	if side <= 0 || float64(side)*d.InputScale(bgr.Cols(), bgr.Rows()) >= refineSide {
		return f, nil
	}
	crop := f.Rect.Inset(-side / 4).Intersect(image.Rect(0, 0, bgr.Cols(), bgr.Rows()))
	if crop.Empty() {
		return f, nil
	}
	k := float64(refineSide) / float64(side)
	roi := bgr.Region(crop)
	defer roi.Close()
	scaled := gocv.NewMat()
	defer scaled.Close()
	if err := cvutil.Scale(roi, &scaled, k); err != nil {
		return f, fmt.Errorf("recognizer: %w", err)
	}
	found, err := d.Detect(scaled)
	if err != nil {
		return f, fmt.Errorf("recognizer: %w", err)
	}
	rects := make([]image.Rectangle, len(found))
	back := func(p yunet.Point) align.Point {
		return align.Point{X: float64(crop.Min.X) + p.X/k, Y: float64(crop.Min.Y) + p.Y/k}
	}
	for i, g := range found {
		a, b := back(yunet.Point{X: g.Box.X, Y: g.Box.Y}), back(yunet.Point{X: g.Box.X + g.Box.W, Y: g.Box.Y + g.Box.H})
		rects[i] = image.Rect(round(a.X), round(a.Y), round(b.X), round(b.Y))
	}
	i, ok := closest(f.Rect, rects)
	if !ok {
		return f, nil
	}
	out := f
	out.Landmarks, out.Precise = nil, nil
	for _, p := range found[i].Landmarks {
		q := back(p)
		out.Precise = append(out.Precise, q)
		out.Landmarks = append(out.Landmarks, image.Pt(round(q.X), round(q.Y)))
	}
	return out, nil
}
