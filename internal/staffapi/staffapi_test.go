package staffapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/staffapi"
	"github.com/gated-dev/gated/internal/store"
)

// photos stands in for the recognizer (cgo, tested in internal/recognizer
// and end to end): a photo whose bytes start with "face" gives a template.
type photos struct{}

func (photos) Template(b []byte) ([]float32, string) {
	if !bytes.HasPrefix(b, []byte("face")) {
		return nil, "no face found"
	}
	v := make([]float32, 128)
	v[0] = float32(b[len(b)-1])
	return v, ""
}

// device stands in for the daemon's own state.
type device struct {
	restored []string
	changes  int
}

func (d *device) Changed() { d.changes++ }
func (d *device) BeginRotation(string) (func(bool, store.KEK), error) {
	return func(bool, store.KEK) {}, nil
}

func (d *device) Camera() api.Camera { return api.Camera{Up: true} }
func (d *device) Readers() []api.Reader {
	return []api.Reader{{Name: "front", Type: "ascii", Up: true}}
}
func (d *device) Alarms() []string                  { return nil }
func (d *device) Backups() ([]api.Backup, error)    { return []api.Backup{{Name: "gated-x.db"}}, nil }
func (d *device) LoadKey(string) (store.KEK, error) { return store.GenerateKEK() }
func (d *device) StageRestore(actor string, r io.Reader) error {
	d.restored = append(d.restored, actor)
	return nil
}
func (d *device) RestoreBackup(actor, name string) error {
	d.restored = append(d.restored, actor+":"+name)
	return nil
}

type nopDoor struct{}

func (nopDoor) Open(context.Context) error { return nil }

type fixture struct {
	uid uint32 // the caller's uid; 0: a new one for every request
	n   uint32
	db  *store.DB
	fs  *faces.Set
	dev *device
	h   http.Handler
	srv *staffapi.Server
}

func setup(t *testing.T, degraded string) *fixture {
	t.Helper()
	return setupWith(t, degraded, nil)
}

// setupWith is setup with a change to the configuration.
func setupWith(t *testing.T, degraded string, change func(*config.Config)) *fixture {
	t.Helper()
	kek, _ := store.GenerateKEK()
	db, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs, err := faces.Open(faces.Config{Model: "dlib-resnet-v1", Dim: 128, Settings: calibrate.Settings{Calibrate: true, Target: 1e-4}}, db)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Face: true, CardNeedsPIN: true}, db, nopDoor{}, fs.Gallery())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Face.Enabled = true
	cfg.Privacy = config.Privacy{Controller: "Acme", Contact: "office", NoticeVersion: "1", Retention: config.Duration{Duration: 365 * 24 * time.Hour}}
	if change != nil {
		change(cfg)
	}
	dev := &device{}
	srv := staffapi.New(staffapi.Options{Config: cfg, Degraded: degraded}, db, fs, photos{}, nil, g, dev)
	return &fixture{db: db, fs: fs, dev: dev, h: srv.Handler(), srv: srv}
}

// do sends a request as a caller with uid 1000 and role.
func (fx *fixture) do(t *testing.T, role control.Role, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, "http://gated"+path, rd)
	uid := fx.uid
	if uid == 0 {
		fx.n++
		uid = 20000 + fx.n // a caller of its own: each refusal is recorded
	}
	r = r.WithContext(control.WithCaller(r.Context(), control.Peer{UID: uid, GID: uid, PID: 1}, role))
	w := httptest.NewRecorder()
	fx.h.ServeHTTP(w, r)
	return w
}

