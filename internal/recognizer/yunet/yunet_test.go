package yunet_test

import (
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer/yunet"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

func load(t testing.TB) *yunet.Detector {
	t.Helper()
	dir := testenv.Models(t)
	if err := models.Verify(dir, yunet.File); err != nil {
		t.Fatalf("YuNet is not installed in %s (%v): run make setup (scripts/fetch-face-model.sh yunet)", dir, err)
	}
	d, err := yunet.Load(dir, yunet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func read(t testing.TB, path string) gocv.Mat {
	t.Helper()
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		t.Fatalf("cannot read %s", path)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestHandCheckedFace: bona2.jpg (682x1024), checked by eye on the photo
// with the detections drawn: the eye centres are at about (264, 394) and
// (340, 386), the nose tip at (297, 440), the mouth corners at (287, 481)
// and (343, 476); the face (forehead to chin, cheek to cheek) spans about
// x 236-418, y 300-534.
func TestHandCheckedFace(t *testing.T) {
	d := load(t)
	faces, err := d.Detect(read(t, filepath.Join(testenv.SharedData(t, "faces/images"), "bona2.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 1 {
		t.Fatalf("found %d faces, want 1: %+v", len(faces), faces)
	}
	f := faces[0]
	want := [5]yunet.Point{{264, 394}, {340, 386}, {297, 440}, {287, 481}, {343, 476}}
	tol := [5]float64{8, 8, 10, 15, 15}
	for i, p := range want {
		if got := f.Landmarks[i]; math.Hypot(got.X-p.X, got.Y-p.Y) > tol[i] {
			t.Errorf("landmark %d at (%.0f, %.0f), want within %.0f px of (%.0f, %.0f)", i, got.X, got.Y, tol[i], p.X, p.Y)
		}
	}
	box := [4]float64{f.Box.X, f.Box.Y, f.Box.X + f.Box.W, f.Box.Y + f.Box.H}
	for i, v := range [4]float64{236, 300, 418, 534} {
		if math.Abs(box[i]-v) > 15 {
			t.Errorf("box %.0f, want within 15 px of x 236-418, y 300-534", box)
			break
		}
	}
	if f.Score < 0.8 {
		t.Errorf("score %.3f for a clear frontal face", f.Score)
	}
}

// TestGroupPhoto: pristin.jpg has ten people side by side (dlib's HOG also
// finds ten); each face's landmarks lie inside its box, eyes above the
// nose above the mouth, the image-left eye left of the other.
func TestGroupPhoto(t *testing.T) {
	d := load(t)
	faces, err := d.Detect(read(t, filepath.Join(testenv.SharedData(t, "faces/images"), "pristin.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 10 {
		t.Fatalf("found %d faces, want 10", len(faces))
	}
	for _, f := range faces {
		lm := f.Landmarks
		for _, p := range lm {
			if p.X < f.Box.X || p.X > f.Box.X+f.Box.W || p.Y < f.Box.Y || p.Y > f.Box.Y+f.Box.H {
				t.Errorf("landmark %v outside box %+v", p, f.Box)
			}
		}
		if !(lm[yunet.EyeLeft].X < lm[yunet.EyeRight].X && lm[yunet.MouthLeft].X < lm[yunet.MouthRight].X) {
			t.Errorf("left and right swapped: %v", lm)
		}
		if !(max(lm[0].Y, lm[1].Y) < lm[yunet.NoseTip].Y && lm[yunet.NoseTip].Y < min(lm[3].Y, lm[4].Y)) {
			t.Errorf("eyes, nose and mouth out of order: %v", lm)
		}
	}
}

// TestFindsEveryEastAsianFace: the target is a face in at least 99% of the
// 411 shared East Asian photos (dlib's HOG finds one in 393).
func TestFindsEveryEastAsianFace(t *testing.T) {
	d := load(t)
	files, err := filepath.Glob(filepath.Join(testenv.SharedData(t, "faces-eastasian"), "*", "*.jpg"))
	if err != nil || len(files) < 400 {
		t.Fatalf("found %d East Asian photos (%v), want 411", len(files), err)
	}
	found := 0
	for _, f := range files {
		m := gocv.IMRead(f, gocv.IMReadColor)
		faces, err := d.Detect(m)
		m.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(faces) > 0 {
			found++
		} else {
			t.Logf("no face in %s", f)
		}
	}
	t.Logf("a face in %d of %d photos", found, len(files))
	if float64(found) < 0.99*float64(len(files)) {
		t.Errorf("a face in %d of %d photos, want at least 99%%", found, len(files))
	}
}

// TestNoFaceInAWall: a plain frame and noise give no face.
func TestNoFaceInAWall(t *testing.T) {
	d := load(t)
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer grey.Close()
	noise := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer noise.Close()
	gocv.RandU(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	for name, m := range map[string]gocv.Mat{"grey": grey, "noise": noise} {
		if faces, err := d.Detect(m); err != nil || len(faces) != 0 {
			t.Errorf("%s: %d faces, %v", name, len(faces), err)
		}
	}
}

// TestOddSizesAndScaling: any frame size is padded to the network's
// multiple of 32, and a frame larger than MaxSide is scaled down with the
// coordinates scaled back: the face is found in the same place.
func TestOddSizesAndScaling(t *testing.T) {
	d := load(t)
	m := read(t, filepath.Join(testenv.SharedData(t, "faces/images"), "bona2.jpg"))
	ref, err := d.Detect(m)
	if err != nil || len(ref) != 1 {
		t.Fatalf("reference: %d faces, %v", len(ref), err)
	}
	odd := m.Region(imageRect(1, 3, 641, 1020)) // 640x1017, not a multiple of 32
	defer odd.Close()
	got, err := d.Detect(odd)
	if err != nil || len(got) != 1 {
		t.Fatalf("odd size: %d faces, %v", len(got), err)
	}
	if dx := got[0].Box.X + 1 - ref[0].Box.X; math.Abs(dx) > 4 {
		t.Errorf("odd size moved the face by %.1f px", dx)
	}
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(m, &big, imagePt(0, 0), 2, 2, gocv.InterpolationLinear)
	got, err = d.Detect(big)
	if err != nil || len(got) != 1 {
		t.Fatalf("doubled: %d faces, %v", len(got), err)
	}
	if e := math.Abs(got[0].Landmarks[0].X - 2*ref[0].Landmarks[0].X); e > 8 {
		t.Errorf("doubled frame: eye at %.0f, want about %.0f", got[0].Landmarks[0].X, 2*ref[0].Landmarks[0].X)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := yunet.Load(dir, yunet.Options{}); !errors.Is(err, models.ErrMissing) && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load from an empty directory: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "yunet"), 0o755)
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(yunet.File)), []byte("not a network"), 0o644)
	if _, err := yunet.Load(dir, yunet.Options{}); !errors.Is(err, models.ErrCorrupt) {
		t.Errorf("Load of a corrupt file: %v", err)
	}
	if _, err := yunet.Load(testenv.Models(t), yunet.Options{MinScore: 2}); err == nil {
		t.Error("MinScore 2 accepted")
	}
	d := load(t)
	grey := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC1)
	defer grey.Close()
	if _, err := d.Detect(grey); err == nil {
		t.Error("a greyscale Mat was taken as BGR")
	}
	if _, err := d.Detect(gocv.NewMat()); err == nil {
		t.Error("an empty Mat was accepted")
	}
	d.Close()
	bgr := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if _, err := d.Detect(bgr); !errors.Is(err, yunet.ErrClosed) {
		t.Errorf("Detect after Close: %v", err)
	}
}

func imageRect(x0, y0, x1, y1 int) image.Rectangle { return image.Rect(x0, y0, x1, y1) }
func imagePt(x, y int) image.Point                 { return image.Pt(x, y) }
