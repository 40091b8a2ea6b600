package faces_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

type countingDoor struct {
	mu sync.Mutex
	n  int
}

func (c *countingDoor) Open(context.Context) error { c.mu.Lock(); c.n++; c.mu.Unlock(); return nil }

// idolsGate enrolls every second person of idols.json (real dlib
// descriptors of East Asian faces, 67 residents) in a real store, and wires
// a Set and a gate to it as the daemon does. It returns them, the store,
// and faces of the people never enrolled.
func idolsGate(t *testing.T, s calibrate.Settings) (*faces.Set, *gate.Gate, *store.DB, [][]float32, *countingDoor) {
	t.Helper()
	set := evaltest.DistinctIdols(t)
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
		for _, v := range byLabel[l][:min(3, len(byLabel[l]))] {
			e.Templates = append(e.Templates, store.Template{Model: "dlib-resnet-v1", Vector: v})
		}
		if _, err := db.Enroll("test", r.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	door := &countingDoor{}
	var g *gate.Gate
	fs, err := faces.Open(faces.Config{Model: "dlib-resnet-v1", Dim: 128, Settings: s,
		Apply: func(d calibrate.Decision) {
			if err := g.SetFace(d.Mode, d.Policy); err != nil {
				t.Errorf("SetFace(%v, %+v) = %v", d.Mode, d.Policy, err)
			}
		}}, db)
	if err != nil {
		t.Fatal(err)
	}
	// The test gate identifies until its first calibration, to show that
	// calibration takes identification away.
	g, err = gate.New(gate.Config{Face: true, Mode: calibrate.Identify, Frames: 1, CardNeedsPIN: true, Policy: s.Fixed}, db, door, fs.Gallery())
	if err != nil {
		t.Fatal(err)
	}
	return fs, g, db, strangers, door
}

// TestIdentificationRefusedWhenTheTargetIsMissed: with dlib on 67 East
// Asian residents, no threshold keeps a stranger's chance under 1 in 10,000
// while admitting residents, so a face alone must never open the door,
// whether the gate calibrates or was given a fixed threshold.
func TestIdentificationRefusedWhenTheTargetIsMissed(t *testing.T) {
	fixed := match.Policy{Threshold: 0.45, MinMargin: 0.05}
	for _, tt := range []struct {
		name string
		s    calibrate.Settings
	}{
		{"calibrated", calibrate.Settings{Calibrate: true, Target: 1e-4, Fixed: fixed}},
		{"fixed threshold 0.45", calibrate.Settings{Calibrate: false, Target: 1e-4, Fixed: fixed}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs, g, _, strangers, door := idolsGate(t, tt.s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go g.Run(ctx)
			dec := fs.Recalibrate()
			if mode, _ := g.FaceMode(); mode == calibrate.Identify || dec.Mode == calibrate.Identify {
				t.Fatalf("mode = %v (%s); identification must be refused", mode, dec.Reason)
			}
			t.Logf("mode %s: %s", dec.Mode, dec.Reason)
			if dec.Residents != 67 || dec.Reason == "" {
				t.Errorf("decision %+v", dec)
			}
			// Every stranger's face, alone: the door stays shut.
			for _, v := range strangers {
				if dec, err := g.Face(ctx, gate.Observation{Time: time.Now(), Face: v}); err != nil || (dec != nil && dec.Outcome == gate.Granted) {
					t.Fatalf("a stranger's face alone decided %+v, %v", dec, err)
				}
				g.Face(ctx, gate.Observation{Time: time.Now()})
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
	fixed := match.Policy{Threshold: 0.4, MinMargin: 0.05}
	fs, g, db, _, _ := idolsGate(t, calibrate.Settings{Calibrate: true, Target: 1e-4, Fixed: fixed})
	// Keep 5 residents only.
	var ids []string
	db.ForEachResident(func(r store.Resident) error { ids = append(ids, r.ID); return nil })
	for _, id := range ids[5:] {
		if _, err := fs.Destroy("test", id, "shrink", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	fs.Recalibrate()
	if m, _ := g.FaceMode(); m != calibrate.Off {
		t.Errorf("calibrated gate with 5 residents: mode %v, want off", m)
	}
	// Uncalibrated, a small gallery identifies at the configured threshold,
	// and says so.
	dec := calibrate.Decide(fs.Gallery().Snapshot(), calibrate.Settings{Calibrate: false, Target: 1e-4, Fixed: fixed})
	if dec.Mode != calibrate.Identify || !strings.HasPrefix(dec.Reason, "NOT CALIBRATED") {
		t.Errorf("uncalibrated small gallery: mode %v, reason %q", dec.Mode, dec.Reason)
	}
}

// TestTemplatesNeverMixModels: after face.model changes, the old model's
// templates stay out of the matcher (a 128-d dlib template is never matched
// against another network's descriptors), and a calibrated gate does not
// use faces.
func TestTemplatesNeverMixModels(t *testing.T) {
	_, _, db, _, _ := idolsGate(t, calibrate.Settings{Calibrate: true, Target: 1e-4, Fixed: match.Policy{Threshold: 0.4}})
	other, err := faces.Open(faces.Config{Model: "faceplugin-fr-feature-0.0.1", Dim: 512, Settings: calibrate.Settings{Calibrate: true, Target: 1e-4}}, db)
	if err != nil {
		t.Fatal(err)
	}
	if res, tmpl := other.Len(); res != 0 || tmpl != 0 {
		t.Errorf("matcher of the new model holds %d residents, %d templates of the old one", res, tmpl)
	}
	if ss, _ := db.Stats(); ss.ResidentsWithFace != 67 {
		t.Errorf("the store holds %d residents with face data, want the 67 enrolled with dlib", ss.ResidentsWithFace)
	}
	if d := other.Recalibrate(); d.Mode != calibrate.Off {
		t.Errorf("mode with no template of the current model = %v, want off", d.Mode)
	}
	// Back on dlib, the same residents are all there.
	dlib, err := faces.Open(faces.Config{Model: "dlib-resnet-v1", Dim: 128}, db)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := dlib.Len(); res != 67 {
		t.Errorf("dlib matcher: %d residents, want 67", res)
	}
}

// TestPurgeMeetsTheDeadline enrolls residents at different times with a
// clock the test controls, then purges: expired and withdrawn face data
// goes, within the legal deadline counted from when it became due,
// templates and all; fresh consent keeps its data.
func TestPurgeMeetsTheDeadline(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := now
	path := filepath.Join(t.TempDir(), "gated.db")
	kek, _ := store.GenerateKEK()
	db, err := store.Open(path, kek, store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vec := func(x float32) []float32 {
		v := make([]float32, 128)
		for i := range v {
			v[i] = x + float32(i)/1000
		}
		return v
	}
	enroll := func(name string, at time.Time, x float32) string {
		clock = at
		r, err := db.AddResident("test", store.Resident{Name: name, Unit: "1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Enroll("test", r.ID, store.Enrollment{
			Consent:   store.Consent{NoticeVersion: "1", NoticeSHA256: sha256.Sum256([]byte("n")), Language: "zh-CN", Method: store.ConsentAtDevice},
			Templates: []store.Template{{Model: "dlib-resnet-v1", Vector: vec(x)}, {Model: "dlib-resnet-v1", Vector: vec(x + 0.5)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	year := 365 * 24 * time.Hour
	old := enroll("expired", now.Add(-year-3*24*time.Hour), 0.1)   // consent ended 3 days ago
	fresh := enroll("fresh", now.AddDate(0, -1, 0), 0.2)           // a month old
	renewed := enroll("renewed", now.Add(-year-24*time.Hour), 0.3) // ended yesterday...
	clock = now.AddDate(0, 0, -2)                                  // ...but renewed 2 days ago
	if _, err := db.Reconsent("test", renewed, store.Consent{NoticeVersion: "2", NoticeSHA256: sha256.Sum256([]byte("n2")), Language: "zh-CN", Method: store.ConsentAtDevice}); err != nil {
		t.Fatal(err)
	}
	clock = now
	sealedBefore := readTemplates(t, db, old)

	fs, err := faces.Open(faces.Config{Model: "dlib-resnet-v1", Dim: 128, Retention: year, Now: func() time.Time { return clock }}, db)
	if err != nil {
		t.Fatal(err)
	}
	n, err := fs.Purge(now)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 resident purged", n, err)
	}
	for id, want := range map[string]bool{old: false, fresh: true, renewed: true} {
		if has, _ := db.HasFaceData(id); has != want {
			t.Errorf("%s: face data held = %v, want %v", id, has, want)
		}
	}
	if _, ok, _ := fs.Gallery().Distance(old, vec(0.1)); ok {
		t.Errorf("the purged resident is still in the matcher")
	}
	dels, _ := db.Deletions()
	if len(dels) != 1 {
		t.Fatalf("deletions = %+v", dels)
	}
	rec := dels[0]
	due := now.Add(-3 * 24 * time.Hour).Truncate(time.Second)
	deadline := retention.Weekdays(time.UTC).Deadline(rec.RequestedAt, retention.LegalWorkingDays)
	if !rec.RequestedAt.Truncate(time.Second).Equal(due) || rec.At.After(deadline) || rec.Actor != "system:retention" {
		t.Errorf("deletion record %+v: want requested at %v (when the consent ended), done by %v", rec, due, deadline)
	}
	// Nothing of the sealed templates is left in the file.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sealedBefore {
		if bytes.Contains(raw, s) {
			t.Fatalf("a purged template's sealed bytes are still in the file")
		}
	}
	// A second purge finds nothing more to do.
	if n, err := fs.Purge(now); n != 0 || err != nil {
		t.Errorf("second purge = %d, %v", n, err)
	}
}

// readTemplates returns the resident's sealed template values as stored.
func readTemplates(t *testing.T, db *store.DB, id string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	// The sealed values follow their keys "<resident>/t-..." in bbolt's
	// leaf pages; take 64 bytes after each key as a fingerprint.
	var out [][]byte
	key := []byte(id + "/t-")
	for i := 0; ; {
		j := bytes.Index(raw[i:], key)
		if j < 0 {
			break
		}
		start := i + j + len(key) + 12
		if start+64 <= len(raw) {
			out = append(out, bytes.Clone(raw[start:start+64]))
		}
		i = start
	}
	if len(out) == 0 {
		t.Fatalf("found no template of %s in the file", id)
	}
	return out
}
