package staffapi

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

func consentRequest(in api.Enroll, who string) faces.ConsentRequest {
	r := faces.ConsentRequest{Method: in.Method, Language: in.Language, NoticeVersion: in.NoticeVersion, RecordedBy: who}
	if g := in.Guardian; g != nil {
		r.Guardian = &store.Guardian{Name: g.Name, Relation: g.Relation, ResidentID: g.ResidentID}
	}
	return r
}

// enroll enrolls a resident's face, from photos staff upload (with a signed
// paper consent form) or from the gate's camera, together with the consent
// record, in one store transaction. Photos are decoded, checked by the
// quality gate, turned into templates and dropped: none is kept.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	if s.photos == nil {
		fail(w, badRequest("face recognition is off at this gate (face.enabled = false, or its model files are missing: gated status says which)"))
		return
	}
	// One enrollment at a time, from before its body is read: photos take
	// up to ~110 MB as JSON and a decode up to ~260 MB, and a gate board
	// has a gigabyte or two. Others wait their turn; what one took is given
	// back to the system when it is done.
	s.photoMu.Lock()
	defer s.photoMu.Unlock()
	defer debug.FreeOSMemory()
	var in api.Enroll
	if !readJSON(w, r, maxEnroll, &in) {
		return
	}
	id := r.PathValue("id")
	res, err := s.st.Resident(id)
	if err != nil {
		fail(w, err)
		return
	}
	who := actor(r)
	consent, err := faces.Consent(s.notices, consentRequest(in, who))
	if err != nil {
		fail(w, err)
		return
	}
	if res.Minor && consent.Guardian == nil {
		fail(w, badRequest("%s is registered as under 14: a parent's or guardian's consent is required (guardian name and relation)", id))
		return
	}
	out := api.Enrolled{Resident: id}
	var vecs [][]float32
	switch {
	case in.Camera:
		frames := in.Frames
		if frames <= 0 {
			frames = 3
		}
		timeout := in.Timeout.Duration
		if timeout <= 0 || timeout > 2*time.Minute {
			timeout = 30 * time.Second
		}
		vecs, err = s.camera.Capture(r.Context(), frames, timeout)
		if err != nil {
			fail(w, badRequest("camera enrollment: %v", err))
			return
		}
	case len(in.Photos) > 0:
		if len(in.Photos) > maxPhotos {
			fail(w, badRequest("%d photos: at most %d", len(in.Photos), maxPhotos))
			return
		}
		for i, p := range in.Photos {
			v, why := s.photos.Template(p)
			in.Photos[i] = nil // dropped as soon as it is used
			// The decode's garbage (up to MaxDecodeBytes) goes back before
			// the next photo: without this, 10 large photos in one request
			// took the peak 500 MiB up rather than one decode's 140 MiB.
			debug.FreeOSMemory()
			if why != "" {
				out.Refused = append(out.Refused, fmt.Sprintf("photo %d: %s", i+1, why))
				continue
			}
			vecs = append(vecs, v)
		}
		if len(vecs) == 0 {
			fail(w, badRequest("no photo passed the quality gate: %v", out.Refused))
			return
		}
	default:
		fail(w, badRequest("give photos, or camera = true"))
		return
	}
	saved, err := s.faces.Enroll(who, id, consent, vecs)
	if err != nil {
		fail(w, err)
		return
	}
	out.Templates = len(saved.Templates)
	out.Consent = apiConsent(saved.Consent)
	control.WriteJSON(w, out)
}

// deleteFace destroys a resident's face data (opt-out at the office).
func (s *Server) deleteFace(w http.ResponseWriter, r *http.Request) {
	var in api.Reason
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	id := r.PathValue("id")
	rec, err := s.faces.Destroy(actor(r), id, in.Reason, in.Requested)
	if errors.Is(err, store.ErrNoFaceData) {
		fail(w, fmt.Errorf("%s has no face data: %w", id, err))
		return
	}
	s.answerDeletion(w, rec, err)
}

