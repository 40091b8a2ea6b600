package livenessnet_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/yunet"
)

func largest(det *yunet.Detector, m gocv.Mat) (image.Rectangle, bool) {
	faces, err := recognizer.YuNetFaces(det, m)
	if err != nil || len(faces) == 0 {
		return image.Rectangle{}, false
	}
	best := faces[0].Rect
	for _, f := range faces {
		if f.Rect.Dx()*f.Rect.Dy() > best.Dx()*best.Dy() {
			best = f.Rect
		}
	}
	return best, true
}

// TestCloseUpPrintAndTabletAreRefused (red team): the print and the tablet
// brought closer to the camera (the frame cut around the face at k times
// the face box and scaled back to the camera's size: the sheet's or the
// screen's edges leave the view) were judged live 0.96 with the network at
// 0.001, the missing edges outvoting it. The network floor and the fill
// limit of liveness.Default refuse them; the live frame stays live.
func TestCloseUpPrintAndTabletAreRefused(t *testing.T) {
	det, net := loadBoth(t)
	passed := 0
	for _, name := range []string{"image_F1.jpg", "image_F2.jpg", "image_T1.jpg"} {
		m := upright(t, name)
		box := face(t, det, m, name)
		W, H := m.Cols(), m.Rows()
		for _, k := range []float64{1.4, 1.7, 2.0, 2.4, 2.8, 3.5} {
			cx, cy := (box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2
			h := int(k * float64(box.Dy()))
			w := h * W / H
			r := image.Rect(cx-w/2, cy-h/2, cx+w/2, cy+h/2).Intersect(image.Rect(0, 0, W, H))
			roi := m.Region(r)
			big := gocv.NewMat()
			gocv.Resize(roi, &big, image.Pt(W, H), 0, 0, gocv.InterpolationLinear)
			roi.Close()
			b, ok := largest(det, big)
			if !ok {
				t.Logf("%s k=%.1f: no face", name, k)
				big.Close()
				continue
			}
			f, err := net.Frame(big, b)
			big.Close()
			if err != nil {
				t.Logf("%s k=%.1f: Frame: %v", name, k, err)
				continue
			}
			v, _ := liveness.Default.Decide([]liveness.Frame{f, f, f})
			t.Logf("%s k=%.1f crop %v box %v: net=%.3f rect=%.3f wide=%.3f wrect=%.3f -> score %.3f live=%v", name, k, r, b, f.Net, f.Rect, f.Wide, f.WideRect, v.Score, v.Live)
			if v.Live && name != "image_T1.jpg" {
				passed++
			}
			if !v.Live && name == "image_T1.jpg" && k >= 2.0 {
				t.Errorf("the live frame at k=%.1f (face %.0f%% of the frame) refused", k, 100*f.Fill)
			}
		}
		m.Close()
	}
	if passed > 0 {
		t.Errorf("%d close-ups of the print or the tablet judged live by liveness.Default", passed)
	}
}
