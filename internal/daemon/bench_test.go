package daemon

import (
	"bytes"
	"context"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/door"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/internal/testenv"
)

// BenchmarkFrameToRelay measures the gate's reaction time: from a camera
// frame (a 640x480 BGR image, as V4L2 delivers it) of a recognised resident
// to the relay board receiving the open command over a serial line. The
// gate decides on one frame here (face.frames = 1); with frames = N the
// door opens N-1 frame intervals later. Run with -benchtime=100x or more.
// One sub-benchmark per detector and model: detector+model.
func BenchmarkFrameToRelay(b *testing.B) {
	for _, c := range []struct{ det, model string }{
		{"hog", facemodel.Dlib}, {"yunet", facemodel.Dlib},
		{"hog", facemodel.FeatureNet}, {"yunet", facemodel.FeatureNet},
	} {
		b.Run(c.det+"+"+c.model, func(b *testing.B) { benchFrameToRelay(b, c.det, c.model) })
	}
}

func benchFrameToRelay(b *testing.B, det, model string) {
	photos := testenv.DemoPhotos(b)
	rec, err := facemodel.Open(facemodel.Config{Name: model, Dir: testenv.Models(b), Detector: det})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	face := func(name string, size image.Point) gocv.Mat {
		data, err := os.ReadFile(filepath.Join(photos, name))
		if err != nil {
			b.Fatal(err)
		}
		m, err := recognizer.DecodeImage(data)
		if err != nil {
			b.Fatal(err)
		}
		if size == (image.Point{}) {
			return m
		}
		defer m.Close()
		// Scale the portrait to the frame's height and place it in the
		// middle of a grey frame, as a camera sees a person at the gate.
		w := m.Cols() * size.Y / m.Rows()
		scaled := gocv.NewMat()
		defer scaled.Close()
		gocv.Resize(m, &scaled, image.Pt(w, size.Y), 0, 0, gocv.InterpolationArea)
		out := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), size.Y, size.X, gocv.MatTypeCV8UC3)
		x := (size.X - w) / 2
		roi := out.Region(image.Rect(x, 0, x+w, size.Y))
		scaled.CopyTo(&roi)
		roi.Close()
		return out
	}
	kek, _ := store.GenerateKEK()
	db, err := store.Open(filepath.Join(b.TempDir(), "gated.db"), kek, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	res, err := db.AddResident("bench", store.Resident{Name: "Obama", Unit: "1"})
	if err != nil {
		b.Fatal(err)
	}
	// The lookup is under 0.1 ms even with 10,000 residents
	// (docs/performance.md), so one enrolled resident measures the rest.
	g := match.New(rec.Dim)
	for _, p := range []string{"obama.jpg", "obama2.jpg"} {
		m := face(p, image.Point{})
		fs, err := rec.Faces(m)
		m.Close()
		if err != nil || len(fs) != 1 {
			b.Fatalf("%s: %d faces, %v", p, len(fs), err)
		}
		g.Add(res.ID, fs[0].Descriptor)
	}

	pair := serialtest.New(b)
	peer := pair.OpenPeer(100 * time.Millisecond)
	dr, err := door.Open(config.Relay{Type: "lcus", Device: pair.Device, Baud: 9600, Channel: 1, Mode: "fail-secure", Pulse: config.Duration{Duration: 100 * time.Millisecond}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dr.Close()
	// dlib's usual threshold; fr-feature's distances are on another scale
	// (docs/accuracy.md).
	threshold := float32(0.45)
	if rec.Unit {
		threshold = 1.0
	}
	frame := face("obama3.jpg", image.Pt(640, 480))
	defer frame.Close()
	if fs, err := rec.Faces(frame); err != nil || len(fs) != 1 {
		b.Fatalf("the 640x480 frame has %d faces, %v", len(fs), err)
	} else if r, _ := g.Lookup(fs[0].Descriptor); r.Resident != res.ID || r.Distance >= threshold {
		b.Fatalf("the frame's face: %+v, want the resident under %.2f", r, threshold)
	}
	gt, err := gate.New(gate.Config{Face: true, Mode: calibrate.Identify, Policy: match.Policy{Threshold: threshold, MinMargin: 0.05}, Frames: 1, Cooldown: time.Nanosecond}, db, dr, g)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go gt.Run(ctx)
	d := &daemon{rec: rec, gate: gt, log: discard(), cfg: &config.Config{}} // PAD, challenge and NIR off

	on, off := []byte{0xA0, 0x01, 0x01, 0xA2}, []byte{0xA0, 0x01, 0x00, 0xA1}
	waitFor := func(want []byte) {
		var got []byte
		buf := make([]byte, 16)
		deadline := time.Now().Add(5 * time.Second)
		for !bytes.Contains(got, want) {
			if time.Now().After(deadline) {
				b.Fatalf("relay never got % X (got % X)", want, got)
			}
			n, _ := peer.Read(buf)
			got = append(got, buf[:n]...)
		}
	}
	var lat []time.Duration
	for b.Loop() {
		fr := camera.Frame{Mat: frame.Clone(), Time: time.Now()}
		start := time.Now()
		d.frame(ctx, fr)
		waitFor(on)
		lat = append(lat, time.Since(start))
		b.StopTimer()
		waitFor(off)                      // the pulse ends and the door locks
		time.Sleep(20 * time.Millisecond) // the door worker is free again
		// A frame without a face ends the visit, as the next camera frame would.
		d.frame(ctx, camera.Frame{Mat: gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3), Time: time.Now()})
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "ms-p99")
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
