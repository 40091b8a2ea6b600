package recognizer

import (
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"sync"

	face "github.com/Kagami/go-face"
	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer/align"
	"github.com/gated-dev/gated/internal/recognizer/cvutil"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/models"
)

// Model identifies the descriptor model that made a template. Templates of
// different models are never compared.
const Model = models.Dlib

// Dim is the number of components of a dlib face descriptor.
const Dim = 128

// ModelFiles are the dlib files Load needs, relative to the model directory:
// the registry's files for Model (models.FaceModels). go-face loads all
// three; the CNN detector is used when Options.Detector is DetectorCNN.
var ModelFiles = dlibFiles()

func dlibFiles() []string {
	m, _ := models.LookupFaceModel(Model)
	return m.Files
}

// Detector chooses how faces are found.
type Detector int

const (
	// DetectorHOG is dlib's HOG frontal face detector: fast on a CPU
	// (about 30 ms for 640x480 here), misses faces under about 50 pixels
	// (docs/models.md) and turned ones.
	DetectorHOG Detector = iota
	// DetectorCNN is dlib's MMOD CNN detector: finds smaller and turned
	// faces, several times slower on a CPU.
	DetectorCNN
	// DetectorYuNet is YuNet (package yunet): finds small and turned faces
	// in a few milliseconds. For dlib's descriptor, dlib then finds the
	// face again in a crop around YuNet's box, scaled so the face is large
	// enough for its HOG detector; for the ArcFace-style network, YuNet's
	// landmarks align the face and dlib is not used at all.
	DetectorYuNet
)

// String names the detector as face.detector does.
func (d Detector) String() string {
	switch d {
	case DetectorHOG:
		return "hog"
	case DetectorCNN:
		return "cnn"
	case DetectorYuNet:
		return "yunet"
	}
	return fmt.Sprintf("Detector(%d)", int(d))
}

// Options tune a Recognizer. The zero value is usable.
type Options struct {
	Detector Detector
	// MaxSide is the longest side, in pixels, of the image faces are
	// searched in; larger images are scaled down first (default 2560), which
	// bounds the time one image can take.
	MaxSide int
}

// Face is one face found in an image. Coordinates are in the pixels of the
// image passed in.
type Face struct {
	Rect image.Rectangle
	// Landmarks are 5 points, as Scheme says.
	Landmarks []image.Point
	// Precise are the same points to a fraction of a pixel, where the
	// detector gives them (YuNet); nil otherwise.
	Precise []align.Point
	Scheme  Scheme
	// YuNet are YuNet's 5 points (eye centres, nose tip, mouth corners,
	// left to right in the image), to a fraction of a pixel, when YuNet
	// found the face and dlib then placed Landmarks (face.detector =
	// "yunet" with a dlib model): the head pose (Pose) is taken from them.
	// nil otherwise (Scheme YuNet5 has them in Precise).
	YuNet []align.Point
	// YuNetRect is YuNet's box of the face when Rect is dlib's (as YuNet
	// above); the zero Rectangle otherwise (YuNetBox).
	YuNetRect image.Rectangle
	// Score is the detector's confidence in [0, 1] (YuNet), or 0 where the
	// detector gives none (dlib).
	Score      float64
	Descriptor []float32
}

// Scheme says what a Face's 5 landmarks are.
type Scheme int

const (
	// Dlib5 are dlib's 5 points: the corners of one eye (0, 1), of the
	// other (2, 3), and the base of the nose (4).
	Dlib5 Scheme = iota
	// YuNet5 are YuNet's: the eye centres (left, right in the image), the
	// nose tip, the mouth corners (left, right).
	YuNet5
)

// Recognizer finds faces and computes their descriptors. It is safe for
// concurrent use; dlib serialises the work inside.
type Recognizer struct {
	mu    sync.RWMutex // guards rec against Close
	rec   *face.Recognizer
	yn    *yunet.Detector // DetectorYuNet only
	opts  Options
	model string // "" for Model; set by LoadCustom
}

// Load verifies the model files in dir against their pinned SHA-256 sums and
// loads them. The error names any missing or corrupt file.
func Load(dir string, opts Options) (*Recognizer, error) {
	if err := models.VerifyFaceModel(dir, Model); err != nil {
		return nil, fmt.Errorf("recognizer: load models: %w", err)
	}
	if opts.MaxSide == 0 {
		opts.MaxSide = 2560
	}
	if opts.MaxSide < 160 {
		return nil, fmt.Errorf("recognizer: MaxSide %d is too small to find faces (at least 160)", opts.MaxSide)
	}
	var yn *yunet.Detector
	if opts.Detector == DetectorYuNet {
		var err error
		if yn, err = yunet.Load(dir, yunet.Options{TopK: GateTopK}); err != nil {
			return nil, fmt.Errorf("recognizer: %w", err)
		}
	}
	rec, err := face.NewRecognizer(filepath.Join(dir, "dlib"))
	if err != nil {
		if yn != nil {
			yn.Close()
		}
		return nil, fmt.Errorf("recognizer: load models from %s: %w", dir, err)
	}
	return &Recognizer{rec: rec, yn: yn, opts: opts}, nil
}

