package recognizer_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
)

// seedImages are small synthetic images in every layout the decoder
// handles: colour and grey JPEG, RGBA and paletted PNG.
func seedImages(tb testing.TB) [][]byte {
	tb.Helper()
	rgba := image.NewRGBA(image.Rect(0, 0, 24, 16))
	grey := image.NewGray(image.Rect(0, 0, 16, 16))
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{color.Black, color.White})
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			rgba.Set(x, y, color.RGBA{uint8(10 * x), uint8(15 * y), uint8(x * y), 255})
			grey.SetGray(x%16, y, color.Gray{uint8(x * y)})
			pal.SetColorIndex(x%8, y%8, uint8((x+y)%2))
		}
	}
	var out [][]byte
	enc := func(f func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			tb.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, &jpeg.Options{Quality: 90}) })
	enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, grey, nil) })
	enc(func(b *bytes.Buffer) error { return png.Encode(b, rgba) })
	enc(func(b *bytes.Buffer) error { return png.Encode(b, pal) })
	return out
}

// FuzzDecodeImage feeds arbitrary bytes to the decoder that stands between
// the outside world and dlib's C++ code. Whatever the input, it must return
// either a well-formed BGR Mat of the size the header declares, or an
// ErrImage; never panic, crash or hang.
func FuzzDecodeImage(f *testing.F) {
	for _, s := range seedImages(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("\xff\xd8\xff"))
	// Decompression bombs: issue 12's 380 KB PNG of 7000x7000 16-bit
	// pixels, an interlaced one within the pixel limit, and progressive
	// JPEG headers whose coefficients alone would take hundreds of MB.
	// (testdata/fuzz holds their headers too.)
	f.Add(issueBomb(f))
	f.Add(pngBomb(f, 300, 200, 1))
	f.Add(jpegHeader(0xc2, 5000, 5000, 0x11, 0x11, 0x11))
	f.Add(jpegHeader(0xc2, 3000, 3000, 0x11, 0x11, 0x11, 0x11))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := recognizer.DecodeImage(data)
		if err != nil {
			if !errors.Is(err, recognizer.ErrImage) {
				t.Fatalf("DecodeImage error %v is not an ErrImage", err)
			}
			return
		}
		defer m.Close()
		cfg, format, cerr := image.DecodeConfig(bytes.NewReader(data))
		if cerr != nil {
			t.Fatalf("DecodeImage accepted what DecodeConfig refuses: %v", cerr)
		}
		if m.Type() != gocv.MatTypeCV8UC3 || m.Cols() != cfg.Width || m.Rows() != cfg.Height {
			t.Fatalf("DecodeImage = %v %dx%d, want CV8UC3 %dx%d", m.Type(), m.Cols(), m.Rows(), cfg.Width, cfg.Height)
		}
		// What was decoded was within the limits.
		if px := cfg.Width * cfg.Height; px > recognizer.MaxImagePixels {
			t.Fatalf("DecodeImage accepted %d pixels, more than MaxImagePixels", px)
		}
		if cost, err := recognizer.DecodeCost(data, format); err != nil || cost > recognizer.MaxDecodeBytes {
			t.Fatalf("DecodeImage accepted an image of DecodeCost %d, %v: over MaxDecodeBytes", cost, err)
		}
	})
}

// FuzzJPEGFrame: the frame header DecodeImage's memory bound is computed
// from is the one Go's decoder uses: whenever image/jpeg reads a size from
// a stream, the marker walk finds the same size.
func FuzzJPEGFrame(f *testing.F) {
	for _, s := range seedImages(f)[:2] {
		f.Add(s)
	}
	f.Add(jpegHeader(0xc2, 5000, 5000, 0x11, 0x11, 0x11))
	f.Add(jpegHeader(0xc0, 640, 480, 0x22, 0x11, 0x11))
	f.Add(jpegHeader(0xc1, 17, 9, 0x21))
	// Fill bytes, a stray RST, junk and an APP segment before the frame.
	f.Add(append([]byte("\xff\xd8\xff\xff\xd0junk\xff\xe1\x00\x04ab"), jpegHeader(0xc0, 8, 8, 0x11)[2:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		w, h, ferr := recognizer.JPEGFrameSize(data)
		if err != nil {
			return
		}
		if ferr != nil || w != cfg.Width || h != cfg.Height {
			t.Fatalf("JPEGFrameSize = %dx%d, %v; image/jpeg says %dx%d", w, h, ferr, cfg.Width, cfg.Height)
		}
	})
}
