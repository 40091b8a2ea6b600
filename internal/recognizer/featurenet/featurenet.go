// Package featurenet computes 512-dimensional face descriptors with the
// ArcFace-style embedding network fr_feature.onnx (from the npm package
// faceplugin-face-recognition-js 0.0.1, MIT), run by OpenCV's DNN module
// through gocv, on a 112x112 crop aligned from 5 landmarks (YuNet's or
// dlib's). On the East Asian photos it cuts dlib's false non-match rate at
// a false match rate of 1% from 18% to under 2% (docs/accuracy.md).
//
// Faces are found and landmarked by YuNet (package yunet; dlib is then not
// loaded at all) or by dlib's HOG or CNN detector and 5-point landmarks
// (package recognizer, which also computes dlib's own descriptor, unused
// here); this package replaces only the descriptor. It owns loading the
// verified network and turning a face into a unit-length descriptor. It
// never fetches the model (scripts/fetch-face-model.sh does, SHA-256
// verified), never stores or logs a face or a descriptor, and its
// descriptors are never compared with dlib's: templates record Model.
//
// # Caveats
//
// The network object is not safe for concurrent use; a Recognizer
// serialises its forward passes. A Mat returned by this package must be
// closed by the caller.
package featurenet

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sync"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/align"
	"github.com/gated-dev/gated/internal/recognizer/cvutil"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/models"
)

// Model identifies the descriptors this package makes; templates record it.
const Model = models.FeatureNet

// Dim is the descriptor dimension.
const Dim = 512

// File is the network, relative to the model directory, pinned in
// models/SHA256SUMS.
const File = models.FeatureNetFile

// Size is the side of the aligned crop the network takes.
const Size = 112

// ErrClosed is returned by a Recognizer used after Close.
var ErrClosed = errors.New("featurenet: closed")

// Recognizer finds faces with YuNet (recognizer.DetectorYuNet: dlib is
// not loaded at all) or with dlib (its HOG or CNN detector and 5-point
// landmarks), and describes them with the network. It is safe for
// concurrent use.
type Recognizer struct {
	dlib *recognizer.Recognizer // nil with YuNet
	yn   *yunet.Detector        // nil with dlib
	*Net
}

// Load verifies and loads the network from the model directory dir, and
// the detector opts.Detector names: YuNet's network, or dlib's files (for
// detection and landmarks).
func Load(dir string, opts recognizer.Options) (*Recognizer, error) {
	n, err := LoadNet(dir)
	if err != nil {
		return nil, err
	}
	if opts.Detector == recognizer.DetectorYuNet {
		yn, err := yunet.Load(dir, yunet.Options{TopK: recognizer.GateTopK})
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("featurenet: %w", err)
		}
		return &Recognizer{yn: yn, Net: n}, nil
	}
	dl, err := recognizer.Load(dir, opts)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("featurenet: %w", err)
	}
	return &Recognizer{dlib: dl, Net: n}, nil
}

// Close frees the network and the detector. Later calls return ErrClosed.
func (r *Recognizer) Close() error {
	r.Net.Close()
	if r.yn != nil {
		return r.yn.Close()
	}
	return r.dlib.Close()
}

// Net is the network alone: it describes faces whose landmarks the caller
// found. It is safe for concurrent use.
type Net struct {
	mu  sync.Mutex // guards net
	net *gocv.Net
}

