package livenessnet_test

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/livenessnet"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// modelDir is the model directory holding YuNet and fr_liveness, or the
// test fails saying how to fetch them.
func modelDir(t testing.TB) string {
	t.Helper()
	dir := testenv.Models(t)
	if err := models.Verify(dir, livenessnet.File, models.YuNetFile); err != nil {
		t.Fatalf("%v: run scripts/fetch-face-model.sh liveness %s and scripts/fetch-face-model.sh yunet %s (make setup fetches yunet)", err, dir, dir)
	}
	return dir
}

// upright decodes one of the three Apache-2.0 frames of
// ../shared/testdata/pad (stored rotated 90 degrees) and turns it upright.
func upright(t testing.TB, name string) gocv.Mat {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedData(t, "pad"), name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := recognizer.DecodeImage(b)
	if err != nil {
		t.Fatalf("DecodeImage(%s) = %v", name, err)
	}
	defer m.Close()
	out := gocv.NewMat()
	gocv.Rotate(m, &out, gocv.Rotate90Clockwise)
	return out
}

// face is the largest face YuNet finds in frame.
func face(t testing.TB, det *yunet.Detector, frame gocv.Mat, name string) image.Rectangle {
	t.Helper()
	faces, err := recognizer.YuNetFaces(det, frame)
	if err != nil || len(faces) == 0 {
		t.Fatalf("YuNetFaces(%s) = %d faces, %v; want a face", name, len(faces), err)
	}
	best := faces[0].Rect
	for _, f := range faces {
		if f.Rect.Dx()*f.Rect.Dy() > best.Dx()*best.Dy() {
			best = f.Rect
		}
	}
	return best
}

// TestSampleFrames runs the real network and cues on a live frame, a
// printed photo and a tablet screen: the live frame must be accepted by
// the recommended combination at its operating point, and the print and
// the tablet must both be refused.
func TestSampleFrames(t *testing.T) {
	det, net := loadBoth(t)

	verdict := func(name string) (liveness.Frame, liveness.Verdict) {
		m := upright(t, name)
		defer m.Close()
		f, err := net.Frame(m, face(t, det, m, name))
		if err != nil {
			t.Fatalf("Frame(%s) = %v", name, err)
		}
		// Three frames of the same still: fusion of a steady face.
		v, err := liveness.Default.Decide([]liveness.Frame{f, f, f})
		if err != nil {
			t.Fatalf("Decide(%s) = %v", name, err)
		}
		t.Logf("%s: %+v -> %+v", name, f, v)
		return f, v
	}
	_, live := verdict("image_T1.jpg")
	if !live.Live {
		t.Errorf("Default.Decide(live frame) = %+v, want live (threshold %.3f)", live, liveness.Default.Threshold)
	}
	// Both attacks are refused today (2026-12-02).
	for _, name := range []string{"image_F1.jpg", "image_F2.jpg"} {
		if _, v := verdict(name); v.Live {
			t.Errorf("Default.Decide(%s) = %+v, want refused (threshold %.3f)", name, v, liveness.Default.Threshold)
		}
	}
}

func TestScoreChecksFrame(t *testing.T) {
	net, err := livenessnet.Load(modelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	grey := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC1)
	defer grey.Close()
	if _, err := net.Score(grey, image.Rect(10, 10, 50, 50), livenessnet.BGR); err == nil {
		t.Errorf("Score(grey frame) = nil error, want an error")
	}
	bgr := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if _, err := net.Score(bgr, image.Rect(200, 200, 200, 200), livenessnet.BGR); err == nil {
		t.Errorf("Score(empty box) = nil error, want an error")
	}
	if p, err := net.Score(bgr, image.Rect(30, 30, 60, 60), livenessnet.BGR); err != nil || p < 0 || p > 1 {
		t.Errorf("Score(black frame) = %v, %v; want a probability", p, err)
	}
	net.Close()
	if _, err := net.Score(bgr, image.Rect(30, 30, 60, 60), livenessnet.BGR); err != livenessnet.ErrClosed {
		t.Errorf("Score after Close = %v, want ErrClosed", err)
	}
}

func TestLoadRefusesMissingModel(t *testing.T) {
	if _, err := livenessnet.Load(t.TempDir()); err == nil {
		t.Fatalf("Load(empty dir) = nil error, want one naming the fetch script")
	}
}

// BenchmarkFrame is what PAD adds per face at the gate: the network and
// the cues on one face of a 640x480 frame (the detector already ran).
// Target: at most 15 ms on the development VM (docs/liveness.md).
func BenchmarkFrame(b *testing.B) {
	det, net := loadBoth(b)
	m := upright(b, "image_T1.jpg")
	defer m.Close()
	box := face(b, det, m, "image_T1.jpg")
	b.ResetTimer()
	for range b.N {
		if _, err := net.Frame(m, box); err != nil {
			b.Fatal(err)
		}
	}
}

// loadBoth loads the detector and the PAD network from the model
// directory, closed when the test ends.
func loadBoth(t testing.TB) (*yunet.Detector, *livenessnet.Net) {
	t.Helper()
	dir := modelDir(t)
	det, err := yunet.Load(dir, yunet.Options{TopK: recognizer.GateTopK})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { det.Close() })
	net, err := livenessnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	return det, net
}
