package recognizer

import (
	"bytes"
	"encoding/binary"
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
//
// Faces are searched in at most 2560 pixels a side (Options.MaxSide) and
// the quality gate wants a face of 100 pixels, so pixels beyond a phone's
// usual 12 megapixels buy nothing; what they cost is memory while decoding,
// on a gate board with a gigabyte or two. The limits admit every baseline
// JPEG (what cameras and phones write) and every 8- or 16-bit PNG of up to
// 25 megapixels, and progressive JPEGs of up to about 17 megapixels (10 at
// full colour resolution). They refuse, from the header alone and before any
// pixel is allocated, what would take more: one decode then takes at most
// MaxDecodeBytes in Go plus the Mat returned (3 bytes a pixel, 72 MiB).
const (
	// MaxImageBytes is the largest encoded image accepted.
	MaxImageBytes = 32 << 20
	// MaxImagePixels is the largest image accepted, in pixels: every
	// 24-megapixel camera, twice a phone's usual photo.
	MaxImagePixels = 25_000_000
	// MaxDecodeBytes bounds the memory Go's decoder may need for an image
	// (pixel planes, progressive JPEG coefficients, colour conversion),
	// computed from its header before decoding. A 12-megapixel JPEG needs
	// at most 66 MB (138 MB progressive), a 24-megapixel one 132-168 MB;
	// issue 12's 380 KB PNG bomb (7000x7000 16-bit pixels) would need
	// 392 MB.
	MaxDecodeBytes = 192 << 20
)

// ErrImage is wrapped by every error about an image that cannot be used.
var ErrImage = errors.New("recognizer: unusable image")

// DecodeImage validates and decodes a JPEG or PNG image into a BGR Mat
// (8-bit, 3 channels; greyscale and alpha are converted). It decodes in Go,
// which is memory-safe, and treats a truncated or corrupt stream as an
// error, so no untrusted byte ever reaches a C decoder. Before decoding it
// reads the header and refuses an image of more than MaxImagePixels, or one
// whose decoding would take more than MaxDecodeBytes (a decompression bomb:
// a small file declaring a huge image). Peak memory is then bounded by
// MaxDecodeBytes plus the returned Mat. The caller must Close the Mat; on
// error there is no Mat to close.
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
	if format != "jpeg" && format != "png" {
		return gocv.Mat{}, fmt.Errorf("%w: format %q, want JPEG or PNG", ErrImage, format)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || pixels > MaxImagePixels {
		return gocv.Mat{}, fmt.Errorf("%w: %dx%d pixels (%.1f megapixels), more than the %d megapixels allowed: use a smaller photo (a phone's usual 12-megapixel photo is fine)",
			ErrImage, cfg.Width, cfg.Height, float64(pixels)/1e6, MaxImagePixels/1_000_000)
	}
	cost, err := decodeCost(data, format)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: %s header: %v", ErrImage, format, err)
	}
	if cost > MaxDecodeBytes {
		return gocv.Mat{}, fmt.Errorf("%w: this %dx%d %s would take up to %d MiB to decode, more than the %d MiB allowed: use a smaller photo, or save it as an ordinary (baseline) JPEG",
			ErrImage, cfg.Width, cfg.Height, format, (cost+1<<20-1)>>20, MaxDecodeBytes>>20)
	}
	var img image.Image
	if format == "jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: %s: %v", ErrImage, format, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return gocv.Mat{}, fmt.Errorf("%w: %s decoded to %dx%d, header says %dx%d", ErrImage, format, b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return matFromImage(img)
}

// decodeCost returns an upper bound on the bytes Go's decoder allocates
// for an image whose header image.DecodeConfig has accepted.
func decodeCost(data []byte, format string) (int64, error) {
	// decoderState covers the decoder's own tables and buffers (zlib's
	// window, Huffman tables), whatever the image's size.
	const decoderState = 64 << 10
	if format == "png" {
		c, err := pngCost(data)
		return c + decoderState, err
	}
	f, err := jpegFrameOf(data)
	if err != nil {
		return 0, err
	}
	return f.cost() + decoderState, nil
}

// pngCost reads the IHDR chunk, which image.DecodeConfig has checked comes
// first: width, height, bit depth, colour type and interlace method. Go's
// PNG decoder makes one image of 1 byte a pixel (palette), up to 4 (8-bit
// grey with transparency, RGB, RGBA) or up to 8 (16-bit); an interlaced
// image is decoded pass by pass into images of its size in total before
// they are merged, so it may take twice that. Each row is read into two
// buffers of at most 8 bytes a pixel.
func pngCost(data []byte) (int64, error) {
	if len(data) < 29 || string(data[12:16]) != "IHDR" {
		return 0, errors.New("no IHDR chunk")
	}
	w := int64(binary.BigEndian.Uint32(data[16:20]))
	h := int64(binary.BigEndian.Uint32(data[20:24]))
	depth, colour, interlace := data[24], data[25], data[28]
	bpp, rows := int64(4), int64(2) // rows: the current and previous row
	switch {
	case colour == 3:
		bpp = 1
	case depth == 16:
		bpp = 8
	}
	if interlace != 0 {
		bpp, rows = 2*bpp, 2*7
	}
	return w*h*bpp + rows*(1+8*w), nil
}

// jpegFrame is what a JPEG's start-of-frame header says.
type jpegFrame struct {
	width, height int
	nComp         int
	progressive   bool
	h, v          [4]int // sampling factors of each component
}

// cost is an upper bound on what Go's JPEG decoder allocates: one plane
// per component, padded to whole MCUs (a byte a sample); for a progressive
// JPEG, the coefficients of every block between scans (4 bytes a sample);
// and for 3 or 4 components a 4-byte-a-pixel RGBA or CMYK image that Go
// converts RGB, CMYK and YCbCrK JPEGs into.
func (f jpegFrame) cost() int64 {
	hmax, vmax := 1, 1
	for i := 0; i < f.nComp; i++ {
		hmax, vmax = max(hmax, f.h[i]), max(vmax, f.v[i])
	}
	mxx := int64((f.width + 8*hmax - 1) / (8 * hmax))
	myy := int64((f.height + 8*vmax - 1) / (8 * vmax))
	var samples int64
	for i := 0; i < f.nComp; i++ {
		samples += 64 * mxx * myy * int64(f.h[i]*f.v[i])
	}
	cost := samples
	if f.progressive {
		cost += 4 * samples
	}
	if f.nComp >= 3 {
		cost += 4 * int64(f.width) * int64(f.height)
	}
	return cost
}

// jpegFrameOf finds the start-of-frame segment (SOF0, SOF1 or SOF2)
// walking the markers the way Go's image/jpeg does, so it reads the frame
// header Go's decoder will use.
func jpegFrameOf(data []byte) (jpegFrame, error) {
	if len(data) < 2 || data[0] != 0xff || data[1] != 0xd8 {
		return jpegFrame{}, errors.New("missing SOI marker")
	}
	i := 2
	next := func() (byte, bool) {
		if i >= len(data) {
			return 0, false
		}
		i++
		return data[i-1], true
	}
	for {
		a, ok1 := next()
		b, ok2 := next()
		if !ok1 || !ok2 {
			return jpegFrame{}, errors.New("no frame header")
		}
		for a != 0xff { // extraneous data, skipped as Go does
			a = b
			if b, ok1 = next(); !ok1 {
				return jpegFrame{}, errors.New("no frame header")
			}
		}
		marker := b
		if marker == 0 {
			continue
		}
		for marker == 0xff {
			if marker, ok1 = next(); !ok1 {
				return jpegFrame{}, errors.New("no frame header")
			}
		}
		switch {
		case marker == 0xd9: // EOI
			return jpegFrame{}, errors.New("no frame header before the end")
		case marker >= 0xd0 && marker <= 0xd7: // RSTn: no length
			continue
		case marker == 0xda: // SOS before any SOF
			return jpegFrame{}, errors.New("scan before the frame header")
		}
		if i+2 > len(data) {
			return jpegFrame{}, errors.New("no frame header")
		}
		n := (int(data[i])<<8 | int(data[i+1])) - 2
		i += 2
		if n < 0 || i+n > len(data) {
			return jpegFrame{}, errors.New("segment runs past the end")
		}
		seg := data[i : i+n]
		i += n
		if marker != 0xc0 && marker != 0xc1 && marker != 0xc2 {
			continue
		}
		if n < 6 {
			return jpegFrame{}, errors.New("short frame header")
		}
		f := jpegFrame{
			height:      int(seg[1])<<8 | int(seg[2]),
			width:       int(seg[3])<<8 | int(seg[4]),
			nComp:       int(seg[5]),
			progressive: marker == 0xc2,
		}
		if f.nComp != 1 && f.nComp != 3 && f.nComp != 4 || n != 6+3*f.nComp {
			return jpegFrame{}, fmt.Errorf("frame header of %d bytes for %d components", n, f.nComp)
		}
		for c := 0; c < f.nComp; c++ {
			hv := seg[7+3*c]
			f.h[c], f.v[c] = int(hv>>4), int(hv&0x0f)
			if f.h[c] < 1 || f.h[c] > 4 || f.v[c] < 1 || f.v[c] > 4 {
				return jpegFrame{}, fmt.Errorf("sampling factors %#02x", hv)
			}
		}
		if f.nComp == 1 { // one component is never subsampled (Go does the same)
			f.h[0], f.v[0] = 1, 1
		}
		return f, nil
	}
}

// matFromImage converts a decoded image to a BGR Mat, writing straight
// into the Mat's memory: the only copy of the pixels besides the decoded
// image is the one returned.
func matFromImage(img image.Image) (gocv.Mat, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	mat := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	bgr, err := mat.DataPtrUint8()
	if err != nil || len(bgr) != 3*w*h {
		mat.Close()
		return gocv.Mat{}, fmt.Errorf("recognizer: image to Mat: %dx%d Mat of %d bytes: %v", w, h, len(bgr), err)
	}
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
		// One row at a time through RGBA (alpha premultiplied, as over
		// black), so the conversion needs 4 bytes a column, not a pixel.
		row := image.NewRGBA(image.Rect(0, 0, w, 1))
		for y := 0; y < h; y++ {
			draw.Draw(row, row.Rect, img, image.Pt(b.Min.X, b.Min.Y+y), draw.Src)
			out := bgr[3*y*w : 3*(y+1)*w]
			for x := 0; x < w; x++ {
				out[3*x], out[3*x+1], out[3*x+2] = row.Pix[4*x+2], row.Pix[4*x+1], row.Pix[4*x]
			}
		}
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
