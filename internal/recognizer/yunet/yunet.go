package yunet

import (
	"fmt"
	"image"
	"image/color"
	"strconv"
	"sync"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer/cvutil"
	"github.com/gated-dev/gated/models"
)

// File is the network, relative to the model directory, pinned in
// models/SHA256SUMS.
const File = models.YuNetFile

// Options tune a Detector. The zero value is usable.
type Options struct {
	// MinScore is the lowest score kept (default 0.6).
	MinScore float64
	// MaxIoU is the overlap above which the weaker of two boxes is dropped
	// (default 0.3).
	MaxIoU float64
	// TopK is the most faces returned (default 50).
	TopK int
	// MaxSide is the longest side, in pixels, of the image the network
	// sees; larger frames are scaled down first (default 640: a 640x480
	// camera frame is seen whole, and the time per frame is bounded).
	MaxSide int
}

func (o Options) withDefaults() Options {
	if o.MinScore == 0 {
		o.MinScore = 0.6
	}
	if o.MaxIoU == 0 {
		o.MaxIoU = 0.3
	}
	if o.TopK == 0 {
		o.TopK = 50
	}
	if o.MaxSide == 0 {
		o.MaxSide = 640
	}
	return o
}

// Detector finds faces. It is safe for concurrent use; forward passes are
// serialised.
type Detector struct {
	opts  Options
	names []string // output layers, in Head order: cls, obj, bbox, kps per stride

	mu  sync.Mutex // guards net
	net *gocv.Net
}

// ErrClosed is returned by a Detector used after Close.
var ErrClosed = fmt.Errorf("yunet: closed")

// Load verifies the network in the model directory dir against its pinned
// SHA-256 and loads it.
func Load(dir string, opts Options) (*Detector, error) {
	opts = opts.withDefaults()
	if !(opts.MinScore > 0 && opts.MinScore < 1) || !(opts.MaxIoU > 0 && opts.MaxIoU < 1) || opts.TopK < 1 || opts.MaxSide < 64 {
		return nil, fmt.Errorf("yunet: options out of range: %+v", opts)
	}
	net, err := cvutil.ReadONNX(dir, File)
	if err != nil {
		return nil, fmt.Errorf("yunet: %w (fetch it with scripts/fetch-face-model.sh yunet %s)", err, dir)
	}
	d := &Detector{opts: opts, net: net}
	for _, s := range Strides {
		for _, k := range []string{"cls_", "obj_", "bbox_", "kps_"} {
			d.names = append(d.names, k+strconv.Itoa(s))
		}
	}
	return d, nil
}

// InputScale is the factor a w x h frame is scaled by before the network
// sees it (1, or less for a frame larger than Options.MaxSide).
func (d *Detector) InputScale(w, h int) float64 {
	return min(1, float64(d.opts.MaxSide)/float64(max(w, h, 1)))
}

// Close frees the network. Later calls return ErrClosed.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.net != nil {
		d.net.Close()
		d.net = nil
	}
	return nil
}

// Detect finds the faces in an 8-bit BGR frame, best first. Boxes and
// landmarks are in the frame's pixels; boxes may reach past its edges.
func (d *Detector) Detect(bgr gocv.Mat) ([]Face, error) {
	if bgr.Empty() || bgr.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("yunet: frame type %v, want 8-bit BGR", bgr.Type())
	}
	img, scale := bgr, 1.0
	if side := max(bgr.Cols(), bgr.Rows()); side > d.opts.MaxSide {
		f := float64(d.opts.MaxSide) / float64(side)
		small := gocv.NewMat()
		defer small.Close()
		if err := cvutil.Scale(bgr, &small, f); err != nil {
			return nil, fmt.Errorf("yunet: %w", err)
		}
		img, scale = small, 1/f
	}
	w, h := img.Cols(), img.Rows()
	padW, padH := ((w-1)/Align+1)*Align, ((h-1)/Align+1)*Align
	if padW != w || padH != h {
		pad := gocv.NewMat()
		defer pad.Close()
		gocv.CopyMakeBorder(img, &pad, 0, padH-h, 0, padW-w, gocv.BorderConstant, color.RGBA{})
		img = pad
	}
	blob := gocv.BlobFromImage(img, 1, image.Pt(padW, padH), gocv.NewScalar(0, 0, 0, 0), false, false)
	defer blob.Close()

	d.mu.Lock()
	if d.net == nil {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	d.net.SetInput(blob, "")
	outs := d.net.ForwardLayers(d.names)
	d.mu.Unlock()
	defer func() {
		for _, o := range outs {
			o.Close()
		}
	}()
	if len(outs) != len(d.names) {
		return nil, fmt.Errorf("%w: %d outputs, want %d", ErrOutput, len(outs), len(d.names))
	}
	heads := make([]Head, len(Strides))
	for i, s := range Strides {
		var v [4][]float32
		for k := range 4 {
			o := outs[4*i+k]
			p, err := o.DataPtrFloat32()
			if err != nil {
				return nil, fmt.Errorf("yunet: output %s: %w", d.names[4*i+k], err)
			}
			v[k] = p
		}
		heads[i] = Head{Stride: s, Cls: v[0], Obj: v[1], BBox: v[2], Kps: v[3]}
	}
	faces, err := Decode(heads, padW, padH, d.opts.MinScore)
	if err != nil {
		return nil, err
	}
	// A face whose centre lies in the black padding is not in the frame
	// (on a frame a few pixels high the padding is nearly all the input).
	kept := faces[:0]
	for _, f := range faces {
		if cx, cy := f.Box.X+f.Box.W/2, f.Box.Y+f.Box.H/2; cx >= 0 && cy >= 0 && cx < float64(w) && cy < float64(h) {
			kept = append(kept, f)
		}
	}
	faces = Suppress(kept, d.opts.MaxIoU, d.opts.TopK)
	if scale != 1 {
		for i := range faces {
			f := &faces[i]
			f.Box = Box{f.Box.X * scale, f.Box.Y * scale, f.Box.W * scale, f.Box.H * scale}
			for j := range f.Landmarks {
				f.Landmarks[j] = Point{f.Landmarks[j].X * scale, f.Landmarks[j].Y * scale}
			}
		}
	}
	return faces, nil
}
