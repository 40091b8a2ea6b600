// Package livenessnet runs the passive presentation-attack network
// fr_liveness.onnx (from the npm package faceplugin-face-recognition-js
// 0.0.1, MIT as declared) through OpenCV's DNN module, and cuts from a
// camera frame the crops package liveness's cues look at.
//
// It owns loading the verified network and the cgo half of liveness: the
// 2.7x context crop, scaled to 128x128 and fed as B,G,R raw 0-255 values
// (the order that measures best: docs/liveness.md), and the cue crops. It
// never fetches the model (scripts/fetch-face-model.sh liveness does,
// SHA-256 verified), never stores or logs an image, and decides nothing:
// package liveness and the gate do.
//
// # Caveats
//
// The network object is not safe for concurrent use; a Net serialises its
// forward passes.
package livenessnet

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sync"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer/cvutil"
)

// File is the network, relative to the model directory, pinned in
// models/SHA256SUMS.
const File = "liveness/fr_liveness.onnx"

// Size is the side of the square input the network takes.
const Size = 128

// ErrClosed is returned by a Net used after Close.
var ErrClosed = errors.New("livenessnet: closed")

// Order is the channel order the network is fed.
type Order int

const (
	// BGR feeds OpenCV's own order: it measures better (the network was
	// probably trained on OpenCV images).
	BGR Order = iota
	// RGB feeds R,G,B, as the npm package's JavaScript does.
	RGB
)

// Net is the loaded network. It is safe for concurrent use.
type Net struct {
	mu  sync.Mutex // guards net
	net *gocv.Net
}

// Load verifies and loads the network from the model directory dir.
func Load(dir string) (*Net, error) {
	net, err := cvutil.ReadONNX(dir, File)
	if err != nil {
		return nil, fmt.Errorf("livenessnet: %w (fetch it with scripts/fetch-face-model.sh liveness %s)", err, dir)
	}
	return &Net{net: net}, nil
}

// Close frees the network. Later calls return ErrClosed.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net != nil {
		n.net.Close()
		n.net = nil
	}
	return nil
}

func checkFrame(bgr gocv.Mat, box image.Rectangle) (image.Rectangle, error) {
	if bgr.Empty() || bgr.Type() != gocv.MatTypeCV8UC3 {
		return image.Rectangle{}, fmt.Errorf("livenessnet: frame type %v, want 8-bit BGR", bgr.Type())
	}
	r := liveness.ContextRect(bgr.Cols(), bgr.Rows(), box, liveness.ContextScale)
	if r.Dx() < 8 || r.Dy() < 8 {
		return image.Rectangle{}, fmt.Errorf("livenessnet: face box %v does not fit a %dx%d frame", box, bgr.Cols(), bgr.Rows())
	}
	return r, nil
}

// Score is the network's live probability in [0, 1] for the face in box
// of an 8-bit BGR frame, fed in the given channel order.
func (n *Net) Score(bgr gocv.Mat, box image.Rectangle, order Order) (float64, error) {
	r, err := checkFrame(bgr, box)
	if err != nil {
		return 0, err
	}
	roi := bgr.Region(r)
	defer roi.Close()
	blob := gocv.BlobFromImage(roi, 1, image.Pt(Size, Size), gocv.NewScalar(0, 0, 0, 0), order == RGB, false)
	defer blob.Close()
	n.mu.Lock()
	if n.net == nil {
		n.mu.Unlock()
		return 0, ErrClosed
	}
	n.net.SetInput(blob, "")
	out := n.net.Forward("")
	n.mu.Unlock()
	defer out.Close()
	v, err := out.DataPtrFloat32()
	if err != nil {
		return 0, fmt.Errorf("livenessnet: output: %w", err)
	}
	if len(v) < 2 {
		return 0, fmt.Errorf("livenessnet: output of %d values, want at least 2", len(v))
	}
	// Softmax; class 0 is live.
	hi := v[0]
	for _, x := range v {
		hi = max(hi, x)
	}
	var sum float64
	for _, x := range v {
		sum += math.Exp(float64(x - hi))
	}
	p := math.Exp(float64(v[0]-hi)) / sum
	if math.IsNaN(p) {
		return 0, fmt.Errorf("livenessnet: output is not a number")
	}
	return p, nil
}

