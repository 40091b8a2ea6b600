package daemon

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// TestPurgeMeetsTheDeadline enrolls residents at different times with a
// clock the test controls, then runs the daemon's purge: expired and
// withdrawn face data goes, within the legal deadline counted from when it
// became due, templates and all; fresh consent keeps its data.
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

	g := match.New(128)
	for _, id := range []string{old, fresh, renewed} {
		ts, _ := db.Templates(id)
		for _, tp := range ts {
			g.Add(id, tp.Vector)
		}
	}
	d := &daemon{db: db, gallery: g, cal: retention.Weekdays(time.UTC), log: slog.New(slog.DiscardHandler),
		cfg: &config.Config{Privacy: config.Privacy{Retention: config.Duration{Duration: year}}}}
	n, err := d.purge(now)
	if err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1 resident purged", n, err)
	}
	for id, want := range map[string]bool{old: false, fresh: true, renewed: true} {
		if has, _ := db.HasFaceData(id); has != want {
			t.Errorf("%s: face data held = %v, want %v", id, has, want)
		}
	}
	if _, ok, _ := g.Distance(old, vec(0.1)); ok {
		t.Errorf("the purged resident is still in the matcher")
	}
	dels, _ := db.Deletions()
	if len(dels) != 1 {
		t.Fatalf("deletions = %+v", dels)
	}
	rec := dels[0]
	due := now.Add(-3 * 24 * time.Hour).Truncate(time.Second)
	deadline := d.cal.Deadline(rec.RequestedAt, retention.LegalWorkingDays)
	if !rec.RequestedAt.Truncate(time.Second).Equal(due) || rec.At.After(deadline) || rec.Actor != "system:retention" {
		t.Errorf("deletion record %+v: want requested at %v (when the consent ended), done by %v", rec, due, deadline)
	}
	if a := d.apiDeletion(rec); !a.OnTime {
		t.Errorf("apiDeletion says late: %+v", a)
	}
	// Nothing of the sealed templates is left in the file.
	db.Close()
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
	if db, err = store.Open(path, kek, store.Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d.db = db
	if n, err := d.purge(now); n != 0 || err != nil {
		t.Errorf("second purge = %d, %v", n, err)
	}
}

// readTemplates returns the resident's sealed template values as stored.
func readTemplates(t *testing.T, db *store.DB, id string) [][]byte {
	t.Helper()
	path := db.Path()
	raw, err := os.ReadFile(path)
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