// Close frees the models. Later calls return ErrClosed.
func (r *Recognizer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec != nil {
		r.rec.Close()
		r.rec = nil
	}
	if r.yn != nil {
		r.yn.Close()
		r.yn = nil
	}
	return nil
}

// ErrClosed is returned by a Recognizer used after Close.
var ErrClosed = errors.New("recognizer: closed")

// Faces finds every face in a BGR (or greyscale) frame and computes its
// descriptor. A frame with no face gives no faces and no error. Faces are
// sorted left to right.
func (r *Recognizer) Faces(frame gocv.Mat) ([]Face, error) {
	if frame.Empty() {
		return nil, fmt.Errorf("%w: empty frame", ErrImage)
	}
	if r.opts.Detector == DetectorYuNet {
		return r.yunetFaces(frame)
	}
	return r.dlibFaces(frame)
}

// dlibFaces finds faces with dlib's own detector (HOG or CNN) in the whole
// frame.
func (r *Recognizer) dlibFaces(frame gocv.Mat) ([]Face, error) {
	img, scale, err := r.prepare(frame)
	if err != nil {
		return nil, err
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, 95})
	if img.Ptr() != frame.Ptr() {
		img.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("recognizer: encode frame: %w", err)
	}
	defer buf.Close()
	found, err := r.recognize(buf.GetBytes(), r.opts.Detector == DetectorCNN)
	if err != nil {
		return nil, err
	}
	out := make([]Face, len(found))
	for i, f := range found {
		out[i] = Face{
			Rect:       scaleRect(f.Rectangle, scale),
			Descriptor: append([]float32(nil), f.Descriptor[:]...),
		}
		for _, p := range f.Shapes {
			out[i].Landmarks = append(out[i].Landmarks, scalePoint(p, scale))
		}
	}
	return out, nil
}

// recognize runs dlib (HOG, or CNN) on a JPEG.
func (r *Recognizer) recognize(jpeg []byte, cnn bool) ([]face.Face, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.rec == nil {
		return nil, ErrClosed
	}
	var found []face.Face
	var err error
	if cnn {
		found, err = r.rec.RecognizeCNN(jpeg)
	} else {
		found, err = r.rec.Recognize(jpeg)
	}
	if err != nil {
		return nil, fmt.Errorf("recognizer: dlib: %w", err)
	}
	return found, nil
}

// FacesInImage decodes a JPEG or PNG image (see DecodeImage) and finds its
// faces.
func (r *Recognizer) FacesInImage(data []byte) ([]Face, error) {
	m, err := DecodeImage(data)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return r.Faces(m)
}

// prepare returns a 3-channel 8-bit image no larger than MaxSide, and the
// factor from its coordinates back to the frame's.
func (r *Recognizer) prepare(frame gocv.Mat) (gocv.Mat, float64, error) {
	img := frame
	switch {
	case frame.Type() == gocv.MatTypeCV8UC3:
	case frame.Type() == gocv.MatTypeCV8UC1:
		img = gocv.NewMat()
		gocv.CvtColor(frame, &img, gocv.ColorGrayToBGR)
	case frame.Type() == gocv.MatTypeCV8UC4:
		img = gocv.NewMat()
		gocv.CvtColor(frame, &img, gocv.ColorBGRAToBGR)
	default:
		return frame, 1, fmt.Errorf("%w: Mat type %v, want 8-bit grey, BGR or BGRA", ErrImage, frame.Type())
	}
	side := max(img.Cols(), img.Rows())
	if side <= r.opts.MaxSide {
		return img, 1, nil
	}
	f := float64(r.opts.MaxSide) / float64(side)
	small := gocv.NewMat()
	if err := cvutil.Scale(img, &small, f); err != nil {
		small.Close()
		if img.Ptr() != frame.Ptr() {
			img.Close()
		}
		return frame, 1, fmt.Errorf("%w: %v", ErrImage, err)
	}
	if img.Ptr() != frame.Ptr() {
		img.Close()
	}
	return small, 1 / f, nil
}

func scaleRect(r image.Rectangle, f float64) image.Rectangle {
	return image.Rectangle{Min: scalePoint(r.Min, f), Max: scalePoint(r.Max, f)}
}

func scalePoint(p image.Point, f float64) image.Point {
	if f == 1 {
		return p
	}
	return image.Pt(int(float64(p.X)*f+0.5), int(float64(p.Y)*f+0.5))
}
