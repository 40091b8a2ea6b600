package staffapi

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/store"
)

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > auditLimit {
		limit = auditLimit
	}
	out := []api.AuditEntry{}
	errEnough := errors.New("enough")
	err := s.st.ForEachAudit(from, func(e store.AuditEntry) error {
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

func (s *Server) verifyAudit() (api.AuditVerify, error) {
	rep, err := s.st.VerifyAudit()
	v := api.AuditVerify{OK: err == nil, Entries: rep.Entries}
	if err != nil {
		if !errors.Is(err, store.ErrAuditBroken) {
			return v, err
		}
		v.Problem, v.FirstBad = rep.Problem, rep.FirstBad
	}
	return v, nil
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) {
	v, err := s.verifyAudit()
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, v)
}

func (s *Server) notice(w http.ResponseWriter, r *http.Request) {
	n, err := s.notices(r.URL.Query().Get("lang"))
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	control.WriteJSON(w, api.Notice{Version: n.Version, Language: n.Language, Text: n.Text, SHA256: n.SHA256})
}

func (s *Server) rotate(w http.ResponseWriter, r *http.Request) {
	var in api.RotateKey
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	if !filepath.IsAbs(in.NewKeyFile) {
		fail(w, badRequest("new key file %q: give an absolute path", in.NewKeyFile))
		return
	}
	k, err := s.dev.LoadKey(in.NewKeyFile)
	if err != nil {
		fail(w, err)
		return
	}
	old := s.st.KEKFingerprint()
	if k.Fingerprint() == old {
		fail(w, badRequest("%s is the key in use (%s): make a new one with gated keygen", in.NewKeyFile, old))
		return
	}
	finish, err := s.dev.BeginRotation(in.NewKeyFile)
	if err != nil {
		fail(w, fmt.Errorf("key not rotated: %w", err))
		return
	}
	err = s.faces.RotateKEK(actor(r), k)
	// The store says what it is sealed with now: an error after the
	// rotation committed (the rewrite, the old backups) leaves it rotated.
	rotated := s.st.KEKFingerprint() != old
	finish(rotated, k)
	if !rotated {
		fail(w, fmt.Errorf("key not rotated: %w", err))
		return
	}
	out := api.Rotated{Old: old, New: k.Fingerprint()}
	if err != nil {
		out.Warning = err.Error()
		s.log.Error("staffapi: device key rotated, but not all that follows it", "err", err)
	}
	s.log.Warn("staffapi: device key rotated: move the new key file into place before the next start", "old", old, "new", k.Fingerprint(), "file", in.NewKeyFile)
	control.WriteJSON(w, out)
}

// backup streams a backup of the store. An error before the first byte is
// answered as such; one after it cuts the answer short, so the client never
// takes a partial copy for a backup.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	n, err := s.st.Backup(actor(r), w)
	switch {
	case err == nil:
	case n == 0:
		w.Header().Del("Content-Type")
		fail(w, fmt.Errorf("backup refused: %w", err))
	default:
		s.log.Error("staffapi: backup cut short", "err", err, "bytes", n)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) backups(w http.ResponseWriter, r *http.Request) {
	bs, err := s.dev.Backups()
	if err != nil {
		fail(w, err)
		return
	}
	if bs == nil {
		bs = []api.Backup{}
	}
	control.WriteJSON(w, bs)
}

// restore stages an uploaded backup after the daemon checked that it opens
// with this gate's key; the gate then starts again on it.
func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	if err := s.dev.StageRestore(actor(r), http.MaxBytesReader(w, r.Body, maxBackup)); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	control.WriteJSON(w, struct{}{})
}

// restoreBackup stages one of the gate's own automatic backups.
func (s *Server) restoreBackup(w http.ResponseWriter, r *http.Request) {
	var in api.RestoreFrom
	if !readJSON(w, r, maxJSON, &in) {
		return
	}
	if err := s.dev.RestoreBackup(actor(r), in.Backup); err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, struct{}{})
}
