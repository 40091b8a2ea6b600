package staffapi

import (
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/store"
)

func (s *Server) apiResident(r store.Resident, full bool) (api.Resident, error) {
	out := api.Resident{ID: r.ID, Name: r.Name, Unit: r.Unit, Status: r.Status.String(), Minor: r.Minor, GuardianID: r.GuardianID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if !r.Access.Zero() {
		a := accessState(r.Access)
		out.Access = &a
	}
	var err error
	if out.Face, err = s.st.HasFaceData(r.ID); err != nil {
		return out, err
	}
	// A PIN is known to exist when checking one does not say "not found".
	if _, err := s.st.VerifyPIN(r.ID, "-"); err == nil {
		out.HasPIN = true
	} else if !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if !full {
		return out, nil
	}
	ts, err := s.st.Templates(r.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNoFaceData) {
		return out, err
	}
	out.Templates = len(ts)
	cs, err := s.st.Consents(r.ID)
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

func (s *Server) residents(w http.ResponseWriter, r *http.Request) {
	var rs []store.Resident
	if err := s.st.ForEachResident(func(res store.Resident) error { rs = append(rs, res); return nil }); err != nil {
		fail(w, err)
		return
	}
	// Face and PIN presence are looked up outside the store's iteration.
	out := make([]api.Resident, 0, len(rs))
	for _, res := range rs {
		a, err := s.apiResident(res, false)
		if err != nil {
			fail(w, err)
			return
		}
		out = append(out, a)
	}
	control.WriteJSON(w, out)
}

// answerResident writes a resident in full, or the error.
func (s *Server) answerResident(w http.ResponseWriter, res store.Resident, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	out, err := s.apiResident(res, true)
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, out)
}

func (s *Server) addResident(w http.ResponseWriter, r *http.Request) {
	var in api.NewResident
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	res, err := s.st.AddResident(actor(r), store.Resident{Name: in.Name, Unit: in.Unit, Minor: in.Minor, GuardianID: in.GuardianID})
	s.answerResident(w, res, err)
}

func (s *Server) resident(w http.ResponseWriter, r *http.Request) {
	res, err := s.st.Resident(r.PathValue("id"))
	s.answerResident(w, res, err)
}

func (s *Server) updateResident(w http.ResponseWriter, r *http.Request) {
	var in api.ResidentUpdate
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	res, err := s.st.Resident(r.PathValue("id"))
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
	res, err = s.st.UpdateResident(actor(r), res)
	s.answerResident(w, res, err)
}

func (s *Server) deleteResident(w http.ResponseWriter, r *http.Request) {
	var in api.Reason
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	rec, err := s.faces.DeleteResident(actor(r), r.PathValue("id"), in.Reason)
	s.answerDeletion(w, rec, err)
}

func (s *Server) card(assign bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in api.Card
		if !readJSON(w, r, maxJSON, &in) {
			return
		}
		number, err := cardNumber(in.Number)
		if err != nil {
			fail(w, err)
			return
		}
		if assign {
			err = s.st.AssignCard(actor(r), r.PathValue("id"), number)
		} else {
			err = s.st.RevokeCard(actor(r), r.PathValue("id"), number)
		}
		if err != nil {
			fail(w, err)
			return
		}
		control.WriteJSON(w, api.Card{Number: number})
	}
}

func (s *Server) setPIN(w http.ResponseWriter, r *http.Request) {
	var in api.PIN
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	if n := s.cfg.MaxPIN(); len(in.PIN) > n {
		fail(w, badRequest("a PIN of %d digits cannot be typed on this gate's keypads (max_digits %d): choose 4 to %d digits", len(in.PIN), n, n))
		return
	}
	if err := s.st.SetPIN(actor(r), r.PathValue("id"), in.PIN); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}

func (s *Server) clearPIN(w http.ResponseWriter, r *http.Request) {
	if err := s.st.ClearPIN(actor(r), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}

// readJSON decodes a request body strictly, answering 400 when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if err := control.ReadJSON(r, limit, v); err != nil {
		fail(w, badRequest("%v", err))
		return false
	}
	return true
}
