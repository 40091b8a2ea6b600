package staffapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/records"
	"github.com/gated-dev/gated/internal/store"
)

// reportPeriod is the activity gated report covers when not told.
const reportPeriod = 30 * 24 * time.Hour

// period reads ?from= and ?to= (RFC 3339; either may be missing).
func period(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return from, to, badRequest("%s=%q: want an RFC 3339 time", p.name, v)
			}
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, badRequest("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// auditExport streams the entries recorded in ?from= to ?to= (default:
// all) as ?format=csv|jsonl, ends with the chain's check (records.Finish),
// and sends the check again as the api.AuditExportTrailer. The export
// itself is audited: who took a copy of the log, of which entries.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	f, err := records.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	from, to, err := period(r)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("Trailer", api.AuditExportTrailer)
	x := records.NewWriter(w, f)
	rg, err := s.st.WalkAuditRange(from, to, x.Entry)
	if err != nil {
		// The status is sent: without the trailer the client says the
		// export did not finish.
		s.log.Error("staffapi: audit export", "err", err)
		return
	}
	sum := records.Summary(s.cfg.Device.Name, f, rg)
	if err := x.Finish(sum); err != nil {
		s.log.Error("staffapi: audit export", "err", err)
		return
	}
	b, _ := json.Marshal(sum)
	w.Header().Set(api.AuditExportTrailer, string(b))
	state := "chain verified"
	if !rg.OK() {
		state = fmt.Sprintf("chain BROKEN at %d", rg.FirstBad)
	}
	s.auditEvent(store.Event{Kind: store.KindAdmin, Actor: actor(r), Outcome: "exported",
		Detail: store.Detail(fmt.Sprintf("audit export %s of %d entries seq %d-%d; %s", f, rg.Exported, rg.First, rg.Last, state))})
}

// activity is the audit log's account of ?from= to ?to= (default: the
// last 30 days) for gated report.
func (s *Server) activity(r *http.Request) (*api.Activity, error) {
	from, to, err := period(r)
	if err != nil {
		return nil, err
	}
	if to.IsZero() {
		to = s.opt.Now().UTC()
	}
	if from.IsZero() {
		from = to.Add(-reportPeriod)
	}
	t := records.NewTally()
	rg, err := s.st.WalkAuditRange(from, to, func(rec store.AuditRecord) error { t.Add(rec); return nil })
	if err != nil {
		return nil, err
	}
	a := t.Activity(rg)
	return &a, nil
}
