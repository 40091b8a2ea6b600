package facemodel_test

import (
	"fmt"
	"testing"

	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/recognizer/recognizertest"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/internal/testenv"
)

// BenchmarkPipelines640x480 is the per-frame cost at the gate of each
// detector and model: a 640x480 BGR frame to the face's descriptor; and
// YuNet's detection alone. Run with OPENBLAS_NUM_THREADS=1
// (scripts/bench.sh).
func BenchmarkPipelines640x480(b *testing.B) {
	frame := recognizertest.Frame640x480(b)
	defer frame.Close()
	dir := testenv.Models(b)
	for _, c := range []struct{ det, model string }{
		{"hog", facemodel.Dlib}, {"yunet", facemodel.Dlib},
		{"hog", facemodel.FeatureNet}, {"yunet", facemodel.FeatureNet},
	} {
		s, err := facemodel.Open(facemodel.Config{Name: c.model, Dir: dir, Detector: c.det})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.det+"+"+c.model, func(b *testing.B) {
			for b.Loop() {
				faces, err := s.Faces(frame)
				if err != nil || len(faces) != 1 {
					b.Fatalf("faces = %d, %v", len(faces), err)
				}
			}
		})
		s.Close()
	}
	// YuNet alone, on the whole frame (its default) and on the frame
	// halved (yunet.Options.MaxSide 320: a quarter of the work, for a slow
	// board where faces are large).
	for _, side := range []int{640, 320} {
		d, err := yunet.Load(dir, yunet.Options{MaxSide: side})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("yunet-detect-only-%d", side), func(b *testing.B) {
			for b.Loop() {
				faces, err := d.Detect(frame)
				if err != nil || len(faces) != 1 {
					b.Fatalf("faces = %d, %v", len(faces), err)
				}
			}
		})
		d.Close()
	}
}
