package daemon

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// Limits on request bodies.
const (
	maxJSON    = 64 << 10
	maxEnroll  = 10 * (recognizer.MaxImageBytes + recognizer.MaxImageBytes/3) // base64 of up to 10 photos
	maxPhotos  = 10
	maxBackup  = 8 << 30
	auditLimit = 10000
)

// api returns the staff API's handler.
func (d *daemon) api() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v0/status", d.handleStatus)
	m.HandleFunc("GET /v0/residents", d.handleResidents)
	m.HandleFunc("POST /v0/residents", d.handleAddResident)
	m.HandleFunc("GET /v0/residents/{id}", d.handleResident)
	m.HandleFunc("PATCH /v0/residents/{id}", d.handleUpdateResident)
	m.HandleFunc("DELETE /v0/residents/{id}", d.handleDeleteResident)
	m.HandleFunc("POST /v0/residents/{id}/cards", d.handleCard(true))
	m.HandleFunc("POST /v0/residents/{id}/cards/revoke", d.handleCard(false))
	m.HandleFunc("PUT /v0/residents/{id}/pin", d.handleSetPIN)
	m.HandleFunc("DELETE /v0/residents/{id}/pin", d.handleClearPIN)
	m.HandleFunc("POST /v0/residents/{id}/face", d.handleEnroll)
	m.HandleFunc("DELETE /v0/residents/{id}/face", d.handleDeleteFace)
	m.HandleFunc("POST /v0/residents/{id}/consent", d.handleReconsent)
	m.HandleFunc("GET /v0/audit", d.handleAudit)
	m.HandleFunc("GET /v0/audit/verify", d.handleAuditVerify)
	m.HandleFunc("GET /v0/audit/export", d.handleAuditExport)
	m.HandleFunc("GET /v0/report", d.handleReport)
	m.HandleFunc("GET /v0/notice", d.handleNotice)
	m.HandleFunc("POST /v0/keys/rotate", d.handleRotate)
	m.HandleFunc("GET /v0/backup", d.handleBackup)
	m.HandleFunc("POST /v0/restore", d.handleRestore)
	m.HandleFunc("GET /v0/decisions", d.handleDecisions)
	m.HandleFunc("GET /v0/calibration", d.handleCalibration)
	return m
}

// actor names the staff member behind a request, from the socket's peer
// credentials: "staff:alice" (or "staff:uid=1000").
func actor(r *http.Request) string {
	p, ok := control.PeerFrom(r.Context())
	if !ok {
		return "staff:unknown"
	}
	if u, err := user.LookupId(strconv.FormatUint(uint64(p.UID), 10)); err == nil {
		return "staff:" + u.Username
	}
	return fmt.Sprintf("staff:uid=%d", p.UID)
}