// answerDeletion writes a deletion receipt. A deletion whose data is out
// of use but not yet gone from every file is answered 200 with Pending set
// and the reason: the resident's data is destroyed as far as anyone can
// use it, and the rest is retried; the receipt says so honestly.
func (s *Server) answerDeletion(w http.ResponseWriter, rec store.DeletionRecord, err error) {
	if err != nil && !errors.Is(err, store.ErrPending) {
		fail(w, err)
		return
	}
	out := s.apiDeletion(rec)
	if err != nil {
		out.Pending, out.PendingReason = true, err.Error()
	}
	control.WriteJSON(w, out)
}

func (s *Server) apiDeletion(rec store.DeletionRecord) api.Deletion {
	deadline := s.opt.Calendar.Deadline(rec.RequestedAt, retention.LegalWorkingDays)
	return api.Deletion{ReceiptID: rec.ReceiptID, Resident: rec.ResidentID, Actor: rec.Actor, Reason: rec.Reason, At: rec.At, Templates: rec.Templates,
		RequestedAt: rec.RequestedAt, Deadline: deadline, OnTime: !rec.At.After(deadline)}
}

// reconsent records a renewed consent for a resident who keeps their face
// data (a new notice version, or a new retention period).
func (s *Server) reconsent(w http.ResponseWriter, r *http.Request) {
	var in api.Enroll
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	if len(in.Photos) > 0 || in.Camera {
		fail(w, badRequest("a renewed consent takes no photos: the face data stays as enrolled"))
		return
	}
	who := actor(r)
	c, err := faces.Consent(s.notices, consentRequest(in, who))
	if err != nil {
		fail(w, err)
		return
	}
	saved, err := s.st.Reconsent(who, r.PathValue("id"), c)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, apiConsent(saved))
}

// calibrationState is what status, report and gated calibrate show.
func (s *Server) calibrationState() api.Calibration {
	cal := s.faces.Calibration()
	d := cal.Decision
	c := api.Calibration{At: cal.At, Mode: d.Mode.String(), Threshold: d.Policy.Threshold, Margin: d.Policy.MinMargin,
		Reason: d.Reason, StrangerUpper: d.Stranger, Target: s.cfg.Face.Target, Calibrated: s.cfg.Face.Calibrate, Residents: d.Residents}
	c.Accept, c.AcceptLow, c.AcceptHigh = d.Accept, d.AcceptLow, d.AcceptHigh
	if len(cal.Spread) > 0 {
		sp := &api.CalibrationSpread{Seeds: len(cal.Spread), Modes: map[string]int{}}
		for i, x := range cal.Spread {
			sp.Modes[x.Mode.String()]++
			if i == 0 {
				sp.IdentifyMin, sp.IdentifyMax, sp.VerifyMin, sp.VerifyMax = x.Identify, x.Identify, x.Verify, x.Verify
			}
			sp.IdentifyMin, sp.IdentifyMax = min(sp.IdentifyMin, x.Identify), max(sp.IdentifyMax, x.Identify)
			sp.VerifyMin, sp.VerifyMax = min(sp.VerifyMin, x.Verify), max(sp.VerifyMax, x.Verify)
		}
		c.Spread = sp
	}
	if e := d.Estimate; e != nil {
		c.Residents = e.Residents
		for _, x := range e.Duplicates {
			c.Duplicates = append(c.Duplicates, api.SameFace{A: x.A, B: x.B, Distance: x.Distance})
		}
		for _, r := range e.TradeOffAt() {
			c.TradeOff = append(c.TradeOff, api.TradeOff{Threshold: r.Policy.Threshold, Margin: r.Policy.MinMargin,
				StrangerUpper: r.StrangerUpper, PairFMRUpper: r.PairFMRUpper, ResidentsCorrect: r.Residents.Correct, VerifyAccept: r.Verify})
		}
	}
	if cal.At.IsZero() {
		c.Reason = "not estimated yet"
	}
	return c
}

func (s *Server) calibration(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Face.Enabled {
		fail(w, badRequest("face recognition is off at this gate"))
		return
	}
	control.WriteJSON(w, s.calibrationState())
}
