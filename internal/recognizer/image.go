package recognizer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"

	"gocv.io/x/gocv"
)

// Limits on images accepted from outside (photo files, uploads). Camera
// frames are not decoded and do not pass through here.
const (
	// MaxImageBytes is the largest encoded image accepted.
	MaxImageBytes = 32 << 20
	// MaxImagePixels is the largest decoded image accepted (50 megapixels:
	// any phone photo, never a decompression bomb).
	MaxImagePixels = 50_000_000
)

// ErrImage is wrapped by every error about an image that cannot be used.
var ErrImage = errors.New("recognizer: unusable image")

// DecodeImage validates and decodes a JPEG or PNG image into a BGR Mat
// (8-bit, 3 channels; greyscale and alpha are converted). It decodes in Go,
// which is memory-safe, checks the header's size before allocating pixels,
// and treats a truncated or corrupt stream as an error, so no untrusted byte
// ever reaches a C decoder. The caller must Close the Mat; on error there
// is no Mat to close.
func DecodeImage(data []byte) (gocv.Mat, error) {
	if len(data) == 0 {
		return gocv.Mat{}, fmt.Errorf("%w: empty", ErrImage)
	}
	if len(data) > MaxImageBytes {
		return gocv.Mat{}, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrImage, len(data), MaxImageBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: not a JPEG or PNG image: %v", ErrImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return gocv.Mat{}, fmt.Errorf("%w: %dx%d pixels, at most %d allowed", ErrImage, cfg.Width, cfg.Height, MaxImagePixels)
	}
	var img image.Image
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	default:
		return gocv.Mat{}, fmt.Errorf("%w: format %q, want JPEG or PNG", ErrImage, format)
	}
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: %s: %v", ErrImage, format, err)
	}
	return matFromImage(img)
}

// matFromImage converts a decoded image to a BGR Mat.
func matFromImage(img image.Image) (gocv.Mat, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	bgr := make([]byte, 3*w*h)
	switch m := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := ycbcrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := 3 * (y*w + x)
				bgr[o], bgr[o+1], bgr[o+2] = bl, g, r
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				o := 3 * (y*w + x)
				bgr[o], bgr[o+1], bgr[o+2] = v, v, v
			}
		}
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		for i := 0; i < w*h; i++ {
			bgr[3*i], bgr[3*i+1], bgr[3*i+2] = rgba.Pix[4*i+2], rgba.Pix[4*i+1], rgba.Pix[4*i]
		}
	}
	mat, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, bgr)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("recognizer: image to Mat: %w", err)
	}
	return mat, nil
}

// ycbcrToRGB is image/color's conversion, written out so the per-pixel loop
// needs no interface call.
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy1 := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy1 + 91881*cr1
	g := yy1 - 22554*cb1 - 46802*cr1
	b := yy1 + 116130*cb1
	return clamp(r), clamp(g), clamp(b)
}

func clamp(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 255
}