// Crops cuts the cue crops (liveness.Crops) for the face in box of an
// 8-bit BGR frame.
func Crops(bgr gocv.Mat, box image.Rectangle) (liveness.Crops, error) {
	r, err := checkFrame(bgr, box)
	if err != nil {
		return liveness.Crops{}, err
	}
	var c liveness.Crops
	f := float64(liveness.ContextSide) / float64(max(r.Dx(), r.Dy()))
	sz := image.Pt(max(1, int(math.Round(float64(r.Dx())*f))), max(1, int(math.Round(float64(r.Dy())*f))))
	roi := bgr.Region(r)
	small := gocv.NewMat()
	gocv.Resize(roi, &small, sz, 0, 0, gocv.InterpolationArea)
	roi.Close()
	rgb := gocv.NewMat()
	gocv.CvtColor(small, &rgb, gocv.ColorBGRToRGBA)
	small.Close()
	img, err := rgb.ToImage()
	rgb.Close()
	if err != nil {
		return liveness.Crops{}, fmt.Errorf("livenessnet: %w", err)
	}
	switch m := img.(type) {
	case *image.RGBA:
		c.Context = m
	case *image.NRGBA: // opaque: the same bytes
		c.Context = &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	default:
		return liveness.Crops{}, fmt.Errorf("livenessnet: context crop is %T, want RGBA", img)
	}
	fb := box.Sub(r.Min)
	c.Face = image.Rect(int(float64(fb.Min.X)*f), int(float64(fb.Min.Y)*f), int(float64(fb.Max.X)*f), int(float64(fb.Max.Y)*f))

	// The whole frame, small and grey.
	{
		fw := float64(liveness.ContextSide) / float64(max(bgr.Cols(), bgr.Rows()))
		wsz := image.Pt(max(1, int(math.Round(float64(bgr.Cols())*fw))), max(1, int(math.Round(float64(bgr.Rows())*fw))))
		small := gocv.NewMat()
		gocv.Resize(bgr, &small, wsz, 0, 0, gocv.InterpolationArea)
		grey := gocv.NewMat()
		gocv.CvtColor(small, &grey, gocv.ColorBGRToGray)
		small.Close()
		b, err := grey.DataPtrUint8()
		if err == nil && len(b) >= wsz.X*wsz.Y && grey.Cols() == wsz.X {
			g := image.NewGray(image.Rect(0, 0, wsz.X, wsz.Y))
			copy(g.Pix, b[:wsz.X*wsz.Y])
			c.Whole = g
			c.WholeFace = image.Rect(int(float64(box.Min.X)*fw), int(float64(box.Min.Y)*fw), int(float64(box.Max.X)*fw), int(float64(box.Max.Y)*fw))
		}
		grey.Close()
	}

	// The skin square: the middle of the face box, at camera resolution.
	const s = liveness.MoireSide
	cx, cy := (box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2
	sq := image.Rect(cx-s/2, cy-s/2, cx+s/2, cy+s/2)
	if sq.In(image.Rect(0, 0, bgr.Cols(), bgr.Rows())) {
		roi := bgr.Region(sq)
		grey := gocv.NewMat()
		gocv.CvtColor(roi, &grey, gocv.ColorBGRToGray)
		roi.Close()
		b, err := grey.DataPtrUint8()
		if err == nil && len(b) >= s*s && grey.Cols() == s {
			g := image.NewGray(image.Rect(0, 0, s, s))
			copy(g.Pix, b[:s*s])
			c.Skin = g
		}
		grey.Close()
	}
	return c, nil
}

// Frame is the network's score (B,G,R) and every cue for the face in box of
// an 8-bit BGR frame: what the gate records per frame that recognised the
// face, for liveness.Model.Decide.
func (n *Net) Frame(bgr gocv.Mat, box image.Rectangle) (liveness.Frame, error) {
	p, err := n.Score(bgr, box, BGR)
	if err != nil {
		return liveness.Frame{}, err
	}
	c, err := Crops(bgr, box)
	if err != nil {
		return liveness.Frame{}, err
	}
	f := liveness.Cues(c, liveness.Frame{Net: p})
	if side := min(bgr.Cols(), bgr.Rows()); side > 0 {
		f.Fill = float64(min(box.Dx(), box.Dy())) / float64(side)
	}
	return f, nil
}
