package recognizer_test

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/recognizertest"
	"github.com/gated-dev/gated/internal/testenv"
)

var (
	ynOnce sync.Once
	yn     *recognizer.Recognizer
	ynErr  error
)

// loadYuNet returns a recognizer with the YuNet detector, whose landmarks
// give a head pose.
func loadYuNet(t testing.TB) *recognizer.Recognizer {
	t.Helper()
	dir := testenv.Models(t)
	ynOnce.Do(func() { yn, ynErr = recognizer.Load(dir, recognizer.Options{Detector: recognizer.DetectorYuNet}) })
	if ynErr != nil {
		t.Fatalf("YuNet recognizer: %v (run make setup: it fetches the yunet model)", ynErr)
	}
	return yn
}

// planeView returns where the corners of a w x h picture land when the
// picture, a flat sheet or screen, is held in front of a 640x480 camera:
// rotated in its plane by roll, tilted about its horizontal and vertical
// axes, at a distance where it fills about fill of the frame's height.
func planeView(w, h int, roll, tiltX, tiltY, fill, shiftX, shiftY float64) []image.Point {
	const f = 600.0
	cr, sr := math.Cos(roll), math.Sin(roll)
	cx, sx := math.Cos(tiltX), math.Sin(tiltX)
	cy, sy := math.Cos(tiltY), math.Sin(tiltY)
	// The sheet's size in the camera's units: fill of 480 lines at depth 1.
	s := fill * 480 / f / float64(h)
	var out []image.Point
	for _, c := range [][2]float64{{0, 0}, {float64(w), 0}, {float64(w), float64(h)}, {0, float64(h)}} {
		x, y, z := (c[0]-float64(w)/2)*s, (c[1]-float64(h)/2)*s, 0.0
		x, y = x*cr-y*sr, x*sr+y*cr
		y, z = y*cx-z*sx, y*sx+z*cx
		x, z = x*cy+z*sy, -x*sy+z*cy
		depth := 1 - z
		out = append(out, image.Pt(int(math.Round(320+shiftX+f*x/depth)), int(math.Round(240+shiftY+f*y/depth))))
	}
	return out
}

// largestPose is the pose of the largest face the recognizer finds.
func largestPose(t testing.TB, r *recognizer.Recognizer, m gocv.Mat) (liveness.Pose, bool) {
	t.Helper()
	faces, err := r.Faces(m)
	if err != nil {
		t.Fatal(err)
	}
	best := -1
	for i, f := range faces {
		if best < 0 || f.Rect.Dx() > faces[best].Rect.Dx() {
			best = i
		}
	}
	if best < 0 {
		return liveness.Pose{}, false
	}
	p, err := faces[best].Pose()
	return p, err == nil
}

// sharedPhotos lists the shared photos (faces/images/*.jpg).
func sharedPhotos(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(testenv.SharedData(t, "faces/images"), "*.jpg"))
	if err != nil || len(files) < 30 {
		t.Fatalf("shared photos: %d found, %v", len(files), err)
	}
	return files
}

// landmarks is the largest face's landmarks, to a fraction of a pixel.
func landmarks(t testing.TB, r *recognizer.Recognizer, m gocv.Mat) ([5]liveness.Point, bool) {
	t.Helper()
	faces, err := r.Faces(m)
	if err != nil {
		t.Fatal(err)
	}
	var out [5]liveness.Point
	best := -1
	for i, f := range faces {
		if best < 0 || f.Rect.Dx() > faces[best].Rect.Dx() {
			best = i
		}
	}
	if best < 0 {
		return out, false
	}
	if _, err := faces[best].Pose(); err != nil {
		return out, false
	}
	for i, p := range recognizer.HeadLandmarks(faces[best]) {
		out[i] = liveness.Point{X: p.X, Y: p.Y}
	}
	return out, true
}

