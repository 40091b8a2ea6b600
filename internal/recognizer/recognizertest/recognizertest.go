// Package recognizertest holds what the tests of the face model packages
// share: the descriptors a model computes of the shared photos, and which
// photo shows whom. Only tests import it; it never decides anything for the
// gate.
package recognizertest

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/testenv"
)

// Model is what Descriptors needs of a face model; recognizer.Recognizer,
// featurenet.Recognizer and facemodel.Source have it.
type Model interface {
	FacesInImage(data []byte) ([]recognizer.Face, error)
}

// Descriptors describes every shared photo (faces/images/*.jpg) in which m
// finds exactly one face, keyed by the photo's name without ".jpg"
// ("jimin3"). It fails the test when the photos are missing or one cannot
// be read or described.
func Descriptors(t testing.TB, m Model) map[string][]float32 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.SharedData(t, "faces/images"), "*.jpg"))
	if err != nil || len(files) < 30 {
		t.Fatalf("shared photos: %d found, %v", len(files), err)
	}
	out := map[string][]float32{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		faces, err := m.FacesInImage(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(faces) == 1 {
			out[strings.TrimSuffix(filepath.Base(f), ".jpg")] = faces[0].Descriptor
		}
	}
	return out
}

// Person is whom a shared photo shows: its name without the number and
// ".jpg" ("jimin3" and "jimin3.jpg" -> "jimin").
func Person(photo string) string {
	return strings.TrimRight(strings.TrimSuffix(photo, ".jpg"), "0123456789")
}

// Pairs returns the distance of every pair of descriptors of d, each pair
// once, split into pairs of photos of the same person and of different
// people.
func Pairs(d map[string][]float32) (same, diff []float32) {
	for a := range d {
		for b := range d {
			if a >= b {
				continue
			}
			if Person(a) == Person(b) {
				same = append(same, match.Distance(d[a], d[b]))
			} else {
				diff = append(diff, match.Distance(d[a], d[b]))
			}
		}
	}
	return same, diff
}

// Mean is the mean of xs (NaN for none).
func Mean(xs []float32) float32 {
	var s float32
	for _, x := range xs {
		s += x
	}
	return s / float32(len(xs))
}

// Frame640x480 is a 640x480 BGR frame, as V4L2 delivers it, cut from a
// real photo with one face (jimin5.jpg, 1920x1080). The caller closes it.
func Frame640x480(tb testing.TB) gocv.Mat {
	tb.Helper()
	m, err := recognizer.DecodeImage(testenv.Photo(tb, "jimin5.jpg"))
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(m, &small, image.Pt(853, 480), 0, 0, gocv.InterpolationArea)
	region := small.Region(image.Rect(106, 0, 746, 480))
	defer region.Close()
	return region.Clone()
}
