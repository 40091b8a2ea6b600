// Package yunet finds faces with YuNet (OpenCV Zoo's face detector,
// face_detection_yunet_2023mar.onnx, MIT), run by OpenCV's DNN module, and
// decodes the network's raw outputs itself: OpenCV 4.6's FaceDetectorYN
// cannot load this version of the network (it needs 4.8), but the network
// itself loads in 4.6's ONNX importer.
//
// It owns loading the verified network, the input padding, and turning the
// outputs (per stride: class and objectness scores, box offsets and 5
// landmarks per anchor point) into faces with non-maximum suppression. The
// decoding and suppression are pure functions (Decode, Suppress), fuzzed
// and tested on real photos. It never fetches the model
// (scripts/fetch-face-model.sh yunet does, SHA-256 verified), and never
// keeps or logs an image.
package yunet

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Strides are the feature-map strides of the network's three heads, in the
// order Decode takes them.
var Strides = [3]int{8, 16, 32}

// Align is what the input's sides are padded to a multiple of.
const Align = 32

// Point is a position in pixels.
type Point struct{ X, Y float64 }

// Box is a face's bounding box: top-left corner and size, in pixels.
type Box struct{ X, Y, W, H float64 }

// Area is W·H, 0 for an empty box.
func (b Box) Area() float64 { return max(b.W, 0) * max(b.H, 0) }

// IoU is the area of the overlap of a and b over the area of their union.
func IoU(a, b Box) float64 {
	x0, y0 := max(a.X, b.X), max(a.Y, b.Y)
	x1, y1 := min(a.X+a.W, b.X+b.W), min(a.Y+a.H, b.Y+b.H)
	inter := max(x1-x0, 0) * max(y1-y0, 0)
	u := a.Area() + b.Area() - inter
	if !(u > 0) {
		return 0
	}
	return inter / u
}

// Landmark indices in Face.Landmarks. Left and right are as seen in the
// image (the network's "right eye" is the person's right eye, which is on
// the image's left).
const (
	EyeLeft = iota
	EyeRight
	NoseTip
	MouthLeft
	MouthRight
)

// Face is one detection.
type Face struct {
	Box       Box
	Landmarks [5]Point // EyeLeft, EyeRight, NoseTip, MouthLeft, MouthRight
	// Score is the geometric mean of the class and objectness scores, in
	// [0, 1].
	Score float64
}

// Head is one stride's raw outputs, each row-major over the grid of
// anchor points (rows = padded height / Stride, cols = padded width /
// Stride): Cls and Obj one value per point, BBox 4 (centre offsets, log
// width and height, in strides), Kps 10 (5 x, y offsets, in strides).
type Head struct {
	Stride              int
	Cls, Obj, BBox, Kps []float32
}

// ErrOutput: the network's outputs do not have the shape the input implies.
var ErrOutput = errors.New("yunet: unexpected network output")

// maxLog bounds the log-size offsets: e^12 strides is far larger than any
// image; a larger value is garbage, not a face.
const maxLog = 12

// Decode turns the heads of one forward pass over a padW x padH input into
// the faces scoring at least minScore, unsorted and not yet suppressed.
// Non-finite values are skipped, never returned.
func Decode(heads []Head, padW, padH int, minScore float64) ([]Face, error) {
	if padW <= 0 || padH <= 0 || padW%Align != 0 || padH%Align != 0 {
		return nil, fmt.Errorf("%w: input %dx%d is not padded to a multiple of %d", ErrOutput, padW, padH, Align)
	}
	var out []Face
	for _, h := range heads {
		if h.Stride <= 0 || Align%h.Stride != 0 {
			return nil, fmt.Errorf("%w: stride %d", ErrOutput, h.Stride)
		}
		rows, cols := padH/h.Stride, padW/h.Stride
		n := rows * cols
		if len(h.Cls) != n || len(h.Obj) != n || len(h.BBox) != 4*n || len(h.Kps) != 10*n {
			return nil, fmt.Errorf("%w: stride %d over %dx%d: %d, %d, %d, %d values, want %d, %d, %d, %d",
				ErrOutput, h.Stride, padW, padH, len(h.Cls), len(h.Obj), len(h.BBox), len(h.Kps), n, n, 4*n, 10*n)
		}
		s := float64(h.Stride)
		for i := range n {
			cls, obj := clamp01(h.Cls[i]), clamp01(h.Obj[i])
			score := math.Sqrt(cls * obj)
			if !(score >= minScore) {
				continue
			}
			r, c := float64(i/cols), float64(i%cols)
			b := h.BBox[4*i : 4*i+4]
			if !finite(b...) || float64(b[2]) > maxLog || float64(b[3]) > maxLog {
				continue
			}
			cx, cy := (c+float64(b[0]))*s, (r+float64(b[1]))*s
			w, ht := math.Exp(float64(b[2]))*s, math.Exp(float64(b[3]))*s
			f := Face{Box: Box{cx - w/2, cy - ht/2, w, ht}, Score: score}
			k := h.Kps[10*i : 10*i+10]
			if !finite(k...) {
				continue
			}
			for j := range 5 {
				f.Landmarks[j] = Point{(float64(k[2*j]) + c) * s, (float64(k[2*j+1]) + r) * s}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// Suppress keeps the best-scoring faces, dropping any face whose box
// overlaps a kept one by more than maxIoU, and at most topK faces (all when
// topK <= 0). The result is sorted by score, best first (ties by
// position, so the result does not depend on the input's order).
func Suppress(faces []Face, maxIoU float64, topK int) []Face {
	sorted := append([]Face(nil), faces...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.Box.X != b.Box.X {
			return a.Box.X < b.Box.X
		}
		return a.Box.Y < b.Box.Y
	})
	var keep []Face
	for _, f := range sorted {
		if topK > 0 && len(keep) == topK {
			break
		}
		ok := true
		for _, k := range keep {
			if IoU(f.Box, k.Box) > maxIoU {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, f)
		}
	}
	return keep
}

func clamp01(v float32) float64 {
	x := float64(v)
	if !(x > 0) { // also NaN
		return 0
	}
	return min(x, 1)
}

func finite(v ...float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