// TestNoHomographyOfAPhotoTurnsItsHead is the challenge's property on the
// landmarks of every shared photo, as the detector places them: moved by
// any view of the photo as a flat sheet (rotated, tilted up to 60 degrees
// about either axis, near or far), they never pass a turn to either side.
func TestNoHomographyOfAPhotoTurnsItsHead(t *testing.T) {
	r := loadYuNet(t)
	rng := rand.New(rand.NewPCG(14, 2))
	photos := 0
	for _, file := range sharedPhotos(t) {
		m := decodeFile(t, file)
		lm, ok := landmarks(t, r, m)
		m.Close()
		if !ok {
			continue
		}
		photos++
		base, err := liveness.PoseOf(lm[0], lm[1], lm[2], lm[3], lm[4])
		if err != nil {
			t.Fatal(err)
		}
		for range 500 {
			d := planeView(640, 480, (rng.Float64()-0.5)*math.Pi/2, (rng.Float64()-0.5)*2*math.Pi/3, (rng.Float64()-0.5)*2*math.Pi/3,
				0.3+rng.Float64(), (rng.Float64()-0.5)*200, (rng.Float64()-0.5)*150)
			sp := gocv.NewPointVectorFromPoints([]image.Point{{0, 0}, {640, 0}, {640, 480}, {0, 480}})
			dp := gocv.NewPointVectorFromPoints(d)
			h := gocv.GetPerspectiveTransform(sp, dp)
			sp.Close()
			dp.Close()
			var seen [5]liveness.Point
			for i, p := range lm {
				x := h.GetDoubleAt(0, 0)*p.X + h.GetDoubleAt(0, 1)*p.Y + h.GetDoubleAt(0, 2)
				y := h.GetDoubleAt(1, 0)*p.X + h.GetDoubleAt(1, 1)*p.Y + h.GetDoubleAt(1, 2)
				w := h.GetDoubleAt(2, 0)*p.X + h.GetDoubleAt(2, 1)*p.Y + h.GetDoubleAt(2, 2)
				seen[i] = liveness.Point{X: x / w, Y: y / w}
			}
			h.Close()
			pose, err := liveness.PoseOf(seen[0], seen[1], seen[2], seen[3], seen[4])
			if err != nil {
				continue // seen from behind: no pose, no turn
			}
			for _, turn := range []liveness.Turn{liveness.TurnLeft, liveness.TurnRight} {
				if liveness.Turned(turn, base, pose, liveness.TurnMin) {
					t.Fatalf("%s: a view of the photo passed a turn to the %s: pose X %.3f -> %.3f", filepath.Base(file), turn, base.X, pose.X)
				}
			}
		}
	}
	if photos < 25 {
		t.Fatalf("YuNet gave a pose for %d shared photos, want at least 25", photos)
	}
}