func (fx *fixture) resident(t *testing.T) string {
	t.Helper()
	r, err := fx.db.AddResident("test", store.Resident{Name: "A", Unit: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (fx *fixture) refusals(t *testing.T) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	fx.db.ForEachAudit(0, func(e store.AuditEntry) error {
		if e.Outcome == "refused" {
			out = append(out, e)
		}
		return nil
	})
	return out
}

// Every route needs its role: one below is refused (403) and audited with
// the caller; the role itself gets past the guard.
func TestEveryRouteNeedsItsRole(t *testing.T) {
	fx := setup(t, "")
	id := fx.resident(t)
	R, W, A := control.RoleRead, control.RoleWrite, control.RoleAdmin
	routes := []struct {
		method, path string
		need         control.Role
		body         any
	}{
		{"GET", "/v0/status", R, nil},
		{"GET", "/v0/report", R, nil},
		{"GET", "/v0/audit", R, nil},
		{"GET", "/v0/audit/verify", R, nil},
		{"GET", "/v0/notice?lang=en", R, nil},
		{"GET", "/v0/residents", R, nil},
		{"GET", "/v0/residents/" + id, R, nil},
		{"POST", "/v0/residents", W, api.NewResident{Name: "B", Unit: "2"}},
		{"PATCH", "/v0/residents/" + id, W, api.ResidentUpdate{}},
		{"POST", "/v0/residents/" + id + "/cards", W, api.Card{Number: "42"}},
		{"PUT", "/v0/residents/" + id + "/pin", W, api.PIN{PIN: "2580"}},
		{"POST", "/v0/residents/" + id + "/face", W, api.Enroll{Photos: [][]byte{[]byte("face1")}, Method: "paper"}},
		{"GET", "/v0/backups", A, nil},
		{"POST", "/v0/restore/backup", A, api.RestoreFrom{Backup: "newest"}},
	}
	roles := []control.Role{control.RoleNone, R, W, A}
	for _, rt := range routes {
		for _, have := range roles {
			before := len(fx.refusals(t))
			w := fx.do(t, have, rt.method, rt.path, rt.body)
			refused := w.Code == http.StatusForbidden
			if refused != (have < rt.need) {
				t.Errorf("%s %s as %s = %d %s; want refused=%v", rt.method, rt.path, have, w.Code, w.Body, have < rt.need)
			}
			if refused {
				es := fx.refusals(t)
				if len(es) != before+1 || !strings.HasPrefix(es[len(es)-1].Actor, "staff:") {
					t.Errorf("%s %s as %s: refusal not audited with the caller (%d entries)", rt.method, rt.path, have, len(es)-before)
				}
				if !strings.Contains(w.Body.String(), "needs the "+rt.need.String()+" role") {
					t.Errorf("%s %s refusal does not name the role: %s", rt.method, rt.path, w.Body)
				}
			}
		}
	}
	if len(fx.dev.restored) == 0 {
		t.Errorf("an admin's restore never reached the device")
	}
	// Every change that went through asked for a backup; refusals did not.
	// Five change routes, each at write and admin: 10, less the second
	// enrollment (409: the resident already has face data).
	if fx.dev.changes != 9 {
		t.Errorf("%d backups asked for, want 9 (one per change that went through)", fx.dev.changes)
	}
}

// While the store is damaged, every change but a restore is refused with
// the reason; reads work.
func TestDegradedRefusesChanges(t *testing.T) {
	why := "the store is damaged: card and PIN are served read-only from the backup b; gated restore --backup newest"
	fx := setup(t, why)
	if w := fx.do(t, control.RoleAdmin, "POST", "/v0/residents", api.NewResident{Name: "B", Unit: "2"}); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "gated restore") {
		t.Errorf("add resident while degraded = %d %s; want 503 with the fix", w.Code, w.Body)
	}
	if w := fx.do(t, control.RoleAdmin, "POST", "/v0/restore/backup", api.RestoreFrom{Backup: "newest"}); w.Code != 200 {
		t.Errorf("restore while degraded = %d %s; want 200", w.Code, w.Body)
	}
	w := fx.do(t, control.RoleRead, "GET", "/v0/status", nil)
	var st api.Status
	json.Unmarshal(w.Body.Bytes(), &st)
	if w.Code != 200 || st.Degraded != why {
		t.Errorf("status while degraded = %d, degraded %q", w.Code, st.Degraded)
	}
}

// Staff type card numbers as they please; the store gets the key a reader
// sends.
func TestCardNumbersAreNormalised(t *testing.T) {
	fx := setup(t, "")
	id := fx.resident(t)
	for _, tt := range []struct {
		typed, want string
		code        int
	}{
		{"01001", "1001", 200},
		{" 3003", "3003", 200},
		{"012:00345", "12:345", 200},
		{"30x3", "", 400},
		{"", "", 400},
	} {
		w := fx.do(t, control.RoleWrite, "POST", "/v0/residents/"+id+"/cards", api.Card{Number: tt.typed})
		if w.Code != tt.code {
			t.Errorf("assign %q = %d %s, want %d", tt.typed, w.Code, w.Body, tt.code)
			continue
		}
		if tt.want == "" {
			continue
		}
		var c api.Card
		json.Unmarshal(w.Body.Bytes(), &c)
		got, err := fx.db.LookupCard(tt.want)
		if c.Number != tt.want || err != nil || got != id {
			t.Errorf("assign %q answered %q; lookup of %q = %q, %v; want %s", tt.typed, c.Number, tt.want, got, err, id)
		}
	}
}

func TestEnrollFromPhotos(t *testing.T) {
	fx := setup(t, "")
	id := fx.resident(t)
	w := fx.do(t, control.RoleWrite, "POST", "/v0/residents/"+id+"/face", api.Enroll{Photos: [][]byte{[]byte("nothing"), []byte("face1"), []byte("face2")}, Method: "paper", Language: "en"})
	var out api.Enrolled
	json.Unmarshal(w.Body.Bytes(), &out)
	if w.Code != 200 || out.Templates != 2 || len(out.Refused) != 1 || !strings.Contains(out.Refused[0], "photo 1: no face found") {
		t.Fatalf("enroll = %d %s", w.Code, w.Body)
	}
	if res, tmpl := fx.fs.Len(); res != 1 || tmpl != 2 {
		t.Errorf("matcher after enrollment: %d residents, %d templates", res, tmpl)
	}
	if w := fx.do(t, control.RoleWrite, "POST", "/v0/residents/"+id+"/face", api.Enroll{Photos: [][]byte{[]byte("x")}, Method: "paper"}); w.Code != 409 && w.Code != 400 {
		t.Errorf("a second enrollment = %d, want refused", w.Code)
	}
	// A refused deletion leaves everything; a good one destroys.
	if w := fx.do(t, control.RoleWrite, "DELETE", "/v0/residents/"+id+"/face", api.Reason{Reason: ""}); w.Code != 400 {
		t.Errorf("delete without a reason = %d %s", w.Code, w.Body)
	}
	if res, _ := fx.fs.Len(); res != 1 {
		t.Errorf("a refused deletion emptied the matcher")
	}
	w = fx.do(t, control.RoleWrite, "DELETE", "/v0/residents/"+id+"/face", api.Reason{Reason: "consent withdrawn"})
	var d api.Deletion
	json.Unmarshal(w.Body.Bytes(), &d)
	if w.Code != 200 || d.Templates != 2 || d.Pending || !d.OnTime {
		t.Errorf("delete = %d %s", w.Code, w.Body)
	}
}

func TestCalibrationShowsTheDecision(t *testing.T) {
	fx := setup(t, "")
	fx.fs.Recalibrate()
	w := fx.do(t, control.RoleRead, "GET", "/v0/calibration", nil)
	var c api.Calibration
	json.Unmarshal(w.Body.Bytes(), &c)
	if w.Code != 200 || c.Mode != calibrate.Off.String() || !strings.Contains(c.Reason, "residents enrolled") {
		t.Errorf("calibration = %d %+v", w.Code, c)
	}
}

// A caller refused in a loop cannot fill the audit log, which is never
// purged (the red team's F9: 9,865 entries in 10 s): ten a minute are
// recorded, the rest counted in one entry.
func TestRefusalFloodIsCounted(t *testing.T) {
	fx := setup(t, "")
	fx.uid = 1000
	before := len(fx.refusals(t))
	for range 500 {
		fx.do(t, control.RoleRead, "POST", "/v0/residents", api.NewResident{Name: "X", Unit: "1"})
	}
	got := fx.refusals(t)[before:]
	if len(got) != 10 || !strings.Contains(got[9].Detail, "counted, not recorded one by one") {
		t.Fatalf("500 refusals in a burst wrote %d audit entries; want 10, the last saying the rest are counted", len(got))
	}
	// The count is recorded when the daemon flushes (every minute, and at
	// shutdown), also if the caller never comes back.
	fx.srv.FlushRefusals(true)
	got = fx.refusals(t)[before:]
	if len(got) != 11 || !strings.Contains(got[10].Detail, "490 more refusals") {
		t.Errorf("after the flush: %d entries, last %q; want the count of the 490 others", len(got), got[len(got)-1].Detail)
	}
}

// A PIN longer than a keypad of the gate takes could never be typed: it is
// refused when set (red team 3: F7).
func TestPINsFitTheKeypads(t *testing.T) {
	fx := setupWith(t, "", func(c *config.Config) {
		c.Readers = append(c.Readers, config.Reader{Name: "front-keypad", Type: "keypad", For: "front", MaxDigits: 8})
	})
	id := fx.resident(t)
	if w := fx.do(t, control.RoleWrite, "PUT", "/v0/residents/"+id+"/pin", api.PIN{PIN: "123456789"}); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "max_digits 8") {
		t.Errorf("a 9-digit PIN with an 8-digit keypad = %d %s", w.Code, w.Body)
	}
	if w := fx.do(t, control.RoleWrite, "PUT", "/v0/residents/"+id+"/pin", api.PIN{PIN: "12345678"}); w.Code != http.StatusOK {
		t.Errorf("an 8-digit PIN with an 8-digit keypad = %d %s", w.Code, w.Body)
	}
}
