package recognizer_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/testenv"
)

// decodeChildEnv names the image file a child process of this test binary
// decodes once, reporting its peak resident memory (see peakRSS).
const decodeChildEnv = "GATED_RECOGNIZER_DECODE_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(decodeChildEnv); path != "" {
		os.Exit(decodeChild(path))
	}
	os.Exit(m.Run())
}

// childReport is what a decode child prints: its peak RSS (VmHWM) before
// and after decoding, and what DecodeImage returned.
type childReport struct {
	BeforeKB, AfterKB int64
	Result            string
}

func decodeChild(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "decode child:", err)
		return 2
	}
	var rep childReport
	if rep.BeforeKB, err = vmHWM(); err != nil {
		fmt.Fprintln(os.Stderr, "decode child:", err)
		return 2
	}
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		rep.Result = "error: " + err.Error()
	} else {
		rep.Result = fmt.Sprintf("ok %dx%d", m.Cols(), m.Rows())
		m.Close()
	}
	if rep.AfterKB, err = vmHWM(); err != nil {
		fmt.Fprintln(os.Stderr, "decode child:", err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// vmHWM reads this process's peak resident set size, in KiB.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// peakRSS decodes data once in a fresh child process (this test binary)
// and returns how much its peak resident memory rose, in MiB, and what
// DecodeImage said.
func peakRSS(tb testing.TB, data []byte) (riseMiB float64, result string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "image")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), decodeChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("decode child: %v", err)
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		tb.Fatalf("decode child said %q: %v", out, err)
	}
	return float64(rep.AfterKB-rep.BeforeKB) / 1024, rep.Result
}

// pngHeader and pngBomb: testenv's, which cmd/gated's end-to-end bomb
// test shares.
var pngHeader = testenv.PNGHeader

func pngBomb(_ testing.TB, w, h int, interlace byte) []byte {
	return testenv.PNGBomb(w, h, interlace)
}

var (
	bombOnce sync.Once
	bomb     []byte
)

// issueBomb is the 7000x7000 16-bit PNG bomb (49 MP, under the old 50 MP
// limit), made once per test binary.
func issueBomb(tb testing.TB) []byte {
	tb.Helper()
	bombOnce.Do(func() { bomb = pngBomb(tb, 7000, 7000, 0) })
	return bomb
}

// syntheticPhoto is a w x h photo-like image (gradients and noise, so it
// compresses like a photo rather than a flat test card).
func syntheticPhoto(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(rng.UintN(24))
			o := img.PixOffset(x, y)
			img.Pix[o+0] = uint8(x*200/w) + n
			img.Pix[o+1] = uint8(y*200/h) + n
			img.Pix[o+2] = uint8((x+y)*100/(w+h)) + n
			img.Pix[o+3] = 255
		}
	}
	return img
}

func encodeJPEG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkDecodeImage measures decoding the images staff upload: a 12 MP
// phone-sized JPEG, a real 10.7 MP progressive JPEG, a 12 MP PNG, the PNG
// bomb of issue 12, and the worst case the limits accept. Besides time and Go allocations per decode it reports
// peak-RSS-MiB: how much the peak resident memory of a fresh process rose
// while decoding the image once (Go heap and OpenCV's C heap together).
func BenchmarkDecodeImage(b *testing.B) {
	real, err := os.ReadFile(filepath.Join(testenv.SharedData(b, "faces/images"), "chaeyeon.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	photo12 := syntheticPhoto(4000, 3000)
	cases := []struct {
		name string
		data []byte
	}{
		{"jpeg-4000x3000", encodeJPEG(b, photo12)},
		{"jpeg-real-2667x4000", real},
		{"png-4000x3000", encodePNG(b, photo12)},
		{"png-bomb-7000x7000x16bit", issueBomb(b)},
		// The most memory an accepted image may take: 25 MP of 16-bit RGBA.
		{"png-largest-accepted-5000x5000x16bit", pngBomb(b, 5000, 5000, 0)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rise, result := peakRSS(b, c.data)
			b.Logf("%s (%d bytes): %s, peak RSS +%.0f MiB", c.name, len(c.data), result, rise)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				m, err := recognizer.DecodeImage(c.data)
				if err == nil {
					m.Close()
				}
			}
			b.ReportMetric(rise, "peak-RSS-MiB")
		})
	}
}

// jpegHeader is the start of a JPEG up to its first scan header, with no
// tables and no scan data: enough for image.DecodeConfig, and a decoder
// bomb when it declares a large progressive frame. sof is 0xc0 (baseline)
// or 0xc2 (progressive); hv holds each component's sampling factors.
func jpegHeader(sof byte, w, h int, hv ...byte) []byte {
	b := []byte{0xff, 0xd8, 0xff, sof, 0, byte(8 + 3*len(hv)), 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(hv))}
	for i, f := range hv {
		b = append(b, byte(i+1), f, 0)
	}
	return append(b, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0)
}

