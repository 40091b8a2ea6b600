package staffapi

import (
	"encoding/json"
	"math"
	"net/http"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/gate"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	out := api.Status{Device: s.cfg.Device.Name, Version: s.opt.Version, StartedAt: s.opt.Started, Degraded: s.opt.Degraded}
	out.Face = api.FaceState{Enabled: s.cfg.Face.Enabled, Mode: "off"}
	ss, err := s.st.Stats()
	if err != nil {
		fail(w, err)
		return
	}
	if s.cfg.Face.Enabled && s.opt.Degraded == "" {
		cal := s.calibrationState()
		mode, policy := s.gate.FaceMode()
		out.Face.Mode, out.Face.Model, out.Face.Calibration = mode.String(), s.cfg.Face.Model, &cal
		out.Face.Threshold, out.Face.Margin, out.Face.Frames = policy.Threshold, policy.MinMargin, s.cfg.Face.Frames
		out.Face.Residents, out.Face.Templates = s.faces.Len()
		out.Face.OtherModel = max(ss.ResidentsWithFace-out.Face.Residents, 0)
		out.Camera = s.dev.Camera()
	}
	out.Readers = s.dev.Readers()
	out.Alarms = s.dev.Alarms()
	out.Door = s.gate.DoorState()
	for _, a := range out.Alarms {
		if a == ReadersDown {
			out.Alarm = a
		}
	}
	st := s.gate.Stats()
	out.Decisions = api.Decisions{Granted: map[string]int{}, Denied: map[string]int{}}
	for k, v := range st.Granted {
		out.Decisions.Granted[string(k)] = v
	}
	for k, v := range st.Denied {
		out.Decisions.Denied[string(k)] = v
	}
	if st.Last != nil {
		d := apiDecision(*st.Last)
		out.Last = &d
	}
	out.Store = api.StoreSummary{Residents: ss.Residents, ResidentsWithFace: ss.ResidentsWithFace, Templates: ss.Templates,
		AuditEntries: ss.AuditEntries, FileBytes: ss.FileBytes, KEK: ss.KEKFingerprint, PendingDestructions: ss.PendingDestructions}
	if bs, err := s.dev.Backups(); err == nil && len(bs) > 0 {
		out.Store.Backups, out.Store.NewestBackup = len(bs), bs[0].Taken
	}
	control.WriteJSON(w, out)
}

// ReadersDown is the alarm standing while every card and PIN reader is
// down; the daemon's Device.Alarms uses these words.
const ReadersDown = "every card and PIN reader is down: only enrolled faces can get in"

func apiDecision(g gate.Decision) api.Decision {
	d := api.Decision{Time: g.Time, Method: string(g.Method), Outcome: string(g.Outcome), Resident: g.Resident, Name: g.Name, Reader: g.Reader, Pass: g.Pass, Reason: g.Reason, Distance: g.Distance}
	if f := float64(g.Distance); math.IsInf(f, 0) || math.IsNaN(f) {
		d.Distance = 0 // JSON has no infinity: an empty gallery's "no match"
	}
	if g.Method == gate.MethodFace && g.Resident != "" && !math.IsInf(float64(g.Margin), 0) && !math.IsNaN(float64(g.Margin)) {
		m := g.Margin
		d.Margin = &m
	}
	return d
}

// decisions streams decisions as JSON lines until the client leaves.
func (s *Server) decisions(w http.ResponseWriter, r *http.Request) {
	ch, stop := s.gate.Subscribe()
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
