package faces_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval/evaltest"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/notice"
	"github.com/gated-dev/gated/internal/store"
)

// counting is the real store, counting how often the templates are read.
type counting struct {
	*store.DB
	mu    sync.Mutex
	reads int
}

func (c *counting) ForEachTemplate(model string, fn func(store.Template) error) error {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.DB.ForEachTemplate(model, fn)
}

type fixture struct {
	st      *counting
	set     *faces.Set
	people  [][][]float32 // real dlib descriptors, one slice per person
	applied chan calibrate.Decision
	now     time.Time
}

func notices(lang string) (notice.Notice, error) {
	return notice.Render(notice.Facts{Gate: "test", Controller: "Acme", Contact: "office", Version: "1", Retention: 365 * 24 * time.Hour}, lang)
}

func setup(t *testing.T) *fixture {
	t.Helper()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), applied: make(chan calibrate.Decision, 16)}
	db, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{
		PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: func() time.Time { return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx.st = &counting{DB: db}
	set := evaltest.Idols(t)
	by := map[string][][]float32{}
	for i, l := range set.Labels {
		by[l] = append(by[l], set.Vectors[i])
	}
	for _, l := range set.People() {
		if len(by[l]) >= 4 {
			fx.people = append(fx.people, by[l])
		}
	}
	fx.set, err = faces.Open(faces.Config{
		Model: "dlib-resnet-v1", Dim: 128, Retention: 30 * 24 * time.Hour, Settle: time.Millisecond,
		Settings: calibrate.Settings{Calibrate: true, Target: 1e-4, Config: calibrate.Config{Seed: 1}},
		Apply:    func(d calibrate.Decision) { fx.applied <- d },
		Now:      func() time.Time { return fx.now },
	}, fx.st)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) resident(t *testing.T, name string) string {
	t.Helper()
	r, err := fx.st.AddResident("staff:test", store.Resident{Name: name, Unit: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (fx *fixture) consent(t *testing.T) store.Consent {
	t.Helper()
	c, err := faces.Consent(notices, faces.ConsentRequest{Method: "paper", RecordedBy: "staff:test", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (fx *fixture) matches(t *testing.T, id string, probe []float32) bool {
	t.Helper()
	d, ok, err := fx.set.Gallery().Distance(id, probe)
	if err != nil {
		t.Fatal(err)
	}
	return ok && d < 0.6
}

func TestEnrollThenDestroy(t *testing.T) {
	fx := setup(t)
	id := fx.resident(t, "a")
	vecs := fx.people[0][:3]
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), vecs); err != nil {
		t.Fatal(err)
	}
	if res, tmpl := fx.set.Len(); res != 1 || tmpl != 3 {
		t.Fatalf("after enrolling 3 templates: matcher holds %d residents, %d templates; want 1, 3", res, tmpl)
	}
	if !fx.matches(t, id, fx.people[0][3]) {
		t.Fatalf("an enrolled resident's other photo does not match")
	}
	rec, err := fx.set.Destroy("resident:"+id, id, "consent withdrawn", time.Time{})
	if err != nil || rec.Templates != 3 {
		t.Fatalf("Destroy = %+v, %v; want 3 templates destroyed", rec, err)
	}
	if fx.matches(t, id, fx.people[0][3]) {
		t.Errorf("a destroyed face still matches")
	}
	if has, _ := fx.st.HasFaceData(id); has {
		t.Errorf("the store still holds face data after Destroy")
	}
}

// A deletion the store refuses (the attack: an empty reason, or a
// request date in the future) must leave the matcher as it was: the face
// keeps working, and status keeps telling the truth.
func TestRefusedDeletionLeavesTheMatcher(t *testing.T) {
	fx := setup(t)
	id := fx.resident(t, "a")
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), fx.people[0][:3]); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		reason    string
		requested time.Time
	}{
		{"empty reason", "", time.Time{}},
		{"requested in the future", "x", fx.now.AddDate(73, 0, 0)},
	} {
		if _, err := fx.set.Destroy("staff:test", id, tt.reason, tt.requested); err == nil {
			t.Fatalf("%s: Destroy succeeded", tt.name)
		}
		if res, tmpl := fx.set.Len(); res != 1 || tmpl != 3 {
			t.Errorf("%s: after a refused deletion the matcher holds %d residents, %d templates; want 1, 3", tt.name, res, tmpl)
		}
		if !fx.matches(t, id, fx.people[0][3]) {
			t.Errorf("%s: after a refused deletion the face no longer matches", tt.name)
		}
		if has, _ := fx.st.HasFaceData(id); !has {
			t.Errorf("%s: the store lost the face data", tt.name)
		}
	}
	if _, err := fx.set.DeleteResident("staff:test", id, ""); err == nil {
		t.Fatalf("DeleteResident without a reason succeeded")
	}
	if res, _ := fx.set.Len(); res != 1 {
		t.Errorf("a refused resident deletion emptied the matcher")
	}
}

func TestEnrollRefusals(t *testing.T) {
	fx := setup(t)
	id := fx.resident(t, "a")
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), nil); !errors.Is(err, faces.ErrRequest) {
		t.Errorf("Enroll with no templates = %v, want ErrRequest", err)
	}
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), [][]float32{make([]float32, 512)}); !errors.Is(err, faces.ErrRequest) {
		t.Errorf("Enroll with a 512-number template into a 128 model = %v, want ErrRequest", err)
	}
	// The store refuses a second enrollment: the matcher keeps the first.
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), fx.people[0][:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), fx.people[1][:2]); !errors.Is(err, store.ErrAlreadyEnrolled) {
		t.Fatalf("second Enroll = %v, want ErrAlreadyEnrolled", err)
	}
	if got := fx.set.Gallery().Templates(id); len(got) != 2 || got[0][0] != fx.people[0][0][0] || got[1][0] != fx.people[0][1][0] {
		t.Errorf("a refused enrollment changed the matcher: it holds %d templates, not the first enrollment's", len(got))
	}
	if res, _ := fx.st.Stats(); res.Templates != 2 {
		t.Errorf("store holds %d templates, want 2", res.Templates)
	}
}

