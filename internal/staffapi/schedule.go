package staffapi

import (
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/store"
)

// AccessStore is what setting access limits needs of the store.
type AccessStore interface {
	SetResidentAccess(actor, residentID string, a store.Access) (store.Resident, error)
	SetCardValidity(actor, residentID, number string, from, until time.Time) error
	CardValidity(number string) (from, until time.Time, err error)
	ClearPassback(actor, residentID string) error
}

// setAccess is PATCH /v0/residents/{id}/access: a resident's validity
// dates, time profile and group (names of the configuration only), or with
// Card that card's own dates; ClearPassback resets anti-passback.
func (s *Server) setAccess(w http.ResponseWriter, r *http.Request) {
	var in api.Access
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	id := r.PathValue("id")
	st := s.st
	if in.Profile != nil && *in.Profile != "" {
		if _, ok := s.cfg.Schedule.Profiles[*in.Profile]; !ok {
			fail(w, badRequest("profile %q is not in [schedule.profiles] of %s", *in.Profile, s.cfg.Path()))
			return
		}
	}
	if in.Group != nil && *in.Group != "" {
		if _, ok := s.cfg.Schedule.Groups[*in.Group]; !ok {
			fail(w, badRequest("group %q is not in [schedule.groups] of %s", *in.Group, s.cfg.Path()))
			return
		}
	}
	if in.ClearPassback {
		if err := st.ClearPassback(actor(r), id); err != nil {
			fail(w, err)
			return
		}
	}
	if in.Card != "" {
		if in.Profile != nil || in.Group != nil {
			fail(w, badRequest("a card has dates only: its hours are its holder's profile"))
			return
		}
		number, err := cardNumber(in.Card)
		if err != nil {
			fail(w, err)
			return
		}
		from, until, err := st.CardValidity(number)
		if err != nil {
			fail(w, err)
			return
		}
		if in.ValidFrom != nil {
			from = *in.ValidFrom
		}
		if in.ValidUntil != nil {
			until = *in.ValidUntil
		}
		if err := st.SetCardValidity(actor(r), id, number, from, until); err != nil {
			fail(w, err)
			return
		}
		control.WriteJSON(w, api.AccessState{ValidFrom: from, ValidUntil: until, Card: number})
		return
	}
	res, err := s.st.Resident(id)
	if err != nil {
		fail(w, err)
		return
	}
	a := res.Access
	if in.ValidFrom != nil {
		a.ValidFrom = *in.ValidFrom
	}
	if in.ValidUntil != nil {
		a.ValidUntil = *in.ValidUntil
	}
	if in.Profile != nil {
		a.Profile = *in.Profile
	}
	if in.Group != nil {
		a.Group = *in.Group
	}
	if in.ValidFrom != nil || in.ValidUntil != nil || in.Profile != nil || in.Group != nil {
		if res, err = st.SetResidentAccess(actor(r), id, a); err != nil {
			fail(w, err)
			return
		}
	}
	control.WriteJSON(w, accessState(res.Access))
}

func accessState(a store.Access) api.AccessState {
	return api.AccessState{ValidFrom: a.ValidFrom, ValidUntil: a.ValidUntil, Profile: a.Profile, Group: a.Group}
}
