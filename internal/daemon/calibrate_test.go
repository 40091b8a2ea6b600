package daemon

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/store"
)

type countingDoor struct {
	mu sync.Mutex
	n  int
}

func (c *countingDoor) Open(context.Context) error { c.mu.Lock(); c.n++; c.mu.Unlock(); return nil }

// idolsDaemon enrolls every second person of idols.json (real dlib
// descriptors of East Asian faces, 67 residents) in a real store, and wires
// a daemon's gate and calibration to it. It returns the daemon, a probe of
// a person never enrolled, and the door.
func idolsDaemon(t *testing.T, face config.Face) (*daemon, [][]float32, *countingDoor) {
	t.Helper()
	set := evaltest.Idols(t)
	set, _ = set.WithoutCrossLabelDuplicates(0.1)
	kek, _ := store.GenerateKEK()
	db, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	byLabel := map[string][][]float32{}
	for i, l := range set.Labels {
		byLabel[l] = append(byLabel[l], set.Vectors[i])
	}
	g := match.New(128)
	var strangers [][]float32
	for i, l := range set.People() {
		if i%2 == 1 {
			strangers = append(strangers, byLabel[l]...)
			continue
		}
		r, err := db.AddResident("test", store.Resident{Name: l, Unit: "1"})
		if err != nil {
			t.Fatal(err)
		}
		e := store.Enrollment{Consent: store.Consent{NoticeVersion: "1", NoticeSHA256: sha256.Sum256([]byte("n")), Language: "zh-CN", Method: store.ConsentAtDevice}}
		vs := byLabel[l][:min(3, len(byLabel[l]))]
		for _, v := range vs {
			e.Templates = append(e.Templates, store.Template{Model: "dlib-resnet-v1", Vector: v})
		}
		if _, err := db.Enroll("test", r.ID, e); err != nil {
			t.Fatal(err)
		}
		g.Add(r.ID, vs...)
	}
	g.Reindex()
	face.Enabled, face.Model, face.Frames = true, "dlib-resnet-v1", 1
	if face.Target == 0 {
		face.Target = 1e-4
	}
	d := &daemon{db: db, gallery: g, model: "dlib-resnet-v1", dim: 128, log: slog.New(slog.DiscardHandler),
		cfg: &config.Config{Face: face, Access: config.Access{Card: "card+pin"}}}
	d.calib.again = make(chan struct{}, 1)
	door := &countingDoor{}
	d.gate, err = gate.New(gate.Config{Face: true, Mode: gate.FaceIdentify, Frames: 1, CardNeedsPIN: true,
		Policy: match.Policy{Threshold: float32(face.Threshold), MinMargin: float32(face.Margin)}}, db, door, g)
	if err != nil {
		t.Fatal(err)
	}
	return d, strangers, door
}

// TestIdentificationRefusedWhenTheTargetIsMissed: with dlib on 67 East Asian
// residents, no threshold keeps a stranger's chance under 1 in 10,000 while
// admitting residents, so the daemon must not let a face alone open the
// door, whether it calibrates or was given a fixed threshold.
func TestIdentificationRefusedWhenTheTargetIsMissed(t *testing.T) {
	for _, tt := range []struct {
		name string
		face config.Face
	}{
		{"calibrated", config.Face{Calibrate: true, Threshold: 0.45, Margin: 0.05}},
		{"fixed threshold 0.45", config.Face{Calibrate: false, Threshold: 0.45, Margin: 0.05}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, strangers, door := idolsDaemon(t, tt.face)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go d.gate.Run(ctx)
			if m, _ := d.gate.FaceMode(); m != gate.FaceIdentify {
				t.Fatalf("before calibration the test gate identifies, got %v", m)
			}
			d.recalibrate()
			mode, _ := d.gate.FaceMode()
			st := d.calibrationState()
			if mode == gate.FaceIdentify || st.Mode == "identify" {
				t.Fatalf("mode = %v (%s); identification must be refused", mode, st.Reason)
			}
			t.Logf("mode %s: %s", st.Mode, st.Reason)
			if st.Residents != 67 || st.Reason == "" {
				t.Errorf("calibration state %+v", st)
			}
			// Every stranger's face, alone: the door stays shut.
			for _, v := range strangers {
				if dec, err := d.gate.Face(ctx, gate.Observation{Time: time.Now(), Face: v}); err != nil || (dec != nil && dec.Outcome == gate.Granted) {
					t.Fatalf("a stranger's face alone decided %+v, %v", dec, err)
				}
				d.gate.Face(ctx, gate.Observation{Time: time.Now()})
			}
			time.Sleep(50 * time.Millisecond)
			door.mu.Lock()
			defer door.mu.Unlock()
			if door.n != 0 {
				t.Errorf("the door opened %d times for %d stranger faces", door.n, len(strangers))
			}
		})
	}
}

func TestTooFewResidentsToCalibrate(t *testing.T) {
	d, _, _ := idolsDaemon(t, config.Face{Calibrate: true, Threshold: 0.4, Margin: 0.05})
	// Keep 5 residents only.
	var ids []string
	d.db.ForEachResident(func(r store.Resident) error { ids = append(ids, r.ID); return nil })
	for _, id := range ids[5:] {
		if _, err := d.db.DestroyFaceData("test", id, "shrink"); err != nil {
			t.Fatal(err)
		}
	}
	d.recalibrate()
	if m, _ := d.gate.FaceMode(); m != gate.FaceOff {
		t.Errorf("calibrated gate with 5 residents: mode %v, want off", m)
	}
	// Uncalibrated, a small gallery identifies at the configured threshold,
	// and says so.
	d.cfg.Face.Calibrate = false
	d.recalibrate()
	if m, _ := d.gate.FaceMode(); m != gate.FaceIdentify || d.calibrationState().Reason[:14] != "NOT CALIBRATED" {
		t.Errorf("uncalibrated small gallery: mode %v, reason %q", m, d.calibrationState().Reason)
	}
}

// TestTemplatesNeverMixModels: after face.model changes, the old model's
// templates stay out of the gallery (a 128-d dlib template is never matched
// against another network's descriptors), the residents are counted as
// needing to enroll again, and a calibrated gate does not use faces.
func TestTemplatesNeverMixModels(t *testing.T) {
	d, _, _ := idolsDaemon(t, config.Face{Calibrate: true, Threshold: 0.4, Margin: 0.05})
	d.model, d.dim = "faceplugin-fr-feature-0.0.1", 512
	if err := d.loadGallery(); err != nil {
		t.Fatal(err)
	}
	if res, tmpl := d.gallery.Len(); res != 0 || tmpl != 0 {
		t.Errorf("gallery of the new model holds %d residents, %d templates of the old one", res, tmpl)
	}
	if n := d.otherModel(0); n != 67 {
		t.Errorf("otherModel = %d, want the 67 residents enrolled with dlib", n)
	}
	d.recalibrate()
	if m, _ := d.gate.FaceMode(); m != gate.FaceOff {
		t.Errorf("mode with no template of the current model = %v, want off", m)
	}
	// Back on dlib, the same residents are all there.
	d.model, d.dim = "dlib-resnet-v1", 128
	if err := d.loadGallery(); err != nil {
		t.Fatal(err)
	}
	if res, _ := d.gallery.Len(); res != 67 || d.otherModel(res) != 0 {
		t.Errorf("dlib gallery: %d residents, %d of another model", res, d.otherModel(res))
	}
}
