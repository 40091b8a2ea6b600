package staffapi

import (
	"net/http"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/store"
)

// Passes is what the staff API needs of the store for visitor passes.
type Passes interface {
	AddPass(actor string, p store.NewPass) (store.IssuedPass, error)
	Passes() ([]store.Pass, error)
	RevokePass(actor, id string) error
}

func (s *Server) apiPass(p store.Pass) api.Pass {
	return api.Pass{ID: p.ID, Name: p.Name, Issuer: p.Issuer, Reader: p.Reader, From: p.From, Until: p.Until,
		Uses: p.Uses, Used: p.Used, State: p.State(s.opt.Now()), CreatedAt: p.CreatedAt, LastUsed: p.LastUsed}
}

// addPass issues a pass; the answer is the only time the code and the QR
// payload leave the store.
func (s *Server) addPass(w http.ResponseWriter, r *http.Request) {
	var in api.NewPass
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	p, err := s.st.AddPass(actor(r), store.NewPass{Name: in.Name, Reader: in.Reader, From: in.From, Until: in.Until, Uses: in.Uses})
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, api.IssuedPass{Pass: s.apiPass(p.Pass), Code: p.Code, QR: p.QR})
}

func (s *Server) passes(w http.ResponseWriter, r *http.Request) {
	ps, err := s.st.Passes()
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]api.Pass, 0, len(ps))
	for _, p := range ps {
		out = append(out, s.apiPass(p))
	}
	control.WriteJSON(w, out)
}

func (s *Server) revokePass(w http.ResponseWriter, r *http.Request) {
	if err := s.st.RevokePass(actor(r), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}
