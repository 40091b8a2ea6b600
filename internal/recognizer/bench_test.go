package recognizer_test

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"testing"
	"time"

	face "github.com/Kagami/go-face"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/recognizertest"
	"github.com/gated-dev/gated/internal/testenv"
)

// cameraFrame makes a 640x480 JPEG, as a USB camera sends in MJPEG mode,
// from a real photo with one face (jimin5.jpg, 1920x1080).
func cameraFrame(b *testing.B) []byte {
	b.Helper()
	m := recognizertest.Frame640x480(b)
	defer m.Close()
	img, err := m.ToImage()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkFrame640x480 is the per-frame cost at the gate: decode a
// 640x480 JPEG, find the face, compute its descriptor.
func BenchmarkFrame640x480(b *testing.B) {
	r := load(b)
	frame := cameraFrame(b)
	b.Run("decode+detect+descriptor", func(b *testing.B) {
		for b.Loop() {
			faces, err := r.FacesInImage(frame)
			if err != nil || len(faces) != 1 {
				b.Fatalf("faces = %d, %v", len(faces), err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			m, err := recognizer.DecodeImage(frame)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
	m, err := recognizer.DecodeImage(frame)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.Run("detect+descriptor (camera Mat)", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Faces(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDescriptorPerFace separates dlib's face detection from the
// descriptor network on the 10-face group photo: go-face's RecognizeSingle
// stops after detection when it finds more than one face, Recognize goes on
// to compute all ten descriptors.
func BenchmarkDescriptorPerFace(b *testing.B) {
	rec, err := face.NewRecognizer(testenv.Models(b) + "/dlib")
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	img := photo(b, "pristin.jpg")
	var detect, all time.Duration
	for b.Loop() {
		t0 := time.Now()
		if f, err := rec.RecognizeSingle(img); err != nil || f != nil {
			b.Fatalf("RecognizeSingle = %v, %v", f, err)
		}
		t1 := time.Now()
		faces, err := rec.Recognize(img)
		if err != nil || len(faces) != 10 {
			b.Fatalf("Recognize = %d faces, %v", len(faces), err)
		}
		detect += t1.Sub(t0)
		all += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(detect.Nanoseconds())/n/1e6, "ms/detect-2100x1040")
	b.ReportMetric(float64((all-detect).Nanoseconds())/n/10/1e6, "ms/descriptor")
}

// BenchmarkOneToN compares gated's matcher with go-face's own 1:N
// classifier (Recognizer.Classify, in dlib/C++) on the same gallery: three
// templates per person, distributed like the real idols.json descriptors.
func BenchmarkOneToN(b *testing.B) {
	set := evaltest.Idols(b)
	rec, err := face.NewRecognizer(testenv.Models(b) + "/dlib")
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	for _, n := range []int{1_000, 10_000, 100_000} {
		z, err := eval.NewSynthesizer(set, 42)
		if err != nil {
			b.Fatal(err)
		}
		g := match.New(128)
		samples := make([]face.Descriptor, 0, n)
		cats := make([]int32, 0, n)
		var probes []face.Descriptor
		for p := 0; len(samples) < n; p++ {
			c := z.Person()
			var ts [][]float32
			for k := 0; k < 3; k++ {
				v := z.Template(c)
				ts = append(ts, v)
				samples = append(samples, face.Descriptor(v))
				cats = append(cats, int32(p))
			}
			if err := g.Add(fmt.Sprint(p), ts...); err != nil {
				b.Fatal(err)
			}
			if len(probes) < 512 {
				probes = append(probes, face.Descriptor(z.Template(c)), face.Descriptor(z.Template(z.Person())))
			}
		}
		g.Reindex()
		rec.SetSamples(samples, cats)
		b.Run(fmt.Sprintf("templates=%d/impl=gated", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := g.Lookup(probes[i%len(probes)][:]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("templates=%d/impl=go-face-Classify", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				rec.Classify(probes[i%len(probes)])
				i++
			}
		})
	}
}
