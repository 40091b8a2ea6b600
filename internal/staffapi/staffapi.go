// Package staffapi is the staff API the daemon serves on its control
// socket: residents, cards, PINs, faces, the audit log, the report,
// backups, restore and key rotation, under versioned paths (/v0/...).
//
// Every route needs a role, decided from the caller's kernel-checked
// credentials by internal/control: read (status, watch, report, audit,
// calibration, notice, visitor passes, compound status), write (residents,
// cards, PINs, access, faces, visitor passes, compound bundles), admin
// (backups, restore, key rotation, NIR registration, clock reset, joining a
// compound); one table (routes) maps each path to its role. Every change is
// recorded in the store's audit log with the caller as its actor. A refusal
// is audited with the caller: a caller's first ten in a minute one by one,
// the rest of that minute counted and recorded as one entry
// (FlushRefusals), so that a caller in a loop cannot fill the log. While
// the store is damaged and served read-only from a backup
// (Options.Degraded), every change except a restore is refused, saying why.
//
// It holds no state of its own: the handlers act on narrow interfaces
// (the store, the face-data owner, the gate, the device), so they build
// and are tested without cgo. It never opens a socket, never sees a key's
// bytes in a log, and never keeps a photo: photos are turned into
// templates and dropped.
package staffapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/notice"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// Store is what the staff API reads and changes in the store directly
// (everything but face data, which goes through Faces).
type Store interface {
	ClockStore
	AccessStore
	AddResident(actor string, r store.Resident) (store.Resident, error)
	Resident(id string) (store.Resident, error)
	UpdateResident(actor string, r store.Resident) (store.Resident, error)
	ForEachResident(fn func(store.Resident) error) error
	AssignCard(actor, residentID, number string) error
	RevokeCard(actor, residentID, number string) error
	SetPIN(actor, residentID, pin string) error
	ClearPIN(actor, residentID string) error
	VerifyPIN(residentID, pin string) (bool, error)
	HasFaceData(residentID string) (bool, error)
	Templates(residentID string) ([]store.Template, error)
	Consents(residentID string) ([]store.Consent, error)
	Reconsent(actor, residentID string, c store.Consent) (store.Consent, error)
	ForEachAudit(from uint64, fn func(store.AuditEntry) error) error
	VerifyAudit() (store.AuditReport, error)
	ExportAudit(w io.Writer, from uint64) error
	WalkAuditRange(from, to time.Time, fn func(store.AuditRecord) error) (store.AuditRange, error)
	AppendAudit(ev store.Event) (store.AuditEntry, error)
	Stats() (store.Stats, error)
	PendingDestructions() ([]store.PendingDestruction, error)
	Backup(actor string, w io.Writer) (int64, error)
	KEKFingerprint() string
	Passes // visitor passes (visitors.go)
}

// Faces is the owner of face data (internal/faces).
type Faces interface {
	Enroll(actor, residentID string, c store.Consent, vecs [][]float32) (store.Enrollment, error)
	Destroy(actor, residentID, reason string, requested time.Time) (store.DeletionRecord, error)
	DeleteResident(actor, residentID, reason string) (store.DeletionRecord, error)
	RotateKEK(actor string, k store.KEK) error
	Calibration() faces.Calibration
	Len() (residents, templates int)
}

// Photos turns a photo into a template through the quality gate, or says
// why it cannot, in words staff can act on.
type Photos interface {
	Template(photo []byte) (vec []float32, refused string)
}

// Camera takes good frames from the gate's camera for an enrollment.
type Camera interface {
	Capture(ctx context.Context, frames int, timeout time.Duration) ([][]float32, error)
}

// Gate is what the staff API shows of the gate's decisions.
type Gate interface {
	Subscribe() (<-chan gate.Decision, func())
	Stats() gate.Stats
	FaceMode() (calibrate.Mode, match.Policy)
	DoorState() string // "door unlocked by schedule until 09:00", or ""
}