// allocated returns the bytes Go allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeRefusesBombsBeforeDecoding replays issue 12's PNG bomb (a
// 380 KB file declaring 7000x7000 16-bit pixels, which took the daemon from
// 127 MB to 879 MB) and bombs that stay under the pixel limit but would
// still take too much memory to decode. Each must be refused from its
// header, with a message naming its size and the limit, before a pixel is
// allocated.
func TestDecodeRefusesBombsBeforeDecoding(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"issue 12 PNG bomb, 7000x7000 16-bit", issueBomb(t), []string{"7000x7000", "49.0 megapixels", "25 megapixels allowed"}},
		{"PNG header of 100000x100000", pngHeader(100000, 100000, 0).Bytes(), []string{"100000x100000", "25 megapixels allowed"}},
		{"interlaced 16-bit PNG, 4000x4000", pngBomb(t, 4000, 4000, 1), []string{"4000x4000 png", "245 MiB", "192 MiB allowed"}},
		{"progressive 4:4:4 JPEG, 5000x5000", jpegHeader(0xc2, 5000, 5000, 0x11, 0x11, 0x11), []string{"5000x5000 jpeg", "454 MiB", "192 MiB allowed"}},
		{"progressive CMYK JPEG, 3000x3000", jpegHeader(0xc2, 3000, 3000, 0x11, 0x11, 0x11, 0x11), []string{"3000x3000 jpeg", "207 MiB"}},
		{"baseline JPEG of 65535x65535", jpegHeader(0xc0, 65535, 65535, 0x22, 0x11, 0x11), []string{"65535x65535", "4294.8 megapixels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			alloc := allocated(func() {
				var m gocv.Mat
				if m, err = recognizer.DecodeImage(tt.data); err == nil {
					m.Close()
				}
			})
			if !errors.Is(err, recognizer.ErrImage) {
				t.Fatalf("DecodeImage(%d-byte bomb) = %v, want an ErrImage", len(tt.data), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("DecodeImage error %q does not say %q", err, w)
				}
			}
			if alloc > 1<<20 {
				t.Errorf("refusing the bomb allocated %d bytes, want under 1 MiB: it was refused after decoding began", alloc)
			}
		})
	}
}

// TestDecodeLimitsAdmitPhotos checks the limits from the other side: the
// largest images allowed pass the header checks (these headers carry no
// scan data, so decoding then fails, with a decoding error, not a size
// error), and a 12-megapixel photo decodes.
func TestDecodeLimitsAdmitPhotos(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"baseline 4:2:0 JPEG, 5000x5000", jpegHeader(0xc0, 5000, 5000, 0x22, 0x11, 0x11)},
		{"baseline 4:4:4 JPEG, 6000x4000", jpegHeader(0xc0, 6000, 4000, 0x11, 0x11, 0x11)},
		{"progressive 4:2:0 JPEG, 4000x3000", jpegHeader(0xc2, 4000, 3000, 0x22, 0x11, 0x11)},
		{"progressive grey JPEG, 5000x5000", jpegHeader(0xc2, 5000, 5000, 0x11)},
		{"16-bit PNG, 5000x5000", pngHeader(5000, 5000, 0).Bytes()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := recognizer.DecodeImage(tt.data)
			if err == nil || strings.Contains(err.Error(), "allowed") {
				t.Errorf("DecodeImage(header only) = %v, want a decoding error, not a size error", err)
			}
		})
	}
	if _, err := recognizer.DecodeImage(jpegHeader(0xc0, 5001, 5000, 0x22, 0x11, 0x11)); err == nil || !strings.Contains(err.Error(), "25 megapixels allowed") {
		t.Errorf("DecodeImage(5001x5000 JPEG) = %v, want refused as more than 25 megapixels", err)
	}
	m, err := recognizer.DecodeImage(encodeJPEG(t, syntheticPhoto(4000, 3000)))
	if err != nil {
		t.Fatalf("DecodeImage(12 MP JPEG) = %v", err)
	}
	defer m.Close()
	if m.Cols() != 4000 || m.Rows() != 3000 || m.Type() != gocv.MatTypeCV8UC3 {
		t.Errorf("DecodeImage(12 MP JPEG) = %v %dx%d, want CV8UC3 4000x3000", m.Type(), m.Cols(), m.Rows())
	}
}

