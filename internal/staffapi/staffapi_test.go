package staffapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// do sends a request as a caller with role: uid fx.uid, or a new one for
// every request.
func (fx *fixture) do(t *testing.T, role control.Role, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	return fx.doCtx(t, context.Background(), role, method, path, body)
}

// doCtx is do with the request's context.
func (fx *fixture) doCtx(t *testing.T, ctx context.Context, role control.Role, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequestWithContext(ctx, method, "http://gated"+path, rd)
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

// routeCase is how the role test calls one route of the table: the role it
// must need, whether it changes something, and the status the route answers
// when permitted. req prepares a fresh subject for every call (a resident, a
// pass), so that no call's change decides another's answer; it returns the
// {id} of the path and the request body.
type routeCase struct {
	role   control.Role
	change bool
	want   int
	req    func(t *testing.T, fx *fixture) (id string, body any)
	stream bool // a watch: called with its context already ended
}

// routeCases are the expected role, change flag and answer of every route.
// A route of the table missing here fails TestEveryRouteNeedsItsRole, so a
// new route cannot go without its role being tested.
func routeCases() map[string]routeCase {
	R, W, A := control.RoleRead, control.RoleWrite, control.RoleAdmin
	cards := 0
	card := func() string { cards++; return fmt.Sprint(4000 + cards) }
	body := func(b any) func(*testing.T, *fixture) (string, any) {
		return func(*testing.T, *fixture) (string, any) { return "", b }
	}
	resident := func(b any) func(*testing.T, *fixture) (string, any) {
		return func(t *testing.T, fx *fixture) (string, any) { return fx.resident(t), b }
	}
	enrolled := func(b any) func(*testing.T, *fixture) (string, any) {
		return func(t *testing.T, fx *fixture) (string, any) { return fx.enrolled(t), b }
	}
	newCard := func(t *testing.T, fx *fixture) (string, any) { return fx.resident(t), api.Card{Number: card()} }
	heldCard := func(t *testing.T, fx *fixture) (string, any) {
		id, n := fx.resident(t), card()
		if err := fx.db.AssignCard("test", id, n); err != nil {
			t.Fatal(err)
		}
		return id, api.Card{Number: n}
	}
	pass := func(t *testing.T, fx *fixture) (string, any) { return fx.pass(t), nil }
	withPIN := func(t *testing.T, fx *fixture) (string, any) {
		id := fx.resident(t)
		if err := fx.db.SetPIN("test", id, "2580"); err != nil {
			t.Fatal(err)
		}
		return id, nil
	}
	photo := api.Enroll{Photos: [][]byte{[]byte("face1")}, Method: "paper"}
	return map[string]routeCase{
		"GET /v0/status":                       {R, false, 200, nil, false},
		"GET /v0/decisions":                    {R, false, 200, nil, true},
		"GET /v0/calibration":                  {R, false, 200, nil, false},
		"GET /v0/report":                       {R, false, 200, nil, false},
		"GET /v0/notice":                       {R, false, 200, nil, false},
		"GET /v0/audit":                        {R, false, 200, nil, false},
		"GET /v0/audit/verify":                 {R, false, 200, nil, false},
		"GET /v0/audit/export":                 {R, false, 200, nil, false},
		"GET /v0/residents":                    {R, false, 200, nil, false},
		"GET /v0/residents/{id}":               {R, false, 200, resident(nil), false},
		"POST /v0/residents":                   {W, true, 200, body(api.NewResident{Name: "B", Unit: "2"}), false},
		"PATCH /v0/residents/{id}":             {W, true, 200, resident(api.ResidentUpdate{}), false},
		"DELETE /v0/residents/{id}":            {W, true, 200, resident(api.Reason{Reason: "moved out"}), false},
		"POST /v0/residents/{id}/cards":        {W, true, 200, newCard, false},
		"POST /v0/residents/{id}/cards/revoke": {W, true, 200, heldCard, false},
		"PATCH /v0/residents/{id}/access":      {W, true, 200, resident(api.Access{ClearPassback: true}), false},
		"PUT /v0/residents/{id}/pin":           {W, true, 200, resident(api.PIN{PIN: "2580"}), false},
		"DELETE /v0/residents/{id}/pin":        {W, true, 200, withPIN, false},
		"POST /v0/residents/{id}/face":         {W, true, 200, resident(photo), false},
		"DELETE /v0/residents/{id}/face":       {W, true, 200, enrolled(api.Reason{Reason: "consent withdrawn"}), false},
		"POST /v0/residents/{id}/consent":      {W, true, 200, enrolled(api.Enroll{Method: "paper"}), false},
		"GET /v0/backup":                       {A, false, 200, nil, false},
		"GET /v0/backups":                      {A, false, 200, nil, false},
		"POST /v0/restore":                     {A, false, 200, body("a backup"), false},
		"POST /v0/restore/backup":              {A, false, 200, body(api.RestoreFrom{Backup: "newest"}), false},
		"POST /v0/keys/rotate":                 {A, true, 200, body(api.RotateKey{NewKeyFile: "/etc/gated/kek.new"}), false},
		"POST /v0/camera/nir-register":         {A, true, 400, nil, false}, // this gate has no NIR camera
		"POST /v0/clock/reset":                 {A, true, 200, nil, false},
		"GET /v0/visitors":                     {R, false, 200, nil, false},
		"POST /v0/visitors":                    {W, true, 200, body(visitor(time.Now())), false},
		"POST /v0/visitors/{id}/revoke":        {W, true, 200, pass, false},
		"GET /v0/compound":                     {R, false, 404, nil, false}, // this gate has no compound
		"POST /v0/compound/join":               {A, true, 404, nil, false},
		"POST /v0/compound/import":             {W, true, 404, nil, false},
		"POST /v0/compound/export":             {W, true, 404, nil, false},
	}
}

func visitor(now time.Time) api.NewPass {
	return api.NewPass{Name: "V", From: now.Add(-time.Minute), Until: now.Add(time.Hour), Uses: 1}
}

// enrolled is a new resident with face data.
func (fx *fixture) enrolled(t *testing.T) string {
	t.Helper()
	id := fx.resident(t)
	if w := fx.do(t, control.RoleAdmin, "POST", "/v0/residents/"+id+"/face", api.Enroll{Photos: [][]byte{[]byte("face1")}, Method: "paper"}); w.Code != 200 {
		t.Fatalf("enroll %s = %d %s", id, w.Code, w.Body)
	}
	return id
}

// pass is a new visitor pass's id.
func (fx *fixture) pass(t *testing.T) string {
	t.Helper()
	p, err := fx.db.AddPass("test", store.NewPass{Name: "V", From: time.Now().Add(-time.Minute), Until: time.Now().Add(time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// call calls one route of the table as a caller with role, with the
// subject and body its case prepared.
func (fx *fixture) call(t *testing.T, pattern string, stream bool, role control.Role, id string, body any) *httptest.ResponseRecorder {
	t.Helper()
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{id}", id)
	ctx := context.Background()
	if stream {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		ctx = cctx
	}
	return fx.doCtx(t, ctx, role, method, path, body)
}

// Every route of the table the server registers needs its role: one below
// is refused (403), audited with the caller and changes nothing; the role
// itself gets past the guard to the handler's own answer, and a change that
// went through asks for a backup. The expected roles are written here, apart
// from the table, so a route given the wrong role fails, and so does a
// route added to the table without a case here.
func TestEveryRouteNeedsItsRole(t *testing.T) {
	fx := setup(t, "")
	cases := routeCases()
	table := fx.srv.RouteTable()
	seen := map[string]bool{}
	for _, rt := range table {
		seen[rt.Pattern] = true
		c, ok := cases[rt.Pattern]
		if !ok {
			t.Errorf("route %s (role %s) has no case in routeCases: add one with the role it must need", rt.Pattern, rt.Role)
			continue
		}
		if rt.Role != c.role || rt.Change != c.change {
			t.Errorf("route %s: table gives role %s, change %v; want role %s, change %v", rt.Pattern, rt.Role, rt.Change, c.role, c.change)
		}
		for _, have := range []control.Role{control.RoleNone, control.RoleRead, control.RoleWrite, control.RoleAdmin} {
			var id string
			var body any
			if c.req != nil {
				id, body = c.req(t, fx)
			}
			refusals, changes, restored := len(fx.refusals(t)), fx.dev.changes, len(fx.dev.restored)
			w := fx.call(t, rt.Pattern, c.stream, have, id, body)
			gotRefusals := len(fx.refusals(t)) - refusals
			if have < c.role {
				if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "needs the "+c.role.String()+" role") {
					t.Errorf("%s as %s = %d %s; want 403 naming the %s role", rt.Pattern, have, w.Code, w.Body, c.role)
				}
				es := fx.refusals(t)
				if gotRefusals != 1 || !strings.HasPrefix(es[len(es)-1].Actor, "staff:") {
					t.Errorf("%s as %s: %d refusals audited, want 1 with the caller", rt.Pattern, have, gotRefusals)
				}
				if fx.dev.changes != changes || len(fx.dev.restored) != restored {
					t.Errorf("%s as %s: refused, yet it asked for a backup or staged a restore", rt.Pattern, have)
				}
				continue
			}
			if w.Code != c.want || gotRefusals != 0 {
				t.Errorf("%s as %s = %d %s (%d refusals audited); want %d from the handler", rt.Pattern, have, w.Code, w.Body, gotRefusals, c.want)
			}
			if w.Code == http.StatusNotFound && strings.HasPrefix(w.Body.String(), "404 page not found") {
				t.Errorf("%s as %s: the path reached no route", rt.Pattern, have)
			}
			wantChanges := changes
			if c.change && w.Code < 300 {
				wantChanges++
			}
			if fx.dev.changes != wantChanges {
				t.Errorf("%s as %s = %d: %d backups asked for, want %d", rt.Pattern, have, w.Code, fx.dev.changes-changes, wantChanges-changes)
			}
		}
	}
	for p := range cases {
		if !seen[p] {
			t.Errorf("routeCases has %s, which the server does not register", p)
		}
	}
	// Both restores, each at admin only, reached the device.
	if len(fx.dev.restored) != 2 {
		t.Errorf("restores staged: %v; want the two an admin asked for", fx.dev.restored)
	}
}

// While the store is damaged, every change but a restore is refused with
// the reason, for every route of the table; reads and restores work.
func TestDegradedRefusesChanges(t *testing.T) {
	why := "the store is damaged: card and PIN are served read-only from the backup b; gated restore --backup newest"
	fx := setup(t, why)
	cases := routeCases()
	for _, rt := range fx.srv.RouteTable() {
		c, ok := cases[rt.Pattern]
		if !ok {
			continue // TestEveryRouteNeedsItsRole names it
		}
		id, body := "R1", any(nil) // a change is refused before its subject is looked at
		if c.req != nil && !c.change {
			id, body = c.req(t, fx)
		}
		changes := fx.dev.changes
		w := fx.call(t, rt.Pattern, c.stream, control.RoleAdmin, id, body)
		switch {
		case c.change && (w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "gated restore --backup newest")):
			t.Errorf("%s while degraded = %d %s; want 503 with the reason and the fix", rt.Pattern, w.Code, w.Body)
		case !c.change && w.Code != c.want:
			t.Errorf("%s while degraded = %d %s; want %d as always", rt.Pattern, w.Code, w.Body, c.want)
		}
		if fx.dev.changes != changes {
			t.Errorf("%s while degraded asked for a backup", rt.Pattern)
		}
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
