package staffapi

import (
	"errors"
	"net/http"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/store"
)

// Compound is the gate's side of a compound (internal/compound, through
// the daemon): join, status, import of a records bundle, export of an
// event bundle. Nil: the routes answer that the gate has none.
type Compound interface {
	Join(actor, officeKey, name, gate string) (api.Compound, error)
	Status() (api.Compound, error)
	Import(actor string, raw []byte) (api.Imported, error)
	Export() (api.BundleFile, error)
}

// maxBundleJSON bounds an import request: a bundle of 64 MiB in base64.
const maxBundleJSON = 90 << 20

func (s *Server) compoundRoutes() []route {
	R, W, A := control.RoleRead, control.RoleWrite, control.RoleAdmin
	return []route{
		{"GET /v0/compound", R, false, s.compoundStatus},
		{"POST /v0/compound/join", A, true, s.compoundJoin},
		{"POST /v0/compound/import", W, true, s.compoundImport},
		{"POST /v0/compound/export", W, true, s.compoundExport},
	}
}

func (s *Server) compoundOff(w http.ResponseWriter) bool {
	if s.opt.Compound == nil {
		writeError(w, http.StatusNotFound, errors.New("this gated has no compound support"))
		return true
	}
	return false
}

// compoundFail answers like fail, with refusals of a bundle and changes
// to the office's records as conflicts, not server errors.
func compoundFail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrImport) || errors.Is(err, store.ErrManaged) || errors.Is(err, store.ErrNotMember) ||
		errors.Is(err, bundle.ErrRefused) || errors.Is(err, bundle.ErrPayload) {
		writeError(w, http.StatusConflict, err)
		return
	}
	fail(w, err)
}

func (s *Server) compoundStatus(w http.ResponseWriter, r *http.Request) {
	if s.compoundOff(w) {
		return
	}
	c, err := s.opt.Compound.Status()
	if err != nil {
		compoundFail(w, err)
		return
	}
	control.WriteJSON(w, c)
}

func (s *Server) compoundJoin(w http.ResponseWriter, r *http.Request) {
	if s.compoundOff(w) {
		return
	}
	var in api.CompoundJoin
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	c, err := s.opt.Compound.Join(actor(r), in.Office, in.Compound, in.Gate)
	if err != nil {
		compoundFail(w, err)
		return
	}
	control.WriteJSON(w, c)
}

func (s *Server) compoundImport(w http.ResponseWriter, r *http.Request) {
	if s.compoundOff(w) {
		return
	}
	var in api.BundleFile
	if !readJSON(w, r, maxBundleJSON, &in) {
		return
	}
	res, err := s.opt.Compound.Import(actor(r), in.Bytes)
	if err != nil && !errors.Is(err, store.ErrPending) {
		compoundFail(w, err)
		return
	}
	control.WriteJSON(w, res)
}

func (s *Server) compoundExport(w http.ResponseWriter, r *http.Request) {
	if s.compoundOff(w) {
		return
	}
	f, err := s.opt.Compound.Export()
	if err != nil {
		compoundFail(w, err)
		return
	}
	control.WriteJSON(w, f)
}
