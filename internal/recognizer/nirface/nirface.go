// Package nirface runs the near-infrared camera pair's check on real
// frames (cgo): it finds the faces in an NIR frame with YuNet (the frame
// converted to 3 channels, as the gate's detector takes it) and measures
// the grey crop of a matched face, for the pure rules of internal/nir.
//
// It never stores, logs or returns an image, and it decides nothing about
// who a face belongs to or whether the door opens.
package nirface

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/nir"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
)

// Checker finds faces in NIR frames. It is safe for concurrent use.
type Checker struct {
	det *yunet.Detector
}

// Load loads YuNet from the model directory (verified against its pinned
// SHA-256).
func Load(modelsDir string) (*Checker, error) {
	d, err := yunet.Load(modelsDir, yunet.Options{})
	if err != nil {
		return nil, fmt.Errorf("nirface: %w", err)
	}
	return &Checker{det: d}, nil
}

// Close frees the detector.
func (c *Checker) Close() error { return c.det.Close() }

// Faces is the boxes of the faces YuNet finds in an NIR frame (8-bit grey,
// BGR or BGRA).
func (c *Checker) Faces(frame gocv.Mat) ([]image.Rectangle, error) {
	bgr, err := recognizer.ToBGR(frame)
	if err != nil {
		return nil, fmt.Errorf("nirface: %w", err)
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	fs, err := recognizer.YuNetFaces(c.det, bgr)
	if err != nil {
		return nil, fmt.Errorf("nirface: %w", err)
	}
	out := make([]image.Rectangle, len(fs))
	for i, f := range fs {
		out[i] = f.Rect
	}
	return out, nil
}

// ColourBox is YuNet's box of the face at near in a colour frame: the
// registration and the check compare YuNet's boxes in both frames, since
// the gate's own box may be another detector's (dlib's boxes are squarer
// and smaller than YuNet's, which no scale and shift maps). ok is false
// when YuNet finds no face overlapping near.
func (c *Checker) ColourBox(frame gocv.Mat, near image.Rectangle) (box image.Rectangle, ok bool, err error) {
	fs, err := c.Faces(frame)
	if err != nil {
		return image.Rectangle{}, false, err
	}
	area := 0
	for _, f := range fs {
		in := f.Intersect(near)
		if a := in.Dx() * in.Dy(); a > area {
			box, area = f, a
		}
	}
	return box, area > 0, nil
}

// Stats measures the grey levels of box in an NIR frame (nir.CropStats).
func Stats(frame gocv.Mat, box image.Rectangle) nir.Stats {
	box = box.Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	if box.Empty() {
		return nir.Stats{}
	}
	roi := frame.Region(box)
	defer roi.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	switch frame.Channels() {
	case 1:
		roi.CopyTo(&grey)
	case 3:
		gocv.CvtColor(roi, &grey, gocv.ColorBGRToGray)
	case 4:
		gocv.CvtColor(roi, &grey, gocv.ColorBGRAToGray)
	default:
		return nir.Stats{}
	}
	if grey.Type() != gocv.MatTypeCV8UC1 {
		return nir.Stats{}
	}
	b, err := grey.DataPtrUint8()
	if err != nil {
		return nir.Stats{}
	}
	return nir.CropStats(b, grey.Cols(), grey.Rows(), grey.Cols())
}

// Check is the NIR check of a colour face box (YuNet's: ColourBox; colour
// frame colourSize) against the NIR frame of the same moment (nil: none):
// nir.Judge with the faces YuNet finds in it. reg nil is no registration.
func (c *Checker) Check(reg *nir.Registration, colour image.Rectangle, colourSize image.Point, frame *camera.NIRFrame) (nir.Result, error) {
	if reg == nil || frame == nil || frame.Mat.Empty() {
		return nir.Judge(reg, colour, colourSize, false, image.Point{}, nil, nil, nir.DefaultLimits), nil
	}
	m := frame.Mat
	faces, err := c.Faces(m)
	if err != nil {
		return nir.Result{}, err
	}
	size := image.Pt(m.Cols(), m.Rows())
	return nir.Judge(reg, colour, colourSize, true, size, faces, func(r image.Rectangle) nir.Stats { return Stats(m, r) }, nir.DefaultLimits), nil
}