// Device is the state only the daemon knows, and what it alone can do.
type Device interface {
	// Camera is the camera's state.
	Camera() api.Camera
	// Readers is every configured reader's health.
	Readers() []api.Reader
	// Alarms lists the alarms standing now, one sentence each.
	Alarms() []string
	// Backups lists the automatic backups, newest first.
	Backups() ([]api.Backup, error)
	// StageRestore checks a backup against the gate's key and stages it;
	// RestoreBackup does the same for an automatic backup by name
	// ("newest": the newest that verifies). The daemon starts again on it.
	StageRestore(actor string, backup io.Reader) error
	RestoreBackup(actor, name string) error
	// LoadKey reads a new device key file for a rotation. BeginRotation
	// notes the new key's file before the store is sealed with it, so
	// that a power cut in between still opens the store; it fails when
	// the note cannot be written. finish says whether the store is now
	// sealed with k (the daemon then uses k; otherwise the note goes).
	LoadKey(path string) (store.KEK, error)
	BeginRotation(path string) (finish func(rotated bool, k store.KEK), err error)
	// Changed says staff changed residents or credentials: the daemon
	// takes a backup soon, so that a damaged store is never served from a
	// backup that still holds a revoked card or an old PIN.
	Changed()
}

// Options configure the staff API.
type Options struct {
	Config  *config.Config
	Version string
	Started time.Time
	// Degraded, when set, is why the store is served read-only from a
	// backup; every change but a restore is refused with it.
	Degraded string
	// Calendar counts the working days of deletion deadlines.
	Calendar *retention.Calendar
	Log      *slog.Logger
	Now      func() time.Time
	// NIR registers the NIR camera pair; nil without [camera.nir].
	NIR NIR
	// Compound is the gate's side of a compound (compound.go).
	Compound Compound
}

// Server answers the staff API.
type Server struct {
	opt    Options
	cfg    *config.Config
	st     Store
	faces  Faces  // nil: face recognition is off
	photos Photos // nil when face is off
	camera Camera // nil when face is off
	gate   Gate
	dev    Device
	log    *slog.Logger

	// photoMu lets one staff enrollment read its photos and turn them
	// into templates at a time (see enroll).
	photoMu sync.Mutex

	// refusals counts each caller's refusals, so that a caller in a loop
	// cannot fill the audit log, which is never purged.
	rmu      sync.Mutex
	refusals map[string]*refusalWindow
}

// A caller's first refusalBurst refusals in a refusalWindow are audited one
// by one; the rest are counted and audited as one entry.
const (
	refusalBurst  = 10
	refusalPeriod = time.Minute
)

type refusalWindow struct {
	start      time.Time
	n          int
	suppressed int
}

// New returns the staff API. faces, photos and camera are nil when face
// recognition is off at this gate; face data kept from before is then still
// destroyed through faces, which the daemon opens without a matcher.
func New(opt Options, st Store, fs Faces, photos Photos, cam Camera, g Gate, dev Device) *Server {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Calendar == nil {
		opt.Calendar = retention.Weekdays(time.Local)
	}
	return &Server{opt: opt, cfg: opt.Config, st: st, faces: fs, photos: photos, camera: cam, gate: g, dev: dev, log: opt.Log,
		refusals: map[string]*refusalWindow{}}
}

// route is one path of the API and the role it needs.
type route struct {
	pattern string
	role    control.Role
	change  bool // changes something: refused while degraded
	h       http.HandlerFunc
}