// TestDecodeImageLayouts checks the pixels of every layout Go's decoders
// return, written straight into the Mat: colour and grey JPEG; RGBA,
// NRGBA with alpha (composited over black), paletted, 16-bit grey and
// 16-bit colour PNG.
func TestDecodeImageLayouts(t *testing.T) {
	const w, h = 37, 23 // odd sizes catch stride and subsampling slips
	at := func(x, y int) color.NRGBA {
		return color.NRGBA{uint8(7 * x), uint8(11 * y), uint8(3*x + 5*y), 255}
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.NRGBA{10, 20, 30, 255}, color.NRGBA{200, 150, 100, 255}})
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := at(x, y)
			rgba.Set(x, y, c)
			half := c
			half.A = 128
			nrgba.Set(x, y, half)
			gray.SetGray(x, y, color.Gray{c.R})
			gray16.SetGray16(x, y, color.Gray16{uint16(c.R) * 0x101})
			rgba64.Set(x, y, c)
			pal.SetColorIndex(x, y, uint8((x+y)%2))
		}
	}
	// want is the BGR value of pixel (x, y) and the tolerance for lossy JPEG.
	type want func(x, y int) (b, g, r uint8)
	colour := func(x, y int) (uint8, uint8, uint8) { c := at(x, y); return c.B, c.G, c.R }
	grey := func(x, y int) (uint8, uint8, uint8) { c := at(x, y); return c.R, c.R, c.R }
	halfc := func(x, y int) (uint8, uint8, uint8) {
		c := color.RGBAModel.Convert(color.NRGBA{at(x, y).R, at(x, y).G, at(x, y).B, 128}).(color.RGBA)
		return c.B, c.G, c.R
	}
	palc := func(x, y int) (uint8, uint8, uint8) {
		if (x+y)%2 == 0 {
			return 30, 20, 10
		}
		return 100, 150, 200
	}
	for _, tt := range []struct {
		name string
		data []byte
		want want
		tol  int
	}{
		{"JPEG colour", encodeJPEG(t, rgba), colour, 40},
		{"JPEG grey", encodeJPEG(t, gray), grey, 12},
		{"PNG RGBA", encodePNG(t, rgba), colour, 0},
		{"PNG NRGBA half transparent", encodePNG(t, nrgba), halfc, 1},
		{"PNG paletted", encodePNG(t, pal), palc, 0},
		{"PNG 16-bit grey", encodePNG(t, gray16), grey, 0},
		{"PNG 16-bit colour", encodePNG(t, rgba64), colour, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := recognizer.DecodeImage(tt.data)
			if err != nil {
				t.Fatalf("DecodeImage = %v", err)
			}
			defer m.Close()
			if m.Cols() != w || m.Rows() != h || m.Type() != gocv.MatTypeCV8UC3 {
				t.Fatalf("DecodeImage = %v %dx%d, want CV8UC3 %dx%d", m.Type(), m.Cols(), m.Rows(), w, h)
			}
			bad := 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					v := m.GetVecbAt(y, x)
					b, g, r := tt.want(x, y)
					for i, c := range []uint8{b, g, r} {
						if d := int(v[i]) - int(c); d > tt.tol || d < -tt.tol {
							if bad++; bad <= 3 {
								t.Errorf("pixel (%d,%d) channel %d = %d, want %d±%d", x, y, i, v[i], c, tt.tol)
							}
						}
					}
				}
			}
		})
	}
}

// TestDecodeCostBoundsAllocations checks the estimate the limits rest on:
// for every layout, what Go's decoder really allocates is at most what
// DecodeCost predicted from the header.
func TestDecodeCostBoundsAllocations(t *testing.T) {
	real, err := os.ReadFile(filepath.Join(testenv.SharedData(t, "faces/images"), "chaeyeon.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	photo := syntheticPhoto(640, 480)
	grey := image.NewGray(photo.Rect)
	nrgba := image.NewNRGBA(photo.Rect)
	pal := image.NewPaletted(photo.Rect, color.Palette{color.Black, color.White})
	for i := range grey.Pix {
		grey.Pix[i] = photo.Pix[4*i]
		pal.Pix[i] = photo.Pix[4*i] & 1
		copy(nrgba.Pix[4*i:4*i+3], photo.Pix[4*i:4*i+3])
		nrgba.Pix[4*i+3] = 200
	}
	for _, tt := range []struct {
		name, format string
		data         []byte
	}{
		{"JPEG 4:2:0 baseline", "jpeg", encodeJPEG(t, photo)},
		{"JPEG grey", "jpeg", encodeJPEG(t, grey)},
		{"JPEG 4:2:0 progressive (real photo, 2667x4000)", "jpeg", real},
		{"PNG RGB", "png", encodePNG(t, photo)},
		{"PNG NRGBA", "png", encodePNG(t, nrgba)},
		{"PNG grey", "png", encodePNG(t, grey)},
		{"PNG paletted", "png", encodePNG(t, pal)},
		{"PNG 16-bit", "png", pngBomb(t, 640, 480, 0)},
		{"PNG 16-bit interlaced", "png", pngBomb(t, 640, 480, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cost, err := recognizer.DecodeCost(tt.data, tt.format)
			if err != nil {
				t.Fatalf("DecodeCost = %v", err)
			}
			var derr error
			got := allocated(func() {
				if tt.format == "jpeg" {
					_, derr = jpeg.Decode(bytes.NewReader(tt.data))
				} else {
					_, derr = png.Decode(bytes.NewReader(tt.data))
				}
			})
			if derr != nil {
				t.Fatalf("decode: %v", derr)
			}
			if int64(got) > cost {
				t.Errorf("decoding allocated %d bytes, more than DecodeCost's bound %d", got, cost)
			}
			t.Logf("allocated %d bytes, bound %d (%.2fx)", got, cost, float64(cost)/float64(got))
		})
	}
}