// LoadNet verifies and loads the network from the model directory dir.
func LoadNet(dir string) (*Net, error) {
	net, err := cvutil.ReadONNX(dir, File)
	if err != nil {
		return nil, fmt.Errorf("featurenet: %w (fetch it with scripts/fetch-face-model.sh %s)", err, dir)
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

// Faces finds every face in a BGR (or greyscale) frame with the detector
// and describes it with the network; Rect and Landmarks are the detector's.
// Faces are sorted left to right.
func (r *Recognizer) Faces(frame gocv.Mat) ([]recognizer.Face, error) {
	bgr, err := recognizer.ToBGR(frame)
	if err != nil {
		return nil, fmt.Errorf("featurenet: %w", err)
	}
	if bgr.Ptr() != frame.Ptr() {
		defer bgr.Close()
	}
	var faces []recognizer.Face
	if r.yn != nil {
		faces, err = recognizer.YuNetFaces(r.yn, bgr)
	} else {
		faces, err = r.dlib.Faces(bgr)
	}
	if err != nil {
		return nil, fmt.Errorf("featurenet: %w", err)
	}
	for i := range faces {
		if r.yn != nil {
			// YuNet's landmarks lie on a coarse grid: find them again at a
			// size where they are precise enough to align by.
			if faces[i], err = recognizer.RefineYuNet(r.yn, bgr, faces[i]); err != nil {
				return nil, fmt.Errorf("featurenet: %w", err)
			}
		}
		if faces[i].Descriptor, err = r.DescribeFace(bgr, faces[i]); err != nil {
			return nil, err
		}
	}
	return faces, nil
}

// DescribeFace returns the unit-length descriptor of a face found in a BGR
// frame, aligned by its landmarks (dlib's or YuNet's, as f.Scheme says).
func (n *Net) DescribeFace(bgr gocv.Mat, f recognizer.Face) ([]float32, error) {
	crop, err := CropFace(bgr, f)
	if err != nil {
		return nil, err
	}
	defer crop.Close()
	return n.DescribeCrop(crop)
}

// FacesInImage decodes a JPEG or PNG image (recognizer.DecodeImage) and
// finds and describes its faces.
func (r *Recognizer) FacesInImage(data []byte) ([]recognizer.Face, error) {
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return r.Faces(m)
}

// Describe returns the unit-length descriptor of the face with dlib's 5
// landmarks in a BGR frame.
func (n *Net) Describe(bgr gocv.Mat, dlib5 []image.Point) ([]float32, error) {
	crop, err := Crop(bgr, dlib5)
	if err != nil {
		return nil, err
	}
	defer crop.Close()
	return n.DescribeCrop(crop)
}

// Crop aligns the face with dlib's 5 landmarks into the 112x112 BGR crop
// the network takes: the eye centres and the base of the nose are taken to
// the ArcFace template by a similarity transform.
func Crop(bgr gocv.Mat, dlib5 []image.Point) (gocv.Mat, error) {
	return CropFace(bgr, recognizer.Face{Landmarks: dlib5, Scheme: recognizer.Dlib5})
}

// CropFace is Crop for a face with dlib's or YuNet's landmarks: YuNet's
// five points are taken to ArcFace's five template points.
func CropFace(bgr gocv.Mat, f recognizer.Face) (gocv.Mat, error) {
	if bgr.Type() != gocv.MatTypeCV8UC3 || bgr.Empty() {
		return gocv.Mat{}, fmt.Errorf("featurenet: frame type %v, want 8-bit BGR", bgr.Type())
	}
	var src, dst []align.Point
	var err error
	switch {
	case f.Scheme == recognizer.YuNet5 && len(f.Precise) == 5:
		src, dst = f.Precise, align.ArcFace112[:]
	case f.Scheme == recognizer.YuNet5:
		src, dst, err = align.FromYuNet5(f.Landmarks)
	default:
		src, dst, err = align.FromDlib5(f.Landmarks)
	}
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("featurenet: %w", err)
	}
	s, err := align.Fit(src, dst)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("featurenet: %w", err)
	}
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for i, v := range []float64{s.A, -s.B, s.TX, s.B, s.A, s.TY} {
		m.SetDoubleAt(i/3, i%3, v)
	}
	out := gocv.NewMat()
	gocv.WarpAffine(bgr, &out, m, image.Pt(Size, Size))
	return out, nil
}

// DescribeCrop returns the unit-length descriptor of an aligned 112x112 BGR
// crop (as Crop makes). Pixels are scaled as the network was trained:
// (v - 127) / 128, channels in BGR order.
func (n *Net) DescribeCrop(crop gocv.Mat) ([]float32, error) {
	if crop.Rows() != Size || crop.Cols() != Size || crop.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("featurenet: crop %dx%d of type %v, want %dx%d BGR", crop.Cols(), crop.Rows(), crop.Type(), Size, Size)
	}
	blob := gocv.BlobFromImage(crop, 1.0/128, image.Pt(Size, Size), gocv.NewScalar(127, 127, 127, 0), false, false)
	defer blob.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return nil, ErrClosed
	}
	n.net.SetInput(blob, "")
	out := n.net.Forward("")
	defer out.Close()
	v, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("featurenet: output: %w", err)
	}
	if len(v) != Dim {
		return nil, fmt.Errorf("featurenet: output of %d values, want %d", len(v), Dim)
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	norm = math.Sqrt(norm)
	if !(norm > 0) || math.IsInf(norm, 0) || math.IsNaN(norm) {
		return nil, fmt.Errorf("featurenet: descriptor of length %v", norm)
	}
	d := make([]float32, Dim)
	for i, x := range v {
		d[i] = float32(float64(x) / norm)
	}
	return d, nil
}