func (s *Server) routes() []route {
	R, W, A := control.RoleRead, control.RoleWrite, control.RoleAdmin
	return []route{
		{"GET /v0/status", R, false, s.status},
		{"GET /v0/decisions", R, false, s.decisions},
		{"GET /v0/calibration", R, false, s.calibration},
		{"GET /v0/report", R, false, s.report},
		{"GET /v0/notice", R, false, s.notice},
		{"GET /v0/audit", R, false, s.audit},
		{"GET /v0/audit/verify", R, false, s.auditVerify},
		{"GET /v0/audit/export", R, false, s.auditExport},
		{"GET /v0/residents", R, false, s.residents},
		{"GET /v0/residents/{id}", R, false, s.resident},
		{"POST /v0/residents", W, true, s.addResident},
		{"PATCH /v0/residents/{id}", W, true, s.updateResident},
		{"DELETE /v0/residents/{id}", W, true, s.deleteResident},
		{"POST /v0/residents/{id}/cards", W, true, s.card(true)},
		{"POST /v0/residents/{id}/cards/revoke", W, true, s.card(false)},
		{"PATCH /v0/residents/{id}/access", W, true, s.setAccess},
		{"PUT /v0/residents/{id}/pin", W, true, s.setPIN},
		{"DELETE /v0/residents/{id}/pin", W, true, s.clearPIN},
		{"POST /v0/residents/{id}/face", W, true, s.enroll},
		{"DELETE /v0/residents/{id}/face", W, true, s.deleteFace},
		{"POST /v0/residents/{id}/consent", W, true, s.reconsent},
		{"GET /v0/backup", A, false, s.backup},
		{"GET /v0/backups", A, false, s.backups},
		{"POST /v0/restore", A, false, s.restore},
		{"POST /v0/restore/backup", A, false, s.restoreBackup},
		{"POST /v0/keys/rotate", A, true, s.rotate},
		{"POST /v0/camera/nir-register", A, true, s.registerNIR},
		{"POST /v0/clock/reset", A, true, s.resetClock},
		{"GET /v0/visitors", R, false, s.passes},
		{"POST /v0/visitors", W, true, s.addPass},
		{"POST /v0/visitors/{id}/revoke", W, true, s.revokePass},
	}
}

func (s *Server) allRoutes() []route { return append(s.routes(), s.compoundRoutes()...) }

// Handler returns the API's handler: each route behind its role check.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	for _, rt := range s.allRoutes() {
		m.HandleFunc(rt.pattern, s.guard(rt))
	}
	return m
}

// guard checks the caller's role (and the store's health, for changes)
// before the handler runs; a refusal is audited with the caller.
func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		have := control.RoleFrom(r.Context())
		if have < rt.role {
			s.refuse(r, fmt.Sprintf("needs the %s role; the caller has %s", rt.role, have))
			writeError(w, http.StatusForbidden, fmt.Errorf("not permitted: %s %s needs the %s role (%s); you have %s",
				r.Method, r.URL.Path, rt.role, roleGroup(s.cfg, rt.role), have))
			return
		}
		if rt.change && s.opt.Degraded != "" {
			s.refuse(r, "the store is damaged: changes are refused until staff restore")
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("refused: %s", s.opt.Degraded))
			return
		}
		if !rt.change {
			rt.h(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rt.h(sw, r)
		if sw.status < 300 {
			s.dev.Changed()
		}
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Refused audits a caller turned away before any route (no role at all);
// the daemon passes it to control as Options.Refused.
func (s *Server) Refused(p control.Peer, r *http.Request) {
	s.auditRefusal(peerActor(p), r.Method+" "+r.URL.Path+": not a member of the staff group")
}

func (s *Server) refuse(r *http.Request, why string) {
	s.auditRefusal(actor(r), r.Method+" "+r.URL.Path+": "+why)
}

// FlushRefusals records the counts of refusals that were counted, not
// recorded one by one, for callers whose period has ended (all of them
// when final, at shutdown). The daemon calls it every minute.
func (s *Server) FlushRefusals(final bool) {
	now := s.opt.Now()
	s.rmu.Lock()
	var summaries []store.Event
	for who, w := range s.refusals {
		if !final && now.Sub(w.start) < refusalPeriod {
			continue
		}
		if w.suppressed > 0 {
			summaries = append(summaries, store.Event{Kind: store.KindAdmin, Actor: who, Outcome: "refused",
				Detail: store.Detail(fmt.Sprintf("%d more refusals of %s from %s were counted, not recorded one by one", w.suppressed, who, w.start.UTC().Format(time.RFC3339)))})
		}
		delete(s.refusals, who)
	}
	s.rmu.Unlock()
	for _, ev := range summaries {
		s.auditEvent(ev)
	}
}

// auditRefusal records a refusal: the first refusalBurst of a caller in a
// refusalPeriod one by one, then a note that more are only counted, and
// their count when the caller is next refused after the period.
func (s *Server) auditRefusal(who, what string) {
	now := s.opt.Now()
	s.rmu.Lock()
	w := s.refusals[who]
	var summary string
	if w == nil || now.Sub(w.start) >= refusalPeriod {
		if w != nil && w.suppressed > 0 {
			summary = fmt.Sprintf("%d more refusals of %s from %s were counted, not recorded one by one", w.suppressed, who, w.start.UTC().Format(time.RFC3339))
		}
		if len(s.refusals) > 1000 {
			clear(s.refusals) // callers are local users: a handful
		}
		w = &refusalWindow{start: now}
		s.refusals[who] = w
	}
	w.n++
	record := w.n <= refusalBurst
	if !record {
		w.suppressed++
	}
	last := w.n == refusalBurst
	s.rmu.Unlock()
	if summary != "" {
		s.auditEvent(store.Event{Kind: store.KindAdmin, Actor: who, Outcome: "refused", Detail: store.Detail(summary)})
	}
	if record {
		if last {
			what += fmt.Sprintf(" (further refusals of this caller in the next %s are counted, not recorded one by one)", refusalPeriod)
		}
		s.auditEvent(store.Event{Kind: store.KindAdmin, Actor: who, Outcome: "refused", Detail: store.Detail(what)})
	}
}

// auditEvent records an event; a store that refuses (read-only while
// degraded, or failing) is logged, never fatal to the request.
func (s *Server) auditEvent(ev store.Event) {
	if _, err := s.st.AppendAudit(ev); err != nil {
		s.log.Warn("staffapi: audit", "err", err, "actor", ev.Actor, "outcome", ev.Outcome)
	}
}

// roleGroup names the group that gives a role, for error messages.
func roleGroup(c *config.Config, r control.Role) string {
	if c == nil {
		return "root"
	}
	g := ""
	switch r {
	case control.RoleRead:
		g = c.Control.StaffGroup
	case control.RoleWrite:
		g = c.Control.WriteGroup
	case control.RoleAdmin:
		g = c.Control.AdminGroup
	}
	if g == "" {
		return "root only"
	}
	return "group " + g
}

// actor names the staff member behind a request, from the socket's peer
// credentials: "staff:alice" (or "staff:uid=1000").
func actor(r *http.Request) string {
	p, ok := control.PeerFrom(r.Context())
	if !ok {
		return "staff:unknown"
	}
	return peerActor(p)
}

func peerActor(p control.Peer) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(p.UID), 10)); err == nil {
		return "staff:" + u.Username
	}
	return fmt.Sprintf("staff:uid=%d", p.UID)
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// fail answers with the HTTP status that fits an error.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, faces.ErrRequest),
		errors.Is(err, store.ErrWrongKey), errors.Is(err, store.ErrInsecureKeyFile), errors.Is(err, store.ErrBadKeyFile):
		status = http.StatusBadRequest
	case errors.Is(err, store.ErrCardInUse), errors.Is(err, store.ErrAlreadyEnrolled), errors.Is(err, store.ErrNoFaceData),
		errors.Is(err, store.ErrManaged):
		status = http.StatusConflict
	case errors.Is(err, store.ErrReadOnly):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err)
}

