// Package liveness decides whether a face in front of the camera is a live
// person or a presentation attack (a printed photo, a phone, tablet or
// monitor screen): ISO/IEC 30107 presentation-attack detection (PAD) in
// software. It owns the pure parts: where the passive network's context
// crop lies (ContextRect), the cues that need no trained weights (straight
// bezel or paper edges around the face, moire, flat glare), how the scores
// of several frames become one (Fuse), and the combination rule with its
// fitted weights (Model, Fit).
//
// It is pure Go: the network itself, and cutting the crops out of a camera
// frame, live in internal/recognizer/livenessnet (cgo). It never stores,
// logs or returns an image, and it never decides who a face belongs to or
// whether the door opens: the gate does, from its Verdict.
//
// Figures, the threat model and the limits are in docs/liveness.md.
package liveness

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
)

// Model is the name face.liveness gives the passive network layer.
const Model = "faceplugin-fr-liveness-0.0.1"

// APCER is the share of presentation attacks a PAD setting lets through,
// as measured: 1 with no PAD at all (every photo and screen reaches the
// matcher); for Model with its cues (Default), 10.6%, cross-validated by
// subject and source on the cvz- family of the developers' half of
// ../shared/pad (full webcam frames of phones, monitors and prints: the
// closest to a gate camera), at the operating point set for BPCER 5% on
// nuaa__ and cvz- together. The pooled figure (9.4%) is not used: NUAA is
// probably in the network's training data and flatters it
// (docs/liveness.md). The gate lets a face identify alone or replace a PIN
// only when this is at most face.pad_max_apcer.
func APCER(setting string) float64 {
	if setting == Model {
		return 0.106
	}
	return 1
}

// BPCER is the share of live faces a PAD setting refuses, as measured at
// the operating point APCER is given for: 6.8% for Model (cross-validated,
// cvz- live frames), 0 with no PAD.
func BPCER(setting string) float64 {
	if setting == Model {
		return 0.068
	}
	return 0
}

// ContextScale is how much wider and taller than the face box the network's
// crop is (the npm package's 2.7; with a tight crop the network is at
// chance).
const ContextScale = 2.7

// ContextRect is the region of a w x h frame the passive network sees for
// a face box, as the npm package cuts it: the box scaled by scale about its
// centre (less where the frame is too small for it), shifted (not clipped)
// back inside the frame.
func ContextRect(w, h int, box image.Rectangle, scale float64) image.Rectangle {
	bw, bh := float64(box.Dx()), float64(box.Dy())
	if w < 2 || h < 2 || bw <= 0 || bh <= 0 {
		return image.Rectangle{}
	}
	s := math.Min(scale, math.Min(float64(h-1)/bh, float64(w-1)/bw))
	nw, nh := bw*s, bh*s
	cx, cy := float64(box.Min.X)+bw/2, float64(box.Min.Y)+bh/2
	x0, y0, x1, y1 := cx-nw/2, cy-nh/2, cx+nw/2, cy+nh/2
	if x0 < 0 {
		x1 -= x0
		x0 = 0
	}
	if y0 < 0 {
		y1 -= y0
		y0 = 0
	}
	if x1 > float64(w-1) {
		x0 -= x1 - float64(w-1)
		x1 = float64(w - 1)
	}
	if y1 > float64(h-1) {
		y0 -= y1 - float64(h-1)
		y1 = float64(h - 1)
	}
	r := image.Rect(int(math.Max(x0, 0)), int(math.Max(y0, 0)), int(x1), int(y1))
	return r.Intersect(image.Rect(0, 0, w, h))
}

// Fuse turns the scores of the frames that recognised one face (each in
// [0, 1], higher = more live) into one: the mean of the lower half (the
// minimum of two), so one lucky frame never carries an attack through,
// and one bad frame of a live person costs little when there are many.
// It returns 0 (attack) for no frames, and NaN scores count as 0.
func Fuse(scores []float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	s := make([]float64, len(scores))
	for i, v := range scores {
		if math.IsNaN(v) {
			v = 0
		}
		s[i] = math.Max(0, math.Min(1, v))
	}
	slices.Sort(s)
	n := (len(s) + 1) / 2
	var sum float64
	for _, v := range s[:n] {
		sum += v
	}
	return sum / float64(n)
}

