package nir

import (
	"fmt"
	"image"
	"math"

	"github.com/gated-dev/gated/internal/liveness"
)

// Stats are what the NIR crop of a face shows, on 0-255 grey levels.
type Stats struct {
	// Mean is the mean level: a face lit by the 850 nm illuminator is
	// mid-grey; a screen (which emits no NIR) is dark.
	Mean float64
	// Saturated is the share of pixels at 250 or more: the flat glare of a
	// glossy sheet or screen under the illuminator.
	Saturated float64
	// Contrast is the standard deviation of the crop averaged over 4x4
	// blocks (sensor noise averages out, the face's structure does not):
	// a face has eyes, brows and nostrils; a screen or blank card is flat.
	Contrast float64
}

// CropStats measures a grey crop (w x h, rows stride bytes apart); zero
// Stats for an empty or short crop.
func CropStats(pix []uint8, w, h, stride int) Stats {
	if w <= 0 || h <= 0 || stride < w || len(pix) < (h-1)*stride+w {
		return Stats{}
	}
	var sum float64
	var sat int
	for y := range h {
		for _, v := range pix[y*stride : y*stride+w] {
			sum += float64(v)
			if v >= 250 {
				sat++
			}
		}
	}
	n := float64(w * h)
	s := Stats{Mean: sum / n, Saturated: float64(sat) / n}
	const blk = 4
	bw, bh := w/blk, h/blk
	if bw == 0 || bh == 0 {
		return s
	}
	var bs, bs2 float64
	for by := range bh {
		for bx := range bw {
			var b float64
			for y := by * blk; y < (by+1)*blk; y++ {
				for x := bx * blk; x < (bx+1)*blk; x++ {
					b += float64(pix[y*stride+x])
				}
			}
			b /= blk * blk
			bs, bs2 = bs+b, bs2+b*b
		}
	}
	m := float64(bw * bh)
	s.Contrast = math.Sqrt(math.Max(0, bs2/m-(bs/m)*(bs/m)))
	return s
}

// Limits are the crop checks' bounds.
type Limits struct {
	MinMean, MaxMean float64
	MaxSaturated     float64
	MinContrast      float64
}

// DefaultLimits: a face 0.5-1.5 m from an 850 nm illuminator, as UVC NIR
// modules expose it (auto-exposure on). Set from the synthetic pairs and
// the physics (a screen is dark in NIR), not measured on NIR hardware:
// docs/liveness.md says so.
var DefaultLimits = Limits{MinMean: 40, MaxMean: 225, MaxSaturated: 0.2, MinContrast: 8}

// Check says why a crop fails ("" when it passes).
func (l Limits) Check(s Stats) string {
	switch {
	case !(s.Mean >= l.MinMean):
		return fmt.Sprintf("NIR face region dark (mean %.0f, want %.0f or more): no face lit by the illuminator, as a screen shows", s.Mean, l.MinMean)
	case s.Mean > l.MaxMean:
		return fmt.Sprintf("NIR face region overexposed (mean %.0f, want at most %.0f)", s.Mean, l.MaxMean)
	case s.Saturated > l.MaxSaturated:
		return fmt.Sprintf("NIR face region %.0f%% saturated (want at most %.0f%%): glare of a glossy surface", 100*s.Saturated, 100*l.MaxSaturated)
	case !(s.Contrast >= l.MinContrast):
		return fmt.Sprintf("NIR face region flat (contrast %.1f, want %.0f or more)", s.Contrast, l.MinContrast)
	}
	return ""
}

// Result is the NIR check of one frame.
type Result struct {
	State  liveness.NIRState
	Reason string // why it did not pass ("" when it did)
	IoU    float64
	Box    image.Rectangle // the matched NIR face
	Stats  Stats
}

// Judge is the NIR check of one colour face box, pure: reg is the
// registration (nil: none, fails closed), sizes the two frames' sizes,
// nirFaces the faces the detector found in the NIR frame (nil with
// nirFrame false: no NIR frame of the same moment), and stats measures the
// NIR crop of a matched face.
func Judge(reg *Registration, colour image.Rectangle, colourSize image.Point, nirFrame bool, nirSize image.Point, nirFaces []image.Rectangle, stats func(image.Rectangle) Stats, lim Limits) Result {
	switch {
	case reg == nil:
		return Result{State: liveness.NIRUnregistered, Reason: "no colour-to-NIR registration: run gated camera nir-register"}
	case !nirFrame:
		return Result{State: liveness.NIRMissing, Reason: "no NIR frame of the same moment"}
	case colourSize != reg.Colour || nirSize != reg.NIR:
		return Result{State: liveness.NIRUnregistered, Reason: fmt.Sprintf("frame sizes %v / %v differ from the registration's %v / %v: register again", colourSize, nirSize, reg.Colour, reg.NIR)}
	}
	box, iou, ok := Match(*reg, colour, nirFaces)
	if !ok {
		return Result{State: liveness.NIRFailed, IoU: iou, Reason: fmt.Sprintf("no face in the NIR frame where the colour face is (best IoU %.2f, want %.2f)", iou, MinIoU)}
	}
	s := stats(box.Intersect(image.Rectangle{Max: nirSize}))
	if why := lim.Check(s); why != "" {
		return Result{State: liveness.NIRFailed, IoU: iou, Box: box, Stats: s, Reason: why}
	}
	return Result{State: liveness.NIRPassed, IoU: iou, Box: box, Stats: s}
}

// Decider is presentation-attack detection over the frames of one face
// (gate.Liveness; declared here so this package stays below the gate).
type Decider interface {
	Decide(frames []liveness.Frame) (liveness.Verdict, error)
}

// Layer is the NIR layer: it refuses (not live, score 0) any window in
// which a frame's NIR check did not pass, unchecked, missing or
// unregistered included, and otherwise leaves the verdict to Inner, the
// passive layer, when there is one (NIR alone: live, score 1).
type Layer struct{ Inner Decider }

// Decide implements gate.Liveness.
func (l Layer) Decide(frames []liveness.Frame) (liveness.Verdict, error) {
	if len(frames) == 0 {
		return liveness.Verdict{}, nil
	}
	for _, f := range frames {
		if f.NIR != liveness.NIRPassed {
			return liveness.Verdict{Frames: len(frames)}, nil
		}
	}
	if l.Inner == nil {
		return liveness.Verdict{Score: 1, Live: true, Frames: len(frames)}, nil
	}
	return l.Inner.Decide(frames)
}

// LayerName is the gate's name for the layers in use (the audit's
// "layer="): "nir", or "nir+" and the passive layer's.
func LayerName(passive string) string {
	if passive == "" {
		return "nir"
	}
	return "nir+" + passive
}