func writeError(w http.ResponseWriter, status int, err error) { control.WriteError(w, status, err) }

// Limits on request bodies.
const (
	maxJSON    = 64 << 10
	maxPhotos  = 10
	maxPhoto   = 8 << 20 // recognizer.MaxImageBytes; kept here so the package stays pure Go
	maxEnroll  = maxPhotos * (maxPhoto + maxPhoto/3 + 16)
	maxBackup  = 8 << 30
	auditLimit = 10000
)

// FilingThreshold is the number of people whose face data a device may hold
// before its operator must file with the regulator (the 2025 Facial
// Recognition Technology Application Security Management Measures).
const FilingThreshold = 100_000

// cardNumber normalises a card number as staff typed it into the key a
// reader sends for that card.
func cardNumber(s string) (string, error) {
	n, err := fallback.NormalizeCardNumber(s)
	if err != nil {
		return "", badRequest("%v", err)
	}
	return n, nil
}

// notices renders the gate's notice from the configuration.
func (s *Server) notices(lang string) (notice.Notice, error) {
	return notice.Render(NoticeFacts(s.cfg), lang)
}

// NoticeFacts are what the notice states, from the configuration.
func NoticeFacts(c *config.Config) notice.Facts {
	p := c.Privacy
	return notice.Facts{Gate: c.Device.Name, Controller: p.Controller, Contact: p.Contact, Version: p.NoticeVersion, Retention: p.Retention.Duration}
}
