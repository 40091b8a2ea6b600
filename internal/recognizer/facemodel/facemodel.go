// Package facemodel opens the face descriptor model a configuration names,
// behind one small type, so the daemon need not know which network is
// behind the descriptors. It opens exactly the gate's models of the
// registry (models.FaceModelNames(models.Gate)):
//
//   - "dlib-resnet-v1" (the default): dlib's network through go-face;
//   - "faceplugin-fr-feature-0.0.1": an ArcFace-style network (OpenCV
//     DNN) describes faces that YuNet (no dlib at all) or dlib found and
//     landmarked (package featurenet);
//   - "dlib-custom": a dlib-format network the user supplies, checked
//     against the SHA-256 the user gives (recognizer.LoadCustom).
//
// Research models (whitening, MobileFace) are refused: only gated-eval
// compares them, and the gate binary does not link their code.
//
// It owns only that choice. It never fetches a model, and never converts or
// mixes descriptors: Source.Model names the space the descriptors live in,
// and templates of another Model must be enrolled again, never compared.
package facemodel

import (
	"errors"
	"fmt"
	"path/filepath"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/featurenet"
	"github.com/gated-dev/gated/models"
)

// Names a configuration may give.
const (
	Dlib       = models.Dlib
	FeatureNet = models.FeatureNet
	DlibCustom = models.DlibCustom
)

// Names lists the names Open accepts, default first: the registry's gate
// models.
func Names() []string { return models.FaceModelNames(models.Gate) }

// CustomFile is where scripts/fetch-face-model.sh dlib-custom installs a
// user-supplied dlib network, relative to the model directory.
const CustomFile = models.DlibCustomFile

// Config says which model to open.
type Config struct {
	Name string // one of Names(); "" means Dlib
	Dir  string // the model directory (verified files)
	// CustomSHA256 is the SHA-256 (hex) the user gave for the dlib-custom
	// network; required for DlibCustom.
	CustomSHA256 string
	// CustomPath overrides Dir/CustomFile for DlibCustom.
	CustomPath string
	// Detector is face.detector: "yunet", "hog", "cnn", or "auto" (or "")
	// for yunet where its model is installed and verified, else hog. It
	// overrides Options.Detector.
	Detector string
	Options  recognizer.Options
}

// ResolveDetector turns face.detector into the detector used: "auto" (or
// "") is yunet where its model file is in dir, else hog. A file that is
// there but damaged is yunet too, so that loading it fails and says so
// (the daemon raises its models alarm) rather than falling back to HOG
// unseen.
func ResolveDetector(name, dir string) (recognizer.Detector, error) {
	switch name {
	case "hog":
		return recognizer.DetectorHOG, nil
	case "cnn":
		return recognizer.DetectorCNN, nil
	case "yunet":
		return recognizer.DetectorYuNet, nil
	case "auto", "":
		if err := models.Verify(dir, models.YuNetFile); err == nil || !errors.Is(err, models.ErrMissing) {
			return recognizer.DetectorYuNet, nil
		}
		return recognizer.DetectorHOG, nil
	}
	return 0, fmt.Errorf("facemodel: unknown face detector %q (yunet, hog, cnn or auto)", name)
}

// Source finds faces in frames and describes them with one model.
// It is safe for concurrent use.
type Source struct {
	// Model identifies the descriptors (store it with every template); Dim
	// is their length. Unit is true when descriptors have unit length
	// (compared by cosine; Euclidean distances then lie in [0, 2]).
	Model string
	Dim   int
	Unit  bool
	// Detector is the detector that finds the faces.
	Detector recognizer.Detector

	faces func(gocv.Mat) ([]recognizer.Face, error)
	close func() error
}

// Faces finds every face in a BGR (or greyscale) frame and describes it.
func (s *Source) Faces(frame gocv.Mat) ([]recognizer.Face, error) { return s.faces(frame) }

// FacesInImage decodes a JPEG or PNG image (recognizer.DecodeImage) and
// finds and describes its faces.
func (s *Source) FacesInImage(data []byte) ([]recognizer.Face, error) {
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return s.faces(m)
}

// Close frees the model.
func (s *Source) Close() error { return s.close() }

// Open verifies and loads the model c names: one of Names(), else an error
// that says why the name cannot be used at the gate.
func Open(c Config) (*Source, error) {
	m, err := models.GateFaceModel(c.Name)
	if err != nil {
		return nil, fmt.Errorf("facemodel: %w", err)
	}
	if c.Detector != "" {
		if c.Options.Detector, err = ResolveDetector(c.Detector, c.Dir); err != nil {
			return nil, err
		}
	}
	src := &Source{Model: m.Name, Dim: m.Dim, Unit: m.Unit, Detector: c.Options.Detector}
	switch m.Name {
	case Dlib:
		r, err := recognizer.Load(c.Dir, c.Options)
		if err != nil {
			return nil, err
		}
		src.faces, src.close = r.Faces, r.Close
	case FeatureNet:
		r, err := featurenet.Load(c.Dir, c.Options)
		if err != nil {
			return nil, err
		}
		src.faces, src.close = r.Faces, r.Close
	case DlibCustom:
		if c.CustomSHA256 == "" {
			return nil, fmt.Errorf("facemodel: %s needs the SHA-256 of the network (see docs/models.md)", DlibCustom)
		}
		path := c.CustomPath
		if path == "" {
			path = filepath.Join(c.Dir, filepath.FromSlash(m.UserFile))
		}
		r, err := recognizer.LoadCustom(c.Dir, path, c.CustomSHA256, c.Options)
		if err != nil {
			return nil, err
		}
		src.Model, src.faces, src.close = r.Model(), r.Faces, r.Close
	default:
		return nil, fmt.Errorf("facemodel: no loader for the gate model %q", m.Name)
	}
	return src, nil
}