// TestFewViewsOfAPhotoTurnItsHead measures what the exact property above
// does not cover: the detector finds the landmarks again in every view,
// and its noise moves the pose. A shared photo shown to the camera as a
// print or a screen would be (640x480, rotated, tilted up to 60 degrees,
// near or far), compared with the same photo held straight, passes a turn
// to a given side in at most 10% of views (measured 2026-12-02: 1.7%
// left, 3.5% right, docs/liveness.md). A person wiggling a photo
// at the camera can hope for that; the challenge is a hurdle, not a lock.
func TestFewViewsOfAPhotoTurnItsHead(t *testing.T) {
	r := loadYuNet(t)
	rng := rand.New(rand.NewPCG(14, 1))
	views := 0
	passed := map[liveness.Turn]int{}
	var deltas []float64
	for _, file := range sharedPhotos(t) {
		src := decodeFile(t, file)
		straight := warpPhoto(src, 0, 0, 0, 0.8, 0, 0)
		base, ok := largestPose(t, r, straight)
		straight.Close()
		if !ok {
			src.Close()
			continue
		}
		for range 12 {
			roll := (rng.Float64() - 0.5) * math.Pi / 3
			tiltX := (rng.Float64() - 0.5) * 2 * 60 * math.Pi / 180
			tiltY := (rng.Float64() - 0.5) * 2 * 60 * math.Pi / 180
			view := warpPhoto(src, roll, tiltX, tiltY, 0.5+rng.Float64()*0.6, (rng.Float64()-0.5)*120, (rng.Float64()-0.5)*80)
			pose, ok := largestPose(t, r, view)
			view.Close()
			if !ok {
				continue
			}
			views++
			deltas = append(deltas, math.Abs(pose.X-base.X))
			for _, turn := range []liveness.Turn{liveness.TurnLeft, liveness.TurnRight} {
				if liveness.Turned(turn, base, pose, liveness.TurnMin) {
					passed[turn]++
				}
			}
		}
		src.Close()
	}
	if views < 200 {
		t.Fatalf("only %d views gave a pose: too few to measure", views)
	}
	sort.Float64s(deltas)
	t.Logf("%d views: |pose X change| median %.3f, p90 %.3f; passed a left turn %d (%.1f%%), a right turn %d (%.1f%%) at TurnMin %.2f",
		views, deltas[len(deltas)/2], deltas[len(deltas)*9/10], passed[liveness.TurnLeft], 100*float64(passed[liveness.TurnLeft])/float64(views),
		passed[liveness.TurnRight], 100*float64(passed[liveness.TurnRight])/float64(views), liveness.TurnMin)
	for turn, n := range passed {
		if float64(n) > 0.10*float64(views) {
			t.Errorf("%d of %d views of a flat photo passed a turn to the %s, want at most 10%%", n, views, turn)
		}
	}
}

func decodeFile(t testing.TB, file string) gocv.Mat {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

// warpPhoto shows src to a 640x480 camera as a flat sheet (planeView).
func warpPhoto(src gocv.Mat, roll, tiltX, tiltY, fill, shiftX, shiftY float64) gocv.Mat {
	sp := gocv.NewPointVectorFromPoints([]image.Point{{0, 0}, {src.Cols(), 0}, {src.Cols(), src.Rows()}, {0, src.Rows()}})
	dp := gocv.NewPointVectorFromPoints(planeView(src.Cols(), src.Rows(), roll, tiltX, tiltY, fill, shiftX, shiftY))
	h := gocv.GetPerspectiveTransform(sp, dp)
	sp.Close()
	dp.Close()
	view := gocv.NewMat()
	gocv.WarpPerspectiveWithParams(src, &view, h, image.Pt(640, 480), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{90, 90, 90, 0})
	h.Close()
	return view
}

// TestRealPosesOfOnePersonDiffer shows the other side: the pose differences
// between photos of one person in the shared set (people who did turn their
// heads between photos) often exceed liveness.TurnMin, so a real turn
// passes.
func TestRealPosesOfOnePersonDiffer(t *testing.T) {
	r := loadYuNet(t)
	poses := map[string][]float64{}
	for _, file := range sharedPhotos(t) {
		m := decodeFile(t, file)
		if p, ok := largestPose(t, r, m); ok {
			who := recognizertest.Person(strings.TrimSuffix(filepath.Base(file), ".jpg"))
			poses[who] = append(poses[who], p.X)
		}
		m.Close()
	}
	pairs, over := 0, 0
	for _, xs := range poses {
		for i := range xs {
			for j := i + 1; j < len(xs); j++ {
				pairs++
				if math.Abs(xs[i]-xs[j]) >= liveness.TurnMin {
					over++
				}
			}
		}
	}
	t.Logf("%d pairs of photos of one person; %d (%.0f%%) differ in pose X by TurnMin %.2f or more", pairs, over, 100*float64(over)/float64(pairs), liveness.TurnMin)
	if pairs < 20 || over == 0 {
		t.Fatalf("%d of %d same-person pairs differ by TurnMin: the challenge would refuse every real turn in these photos", over, pairs)
	}
}