// ErrFeatures is wrapped by errors about a feature vector.
var ErrFeatures = errors.New("liveness: bad features")

// Frame is what one camera frame tells about one face: the network's live
// probability and each cue's value. Every field is a plain number so a
// Frame can be computed once, cached and recombined.
type Frame struct {
	// Net is fr_liveness's live probability in [0, 1] (B,G,R input).
	Net float64 `json:"net"`
	// Edges is the straight-line evidence around the face (EdgeScore).
	Edges float64 `json:"edges"`
	// Moire is the periodic high-frequency energy on the face (MoireScore).
	Moire float64 `json:"moire"`
	// Glare is the share of flat saturated highlight around the face
	// (GlareScore).
	Glare float64 `json:"glare"`
	// Rect is the perpendicular-edge (corner) evidence (RectScore).
	Rect float64 `json:"rect"`
	// Sat is the face's mean colour saturation (SaturationScore).
	Sat float64 `json:"sat"`
	// Sharp is the fine detail of the skin (SharpnessScore).
	Sharp float64 `json:"sharp"`
	// Wide is EdgeScore over the whole frame (Crops.Whole).
	Wide float64 `json:"wide"`
	// WideRect is RectScore over the whole frame.
	WideRect float64 `json:"wide_rect"`
	// Fill is the face box's shorter side over the frame's shorter side:
	// how close the face is. Not a feature of the weights; Combination.MaxFill
	// refuses a face too close to judge.
	Fill float64 `json:"fill,omitempty"`
	// NIR is what the near-infrared camera's frame of the same moment
	// said of the face (internal/nir): NIRUnchecked on a gate without
	// [camera.nir]. Not a feature of the weights: nir.Layer refuses a
	// window with any frame not NIRPassed.
	NIR NIRState `json:"nir,omitempty"`
}

// NIRState is the near-infrared check of one frame (internal/nir).
type NIRState uint8

// The NIR states. The zero value is "not checked" (no NIR camera).
const (
	NIRUnchecked NIRState = iota
	// NIRPassed: the NIR frame of the same moment shows a face where the
	// registration puts the colour face, and its crop passes the checks.
	NIRPassed
	// NIRFailed: no such face, or its crop failed (dark, flat, glare).
	NIRFailed
	// NIRMissing: no NIR frame of the same moment (fails closed).
	NIRMissing
	// NIRUnregistered: no usable colour-to-NIR registration (fails closed).
	NIRUnregistered
)

func (s NIRState) String() string {
	switch s {
	case NIRUnchecked:
		return "unchecked"
	case NIRPassed:
		return "passed"
	case NIRFailed:
		return "failed"
	case NIRMissing:
		return "missing"
	case NIRUnregistered:
		return "unregistered"
	}
	return fmt.Sprintf("NIRState(%d)", uint8(s))
}

// Vector returns the frame's features in the order a Model's weights take
// them, the network's as a logit.
func (f Frame) Vector() []float64 {
	return []float64{Logit(f.Net), f.Edges, f.Moire, f.Glare, f.Rect, f.Sat, f.Sharp, f.Wide, f.WideRect}
}

// Names are the features of Frame.Vector, in order.
var Names = []string{"net", "edges", "moire", "glare", "rect", "sat", "sharp", "wide", "wrect"}

// Logit is log(p/(1-p)) with p kept within [1e-6, 1-1e-6].
func Logit(p float64) float64 {
	if math.IsNaN(p) {
		p = 0
	}
	p = math.Max(1e-6, math.Min(1-1e-6, p))
	return math.Log(p / (1 - p))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Check reports whether every value of the frame is finite.
func (f Frame) Check() error {
	for i, v := range f.Vector() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s = %v", ErrFeatures, Names[i], v)
		}
	}
	return nil
}