// Calibration measures the templates already in memory: after the first
// load, the store's templates are never decrypted again.
func TestCalibrationUsesMemory(t *testing.T) {
	fx := setup(t)
	for i := range 12 {
		id := fx.resident(t, "p")
		if _, err := fx.set.Enroll("staff:test", id, fx.consent(t), fx.people[i][:3]); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.set.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var d calibrate.Decision
	for d.Residents != 12 {
		select {
		case d = <-fx.applied:
		case <-time.After(30 * time.Second):
			t.Fatalf("no calibration over 12 residents within 30 s (last: %+v)", d)
		}
	}
	if d.Estimate == nil || d.Estimate.Templates != 36 {
		t.Errorf("calibration estimate = %+v, want one over 36 templates", d.Estimate)
	}
	if got := fx.set.Calibration(); got.Residents != 12 || got.At.IsZero() {
		t.Errorf("Calibration() = %+v, want the 12-resident decision", got)
	}
	fx.st.mu.Lock()
	reads := fx.st.reads
	fx.st.mu.Unlock()
	if reads != 1 {
		t.Errorf("the store's templates were read %d times, want once (the load)", reads)
	}
}

func TestPurgeExpiredConsent(t *testing.T) {
	fx := setup(t)
	old := fx.resident(t, "old")
	fresh := fx.resident(t, "fresh")
	if _, err := fx.set.Enroll("staff:test", old, fx.consent(t), fx.people[0][:2]); err != nil {
		t.Fatal(err)
	}
	fx.now = fx.now.AddDate(0, 0, 20)
	if _, err := fx.set.Enroll("staff:test", fresh, fx.consent(t), fx.people[1][:2]); err != nil {
		t.Fatal(err)
	}
	fx.now = fx.now.AddDate(0, 0, 15) // old: 35 days, past the 30-day retention; fresh: 15
	n, err := fx.set.Purge(fx.now)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	if fx.matches(t, old, fx.people[0][3]) {
		t.Errorf("expired face still matches")
	}
	if !fx.matches(t, fresh, fx.people[1][3]) {
		t.Errorf("a face within its retention was purged")
	}
	dels, _ := fx.st.Deletions()
	if len(dels) != 1 || dels[0].Actor != "system:retention" || dels[0].ResidentID != old {
		t.Errorf("deletion records = %+v, want one by system:retention for %s", dels, old)
	}
}

func TestConsentRequests(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   faces.ConsentRequest
		ok   bool
	}{
		{"paper", faces.ConsentRequest{Method: "paper", RecordedBy: "staff:x"}, true},
		{"device in English", faces.ConsentRequest{Method: "device", Language: "en"}, true},
		{"no method", faces.ConsentRequest{}, false},
		{"unknown language", faces.ConsentRequest{Method: "device", Language: "fr"}, false},
		{"stale notice", faces.ConsentRequest{Method: "paper", NoticeVersion: "0"}, false},
		{"guardian without relation", faces.ConsentRequest{Method: "paper", Guardian: &store.Guardian{Name: "M"}}, false},
	} {
		c, err := faces.Consent(notices, tt.in)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, faces.ErrRequest)) {
			t.Errorf("%s: Consent = %+v, %v; want ok=%v (ErrRequest otherwise)", tt.name, c, err, tt.ok)
		}
		if tt.ok && (c.NoticeVersion != "1" || c.NoticeSHA256 == [32]byte{}) {
			t.Errorf("%s: consent %+v does not name the notice", tt.name, c)
		}
	}
}
