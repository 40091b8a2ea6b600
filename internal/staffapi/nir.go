package staffapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/nir"
)

// NIR registers the gate's colour and near-infrared cameras
// ([camera.nir]): the daemon collects pairs frame pairs with one face in
// each, fits, stores and audits the registration with actor, or says why
// not.
type NIR interface {
	RegisterNIR(ctx context.Context, actor string, pairs int, timeout time.Duration) (nir.Registration, error)
}

// registerNIR runs the guided registration (gated camera nir-register).
func (s *Server) registerNIR(w http.ResponseWriter, r *http.Request) {
	if s.opt.NIR == nil {
		fail(w, badRequest("this gate has no NIR camera ([camera.nir]), or face recognition is off"))
		return
	}
	var in api.NIRRegister
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	if in.Pairs <= 0 {
		in.Pairs = 10
	}
	if in.Pairs < nir.MinPairs || in.Pairs > 100 {
		fail(w, badRequest("pairs %d: use %d to 100", in.Pairs, nir.MinPairs))
		return
	}
	timeout := in.Timeout.Duration
	if timeout <= 0 || timeout > 2*time.Minute {
		timeout = 60 * time.Second
	}
	reg, err := s.opt.NIR.RegisterNIR(r.Context(), actor(r), in.Pairs, timeout)
	if err != nil {
		fail(w, badRequest("NIR registration: %v", err))
		return
	}
	control.WriteJSON(w, api.NIRRegistered{Summary: reg.String(), Scale: reg.Map.Scale(), ShiftX: reg.Map.TX, ShiftY: reg.Map.TY, Residual: reg.Residual, Pairs: reg.Pairs})
}
