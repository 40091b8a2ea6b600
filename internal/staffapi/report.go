package staffapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	rep, err := s.buildReport()
	if err == nil {
		rep.Activity, err = s.activity(r)
	}
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, rep)
}

// buildReport is what a data controller must be able to show.
func (s *Server) buildReport() (api.Report, error) {
	ss, err := s.st.Stats()
	if err != nil {
		return api.Report{}, err
	}
	v, err := s.verifyAudit()
	if err != nil {
		return api.Report{}, err
	}
	p := s.cfg.Privacy
	days := int(p.Retention.Duration / (24 * time.Hour))
	rep := api.Report{
		Device:          s.cfg.Device.Name,
		GeneratedAt:     s.opt.Now().UTC(),
		Controller:      p.Controller,
		Contact:         p.Contact,
		PeopleWithFace:  ss.ResidentsWithFace,
		FilingThreshold: FilingThreshold,
		FilingShare:     float64(ss.ResidentsWithFace) / FilingThreshold,
		FilingRequired:  ss.ResidentsWithFace >= FilingThreshold,
		Residents:       ss.Residents,
		Templates:       ss.Templates,
		Purposes:        []string{"opening this gate for residents who chose face recognition"},
		Method: fmt.Sprintf("on-device matching of face templates (%s) against the camera's frames; the descriptors of %d frames of one face are averaged before matching",
			s.cfg.Face.Model, s.cfg.Face.Frames),
		Storage:          "this device only, in " + s.cfg.Device.DataDir + "; templates encrypted with AES-256-GCM under a per-resident key wrapped by the device key; no photo kept; nothing sent over any network",
		Retention:        fmt.Sprintf("%d days from consent, then destroyed unless the resident consents again", days),
		DeletionPolicy:   "on opt-out or deletion: at once (the law allows 15 working days); the store file and the gate's automatic backups are rewritten so no copy of the data remains in them; a receipt is given; a rewrite that cannot finish (a full disk) is listed here as pending and retried until done",
		NoticeVersion:    p.NoticeVersion,
		ConsentsByNotice: ss.ConsentsByNotice,
		WithdrawnConsent: ss.WithdrawnConsent,
		Deletions:        []api.Deletion{},
		Pending:          []api.Pending{},
		Security: []string{
			"face templates: AES-256-GCM, per-resident data keys wrapped by the device key " + ss.KEKFingerprint + " (key never stored with the data)",
			"cards: HMAC-SHA-256 under a device secret; PINs: argon2id, peppered; wrong PINs lock the card, counted across restarts",
			"no network listener: staff use a local unix socket (mode 0660, group " + s.cfg.Control.StaffGroup + "), each request checked against the caller's role and logged with the caller's uid",
			"card and PIN always available; face never the only way in; the door is commanded locked at start and after any stop",
			"tamper-evident audit log (SHA-256 hash chain, sealed head)",
		},
		Audit:          v,
		AuditRetention: "kept at least 3 years; never purged by gated",
		FaceMode:       "off",
	}
	if s.cfg.Face.Enabled && s.opt.Degraded == "" {
		cal := s.calibrationState()
		rep.Calibration = &cal
		mode, pol := s.gate.FaceMode()
		rep.FaceMode = mode.String()
		if mode != calibrate.Off {
			rep.FaceMode += fmt.Sprintf(" (threshold %.2f, margin %.2f)", pol.Threshold, pol.MinMargin)
		}
		rep.FaceMode += ": " + cal.Reason
	}
	for _, del := range ss.Deletions {
		ad := s.apiDeletion(del)
		if !ad.OnTime {
			rep.LateDeletions++
		}
		rep.Deletions = append(rep.Deletions, ad)
	}
	pend, err := s.st.PendingDestructions()
	if err != nil {
		return rep, err
	}
	for _, pd := range pend {
		rep.Pending = append(rep.Pending, api.Pending{ReceiptID: pd.ReceiptID, Resident: pd.ResidentID, Since: pd.Since, Attempts: pd.Attempts, LastError: pd.LastError})
	}
	rep.Calendar = "Monday to Friday"
	if p.Holidays != "" {
		rep.Calendar = "Monday to Friday, with the holidays and make-up working days of " + p.Holidays
	}
	rep.Calendar += " (" + s.opt.Calendar.Location.String() + ")"
	rep.Expiring = []api.Expiry{}
	var rs []store.Resident
	if err := s.st.ForEachResident(func(r store.Resident) error { rs = append(rs, r); return nil }); err != nil {
		return rep, err
	}
	soon := s.opt.Now().AddDate(0, 0, 30)
	for _, r := range rs {
		cs, err := s.st.Consents(r.ID)
		if err != nil || len(cs) == 0 {
			continue
		}
		rc := make([]retention.Consent, len(cs))
		for i, c := range cs {
			rc[i] = retention.Consent{GivenAt: c.GivenAt, WithdrawnAt: c.WithdrawnAt}
		}
		if at, ok := retention.Expires(p.Retention.Duration, rc); ok && at.Before(soon) {
			rep.Expiring = append(rep.Expiring, api.Expiry{Resident: r.ID, Name: r.Name, At: at})
		}
	}
	return rep, nil
}
