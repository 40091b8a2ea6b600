// Package cvutil holds the small OpenCV helpers the face packages share.
//
// It exists because OpenCV's C++ exceptions are not Go errors: a call
// that throws aborts the whole process. Scale works out sizes itself so
// that resize never gets an empty one (a 1300x1 image scaled by half
// would: the daemon died with "!dsize.empty()", red team round 4).
package cvutil

import (
	"fmt"
	"image"
	"math"
	"path/filepath"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/models"
)

// ScaledSize is src's size (w x h) scaled by f, each side at least 1
// pixel.
func ScaledSize(w, h int, f float64) image.Point {
	side := func(n int) int { return max(1, int(math.Round(float64(n)*f))) }
	return image.Pt(side(w), side(h))
}

// Scale resizes src by f into dst (area interpolation when shrinking,
// linear when growing). Each side of the result is at least 1 pixel; an
// empty src, or an f that is not a positive finite number, is an error.
func Scale(src gocv.Mat, dst *gocv.Mat, f float64) error {
	if src.Empty() || src.Cols() < 1 || src.Rows() < 1 {
		return fmt.Errorf("cvutil: scale an empty image")
	}
	if !(f > 0) || math.IsInf(f, 0) {
		return fmt.Errorf("cvutil: scale by %v", f)
	}
	interp := gocv.InterpolationLinear
	if f < 1 {
		interp = gocv.InterpolationArea
	}
	gocv.Resize(src, dst, ScaledSize(src.Cols(), src.Rows(), f), 0, 0, interp)
	return nil
}

// ReadONNX verifies the network file rel in the model directory dir
// against models/SHA256SUMS and loads it for OpenCV's own CPU backend. The
// error says what failed; the caller adds how to fetch the file.
func ReadONNX(dir, rel string) (*gocv.Net, error) {
	if err := models.Verify(dir, rel); err != nil {
		return nil, err
	}
	net := gocv.ReadNetFromONNX(filepath.Join(dir, filepath.FromSlash(rel)))
	if net.Empty() {
		return nil, fmt.Errorf("OpenCV could not read %s", rel)
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return nil, err
	}
	return &net, nil
}
