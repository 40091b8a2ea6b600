package daemon

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// FilingThreshold is the number of people whose face data a device may hold
// before its operator must file with the regulator (the 2025 Facial
// Recognition Technology Application Security Management Measures).
const FilingThreshold = 100_000

func (d *daemon) handleReport(w http.ResponseWriter, r *http.Request) {
	rep, err := d.report()
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, rep)
}

func (d *daemon) report() (api.Report, error) {
	ss, err := d.db.Stats()
	if err != nil {
		return api.Report{}, err
	}
	v, err := d.verifyAudit()
	if err != nil {
		return api.Report{}, err
	}
	p := d.cfg.Privacy
	days := int(p.Retention.Duration / (24 * time.Hour))
	rep := api.Report{
		Device:          d.cfg.Device.Name,
		GeneratedAt:     time.Now().UTC(),
		Controller:      p.Controller,
		Contact:         p.Contact,
		PeopleWithFace:  ss.ResidentsWithFace,
		FilingThreshold: FilingThreshold,
		FilingShare:     float64(ss.ResidentsWithFace) / FilingThreshold,
		FilingRequired:  ss.ResidentsWithFace >= FilingThreshold,
		Residents:       ss.Residents,
		Templates:       ss.Templates,
		Purposes:        []string{"opening this gate for residents who chose face recognition"},
		Method: fmt.Sprintf("on-device matching of face templates (%s, %d numbers per template) against the camera's frames; %d consecutive frames must agree",
			d.model, d.dim, d.cfg.Face.Frames),
		Storage:          "this device only, in " + d.cfg.Device.DataDir + "; templates encrypted with AES-256-GCM under a per-resident key wrapped by the device key; no photo kept; nothing sent over any network",
		Retention:        fmt.Sprintf("%d days from consent, then destroyed unless the resident consents again", days),
		DeletionPolicy:   "on opt-out or deletion: at once (the law allows 15 working days); the store file is rewritten so no copy of the data remains in it; a receipt is given",
		NoticeVersion:    p.NoticeVersion,
		ConsentsByNotice: ss.ConsentsByNotice,
		WithdrawnConsent: ss.WithdrawnConsent,
		Deletions:        []api.Deletion{},
		Security: []string{
			"face templates: AES-256-GCM, per-resident data keys wrapped by the device key " + ss.KEKFingerprint + " (key never stored with the data)",
			"cards: HMAC-SHA-256 under a device secret; PINs: argon2id, peppered",
			"no network listener: staff use a local unix socket (mode 0660, group " + d.cfg.Control.StaffGroup + "), each request logged with the caller's uid",
			"card and PIN always available; face never the only way in",
			"tamper-evident audit log (SHA-256 hash chain, sealed head)",
		},
		Audit:          v,
		AuditRetention: "kept at least 3 years; never purged by gated",
		FaceMode:       "off",
	}
	if d.cfg.Face.Enabled {
		cal := d.calibrationState()
		rep.Calibration = &cal
		mode, p := d.gate.FaceMode()
		rep.FaceMode = mode.String()
		if mode != gate.FaceOff {
			rep.FaceMode += fmt.Sprintf(" (threshold %.2f, margin %.2f)", p.Threshold, p.MinMargin)
		}
		rep.FaceMode += ": " + cal.Reason
	}
	for _, del := range ss.Deletions {
		ad := d.apiDeletion(del)
		if !ad.OnTime {
			rep.LateDeletions++
		}
		rep.Deletions = append(rep.Deletions, ad)
	}
	rep.Calendar = "Monday to Friday"
	if d.cfg.Privacy.Holidays != "" {
		rep.Calendar = "Monday to Friday, with the holidays and make-up working days of " + d.cfg.Privacy.Holidays
	}
	rep.Calendar += " (" + d.cal.Location.String() + ")"
	rep.Expiring = []api.Expiry{}
	var ids []store.Resident
	if err := d.db.ForEachResident(func(r store.Resident) error { ids = append(ids, r); return nil }); err != nil {
		return rep, err
	}
	soon := time.Now().AddDate(0, 0, 30)
	for _, r := range ids {
		cs, err := d.db.Consents(r.ID)
		if err != nil || len(cs) == 0 {
			continue
		}
		rc := make([]retention.Consent, len(cs))
		for i, c := range cs {
			rc[i] = retention.Consent{GivenAt: c.GivenAt, WithdrawnAt: c.WithdrawnAt}
		}
		if at, ok := retention.Expires(d.cfg.Privacy.Retention.Duration, rc); ok && at.Before(soon) {
			rep.Expiring = append(rep.Expiring, api.Expiry{Resident: r.ID, Name: r.Name, At: at})
		}
	}
	return rep, nil
}
