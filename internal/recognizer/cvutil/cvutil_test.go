package cvutil

import (
	"image"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// TestScaleNeverEmpty: the shapes that aborted the daemon (a 1300x1 and a
// 1x1300 image scaled to fit 640, a 6000x1 one to fit 2560) give a 1-pixel
// side, not an OpenCV exception.
func TestScaleNeverEmpty(t *testing.T) {
	for _, tt := range []struct {
		w, h int
		f    float64
		want image.Point
	}{
		{1300, 1, 640.0 / 1300, image.Pt(640, 1)},
		{1, 1300, 640.0 / 1300, image.Pt(1, 640)},
		{6000, 1, 2560.0 / 6000, image.Pt(2560, 1)},
		{10, 10, 3, image.Pt(30, 30)},
	} {
		src := gocv.NewMatWithSize(tt.h, tt.w, gocv.MatTypeCV8UC3)
		dst := gocv.NewMat()
		if err := Scale(src, &dst, tt.f); err != nil {
			t.Errorf("%dx%d by %v: %v", tt.w, tt.h, tt.f, err)
		} else if got := image.Pt(dst.Cols(), dst.Rows()); got != tt.want {
			t.Errorf("%dx%d by %v = %v, want %v", tt.w, tt.h, tt.f, got, tt.want)
		}
		src.Close()
		dst.Close()
	}
	src := gocv.NewMatWithSize(4, 4, gocv.MatTypeCV8UC3)
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if err := Scale(src, &dst, f); err == nil {
			t.Errorf("scale by %v accepted", f)
		}
	}
	if err := Scale(gocv.NewMat(), &dst, 1); err == nil {
		t.Error("an empty image was scaled")
	}
}