// fail answers with the HTTP status that fits a store or request error.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, recognizer.ErrImage):
		status = http.StatusBadRequest
	case errors.Is(err, store.ErrCardInUse), errors.Is(err, store.ErrAlreadyEnrolled), errors.Is(err, store.ErrNoFaceData):
		status = http.StatusConflict
	case errors.Is(err, store.ErrWrongKey), errors.Is(err, store.ErrInsecureKeyFile), errors.Is(err, store.ErrBadKeyFile):
		status = http.StatusBadRequest
	}
	control.WriteError(w, status, err)
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (d *daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	s := api.Status{Device: d.cfg.Device.Name, Version: d.opts.Version, StartedAt: d.started}
	s.Face = api.FaceState{Enabled: d.cfg.Face.Enabled, Mode: "off"}
	if d.cfg.Face.Enabled {
		cal := d.calibrationState()
		s.Face.Mode, s.Face.Model, s.Face.Calibration = cal.Mode, d.model, &cal
		mode, policy := d.gate.FaceMode()
		s.Face.Mode = mode.String()
		s.Face.Threshold, s.Face.Margin, s.Face.Frames = policy.Threshold, policy.MinMargin, d.cfg.Face.Frames
		s.Face.Residents, s.Face.Templates = d.gallery.Len()
		s.Face.OtherModel = d.otherModel(s.Face.Residents)
		d.mu.Lock()
		s.Camera = api.Camera{Up: d.camUp, LastErr: d.camErr, Frames: d.frameCount, Source: d.cfg.Camera.Device + d.cfg.Camera.Files}
		d.mu.Unlock()
	}
	types := map[string]string{}
	for _, rc := range d.cfg.Readers {
		types[rc.Name] = rc.Type
	}
	alarm, hs := d.gate.Alarm()
	if alarm {
		s.Alarm = "every card and PIN reader is down: only enrolled faces can get in"
	}
	for _, h := range hs {
		s.Readers = append(s.Readers, api.Reader{Name: h.Reader, Type: types[h.Reader], Up: h.Up, Since: h.Since, LastErr: h.LastErr, Frames: h.Frames, Dropped: h.Dropped, Reconnects: h.Reconnects})
	}
	if len(hs) == 0 {
		for _, rd := range d.readers {
			h := rd.Health()
			s.Readers = append(s.Readers, api.Reader{Name: h.Reader, Type: types[h.Reader], Up: h.Up, Since: h.Since, LastErr: h.LastErr})
		}
	}
	st := d.gate.Stats()
	s.Decisions = api.Decisions{Granted: map[string]int{}, Denied: map[string]int{}}
	for k, v := range st.Granted {
		s.Decisions.Granted[string(k)] = v
	}
	for k, v := range st.Denied {
		s.Decisions.Denied[string(k)] = v
	}
	if st.Last != nil {
		dd := apiDecision(*st.Last)
		s.Last = &dd
	}
	ss, err := d.db.Stats()
	if err != nil {
		fail(w, err)
		return
	}
	s.Store = api.StoreSummary{Residents: ss.Residents, ResidentsWithFace: ss.ResidentsWithFace, Templates: ss.Templates, AuditEntries: ss.AuditEntries, FileBytes: ss.FileBytes, KEK: ss.KEKFingerprint}
	control.WriteJSON(w, s)
}

func apiDecision(g gate.Decision) api.Decision {
	d := api.Decision{Time: g.Time, Method: string(g.Method), Outcome: string(g.Outcome), Resident: g.Resident, Name: g.Name, Reader: g.Reader, Reason: g.Reason, Distance: g.Distance}
	if g.Method == gate.MethodFace && g.Resident != "" && !math.IsInf(float64(g.Margin), 0) {
		m := g.Margin
		d.Margin = &m
	}
	return d
}

func (d *daemon) apiResident(r store.Resident, full bool) (api.Resident, error) {
	out := api.Resident{ID: r.ID, Name: r.Name, Unit: r.Unit, Status: r.Status.String(), Minor: r.Minor, GuardianID: r.GuardianID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	var err error
	if out.Face, err = d.db.HasFaceData(r.ID); err != nil {
		return out, err
	}
	if _, err := d.db.VerifyPIN(r.ID, "-"); err == nil {
		out.HasPIN = true
	} else if !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if !full {
		return out, nil
	}
	ts, err := d.db.Templates(r.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNoFaceData) {
		return out, err
	}
	out.Templates = len(ts)
	cs, err := d.db.Consents(r.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	for _, c := range cs {
		out.Consents = append(out.Consents, apiConsent(c))
	}
	return out, nil
}

func apiConsent(c store.Consent) api.Consent {
	out := api.Consent{ID: c.ID, NoticeVersion: c.NoticeVersion, NoticeSHA256: hex.EncodeToString(c.NoticeSHA256[:]), Language: c.Language, RecordedBy: c.RecordedBy, GivenAt: c.GivenAt, WithdrawnAt: c.WithdrawnAt}
	out.Method = "device"
	if c.Method == store.ConsentStaffPaper {
		out.Method = "paper"
	}
	if c.Guardian != nil {
		out.Guardian = &api.Guardian{Name: c.Guardian.Name, Relation: c.Guardian.Relation, ResidentID: c.Guardian.ResidentID}
	}
	return out
}

func (d *daemon) handleResidents(w http.ResponseWriter, r *http.Request) {
	out := []api.Resident{}
	err := d.db.ForEachResident(func(res store.Resident) error {
		out = append(out, api.Resident{ID: res.ID, Name: res.Name, Unit: res.Unit, Status: res.Status.String(), Minor: res.Minor, GuardianID: res.GuardianID, CreatedAt: res.CreatedAt, UpdatedAt: res.UpdatedAt})
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	// Face and PIN presence are looked up outside the store's iteration.
	for i := range out {
		full, err := d.apiResident(store.Resident{ID: out[i].ID}, false)
		if err != nil {
			fail(w, err)
			return
		}
		out[i].Face, out[i].HasPIN = full.Face, full.HasPIN
	}
	control.WriteJSON(w, out)
}

func (d *daemon) handleAddResident(w http.ResponseWriter, r *http.Request) {
	var in api.NewResident
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	res, err := d.db.AddResident(actor(r), store.Resident{Name: in.Name, Unit: in.Unit, Minor: in.Minor, GuardianID: in.GuardianID})
	if err != nil {
		fail(w, err)
		return
	}
	out, err := d.apiResident(res, true)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, out)
}

func (d *daemon) handleResident(w http.ResponseWriter, r *http.Request) {
	res, err := d.db.Resident(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	out, err := d.apiResident(res, true)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, out)
}

func (d *daemon) handleUpdateResident(w http.ResponseWriter, r *http.Request) {
	var in api.ResidentUpdate
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	res, err := d.db.Resident(r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	if in.Name != nil {
		res.Name = *in.Name
	}
	if in.Unit != nil {
		res.Unit = *in.Unit
	}
	if in.Minor != nil {
		res.Minor = *in.Minor
	}
	if in.GuardianID != nil {
		res.GuardianID = *in.GuardianID
	}
	if in.Status != nil {
		switch *in.Status {
		case "active":
			res.Status = store.StatusActive
		case "disabled":
			res.Status = store.StatusDisabled
		default:
			fail(w, badRequest("status %q: use active or disabled", *in.Status))
			return
		}
	}
	res, err = d.db.UpdateResident(actor(r), res)
	if err != nil {
		fail(w, err)
		return
	}
	out, err := d.apiResident(res, true)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, out)
}

func (d *daemon) apiDeletion(rec store.DeletionRecord) api.Deletion {
	deadline := d.cal.Deadline(rec.RequestedAt, retention.LegalWorkingDays)
	return api.Deletion{ReceiptID: rec.ReceiptID, Resident: rec.ResidentID, Actor: rec.Actor, Reason: rec.Reason, At: rec.At, Templates: rec.Templates,
		RequestedAt: rec.RequestedAt, Deadline: deadline, OnTime: !rec.At.After(deadline)}
}

func (d *daemon) handleDeleteResident(w http.ResponseWriter, r *http.Request) {
	var in api.Reason
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	id := r.PathValue("id")
	if d.gallery != nil {
		d.gallery.Remove(id)
	}
	rec, err := d.db.DeleteResident(actor(r), id, in.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	d.galleryChanged()
	control.WriteJSON(w, d.apiDeletion(rec))
}

func (d *daemon) handleCard(assign bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in api.Card
		if err := control.ReadJSON(r, maxJSON, &in); err != nil {
			fail(w, badRequest("%v", err))
			return
		}
		var err error
		if assign {
			err = d.db.AssignCard(actor(r), r.PathValue("id"), in.Number)
		} else {
			err = d.db.RevokeCard(actor(r), r.PathValue("id"), in.Number)
		}
		if err != nil {
			fail(w, err)
			return
		}
		control.WriteJSON(w, struct{}{})
	}
}

func (d *daemon) handleSetPIN(w http.ResponseWriter, r *http.Request) {
	var in api.PIN
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	if err := d.db.SetPIN(actor(r), r.PathValue("id"), in.PIN); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}

func (d *daemon) handleClearPIN(w http.ResponseWriter, r *http.Request) {
	if err := d.db.ClearPIN(actor(r), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}

func (d *daemon) handleDeleteFace(w http.ResponseWriter, r *http.Request) {
	var in api.Reason
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	id := r.PathValue("id")
	// Out of the matcher first: from this instant the face opens nothing.
	if d.gallery != nil {
		d.gallery.Remove(id)
	}
	rec, err := d.db.DestroyFaceDataRequested(actor(r), id, in.Reason, in.Requested)
	d.galleryChanged()
	if err != nil {
		if errors.Is(err, store.ErrNoFaceData) {
			fail(w, fmt.Errorf("%s has no face data: %w", id, err))
			return
		}
		fail(w, err)
		return
	}
	control.WriteJSON(w, d.apiDeletion(rec))
}

// handleReconsent records a renewed consent for a resident who keeps their
// face data (a new notice version, or a new retention period).
func (d *daemon) handleReconsent(w http.ResponseWriter, r *http.Request) {
	var in api.Enroll
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	if len(in.Photos) > 0 || in.Camera {
		fail(w, badRequest("a renewed consent takes no photos: the face data stays as enrolled"))
		return
	}
	who := actor(r)
	c, err := d.consentFor(requestOf(in), who)
	if err != nil {
		fail(w, err)
		return
	}
	saved, err := d.db.Reconsent(who, r.PathValue("id"), c)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, apiConsent(saved))
}

func (d *daemon) handleAudit(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > auditLimit {
		limit = auditLimit
	}
	out := []api.AuditEntry{}
	errEnough := errors.New("enough")
	err := d.db.ForEachAudit(from, func(e store.AuditEntry) error {
		if len(out) >= limit {
			return errEnough
		}
		out = append(out, api.AuditEntry{Seq: e.Seq, Time: e.Time, Kind: string(e.Kind), Actor: e.Actor, Subject: e.Subject, Outcome: e.Outcome, Detail: e.Detail, Hash: hex.EncodeToString(e.Hash[:])})
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		fail(w, err)
		return
	}
	control.WriteJSON(w, out)
}

func (d *daemon) verifyAudit() (api.AuditVerify, error) {
	rep, err := d.db.VerifyAudit()
	v := api.AuditVerify{OK: err == nil, Entries: rep.Entries}
	if err != nil {
		if !errors.Is(err, store.ErrAuditBroken) {
			return v, err
		}
		v.Problem, v.FirstBad = rep.Problem, rep.FirstBad
	}
	return v, nil
}

func (d *daemon) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	v, err := d.verifyAudit()
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, v)
}

func (d *daemon) handleAuditExport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := d.db.ExportAudit(w, 0); err != nil {
		d.log.Error("daemon: audit export", "err", err)
	}
}

func (d *daemon) handleNotice(w http.ResponseWriter, r *http.Request) {
	n, err := d.notice(r.URL.Query().Get("lang"))
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	control.WriteJSON(w, n)
}

func (d *daemon) handleRotate(w http.ResponseWriter, r *http.Request) {
	var in api.RotateKey
	if err := control.ReadJSON(r, maxJSON, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	if !filepath.IsAbs(in.NewKeyFile) {
		fail(w, badRequest("new key file %q: give an absolute path", in.NewKeyFile))
		return
	}
	k, err := store.LoadKEKFile(in.NewKeyFile)
	if err != nil {
		fail(w, err)
		return
	}
	old := d.db.KEKFingerprint()
	if err := d.db.RotateKEK(actor(r), k); err != nil {
		fail(w, err)
		return
	}
	d.kek = k
	d.log.Warn("daemon: device key rotated: move the new key file into place before the next start", "old", old, "new", k.Fingerprint(), "file", in.NewKeyFile)
	control.WriteJSON(w, api.Rotated{Old: old, New: k.Fingerprint()})
}

func (d *daemon) handleBackup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := d.db.Backup(actor(r), w); err != nil {
		d.log.Error("daemon: backup", "err", err)
	}
}

// handleRestore stages a backup in the data directory after checking it
// opens with this gate's key, then restarts the gate on it.
func (d *daemon) handleRestore(w http.ResponseWriter, r *http.Request) {
	dir := d.cfg.Device.DataDir
	tmp, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		fail(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, io.LimitReader(r.Body, maxBackup))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(w, fmt.Errorf("receive backup: %w", err))
		return
	}
	// Check it before staging: it must open with this gate's key.
	probe, err := store.Open(tmp.Name(), d.kek, store.Options{LockTimeout: time.Second})
	if err != nil {
		fail(w, badRequest("the backup does not open with this gate's key: %v", err))
		return
	}
	probe.Close()
	if err := os.Rename(tmp.Name(), filepath.Join(dir, restoreFile)); err != nil {
		fail(w, err)
		return
	}
	d.audit(store.Event{Kind: store.KindAdmin, Actor: actor(r), Outcome: "ok", Detail: "restore staged; gate restarting"})
	control.WriteJSON(w, struct{}{})
	go func() {
		time.Sleep(100 * time.Millisecond) // let the answer go out
		d.restart(errRestart)
	}()
}

// handleDecisions streams decisions as JSON lines until the client leaves.
func (d *daemon) handleDecisions(w http.ResponseWriter, r *http.Request) {
	ch, stop := d.gate.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case dec := <-ch:
			if err := enc.Encode(apiDecision(dec)); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}
