package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/store"
)

// calibration is the daemon's latest judgement of how faces may be used.
type calibration struct {
	mu       sync.Mutex
	at       time.Time
	mode     gate.FaceMode
	policy   match.Policy
	reason   string
	stranger float64 // upper bound per attempt, 0 when not estimated
	est      *calibrate.Estimate
	again    chan struct{} // asks the loop to calibrate again
}

// calibrationLoop estimates at start and again after each change of the
// gallery (enrollment, opt-out, purge), and sets the gate's face mode.
func (d *daemon) calibrationLoop(ctx context.Context) error {
	for {
		d.recalibrate()
		select {
		case <-ctx.Done():
			return nil
		case <-d.calib.again:
		}
		// Let a burst of enrollments settle before the next estimate.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// galleryChanged asks for a new calibration.
func (d *daemon) galleryChanged() {
	select {
	case d.calib.again <- struct{}{}:
	default:
	}
}

// recalibrate estimates from the enrolled templates and decides the face
// mode: identification only where a stranger's chance of being let in is
// under face.target, verification with a card where the 1:1 rate is, off
// otherwise. Without calibration (face.calibrate = false) the configured
// policy is kept, but identification is still refused once the gallery is
// large enough to show it misses the target.
func (d *daemon) recalibrate() {
	if d.gallery == nil {
		return
	}
	start := time.Now()
	tmpl := calibrate.Templates{}
	err := d.db.ForEachTemplate(d.model, func(t store.Template) error {
		tmpl[t.ResidentID] = append(tmpl[t.ResidentID], append([]float32(nil), t.Vector...))
		return nil
	})
	if err != nil {
		d.log.Error("daemon: calibration: load templates", "err", err)
		return
	}
	cfg := d.cfg.Face
	fixed := match.Policy{Threshold: float32(cfg.Threshold), MinMargin: float32(cfg.Margin)}
	est, err := calibrate.Fit(tmpl, calibrate.Config{Target: cfg.Target})
	mode, policy, reason, stranger := gate.FaceOff, match.Policy{}, "", 0.0
	switch {
	case err != nil && !errors.Is(err, calibrate.ErrTooFew):
		reason = "calibration failed: " + err.Error()
	case errors.Is(err, calibrate.ErrTooFew) && cfg.Calibrate:
		reason = fmt.Sprintf("face not used yet: %d residents enrolled, at least 10 are needed to show that a stranger's chance stays under %.2g (card and PIN work)", len(tmpl), cfg.Target)
	case errors.Is(err, calibrate.ErrTooFew):
		mode, policy = gate.FaceIdentify, fixed
		reason = fmt.Sprintf("NOT CALIBRATED: %d residents is too few to estimate; identification at the configured threshold %.2f (face.calibrate = false)", len(tmpl), fixed.Threshold)
	case cfg.Calibrate:
		dec := est.Choose()
		mode, policy, reason, stranger = faceMode(dec.Mode), dec.Policy, dec.Reason, dec.Stranger
	default: // fixed policy, checked
		_, stranger = est.StrangerAccept(fixed)
		switch {
		case est.CheckIdentify(fixed) == nil:
			mode, policy = gate.FaceIdentify, fixed
			reason = fmt.Sprintf("identify at the configured threshold %.2f: a stranger's chance up to %.2g per attempt, within the target %.2g", fixed.Threshold, stranger, cfg.Target)
		case est.CheckVerify(fixed.Threshold) == nil:
			mode, policy = gate.FaceVerify, fixed
			_, stranger = est.PairFMR(fixed.Threshold)
			reason = fmt.Sprintf("identification REFUSED (the configured threshold %.2f would let a stranger in with probability up to %.2g per attempt, target %.2g): face confirms a card instead", fixed.Threshold, stranger, cfg.Target)
		default:
			reason = fmt.Sprintf("face REFUSED: the configured threshold %.2f misses the target %.2g even with a card", fixed.Threshold, cfg.Target)
		}
	}
	if d.cfg.Access.Card == "card" && mode == gate.FaceVerify {
		// A card alone opens this gate: a face confirming it adds nothing.
		reason += " (but a card alone opens this gate, so face is not used)"
		mode = gate.FaceOff
	}
	if err := d.gate.SetFace(mode, policy); err != nil {
		d.log.Error("daemon: calibration: set face mode", "err", err)
		d.gate.SetFace(gate.FaceOff, match.Policy{})
		mode = gate.FaceOff
	}
	if d.kiosk != nil {
		d.kiosk.SetFaceMode(mode)
	}
	d.calib.mu.Lock()
	d.calib.at, d.calib.mode, d.calib.policy, d.calib.reason, d.calib.stranger, d.calib.est = time.Now(), mode, policy, reason, stranger, est
	d.calib.mu.Unlock()
	d.log.Info("daemon: calibration", "mode", mode.String(), "threshold", policy.Threshold, "margin", policy.MinMargin,
		"stranger_upper", stranger, "residents", len(tmpl), "took", time.Since(start).Round(time.Millisecond), "reason", reason)
}

func faceMode(m calibrate.Mode) gate.FaceMode {
	switch m {
	case calibrate.Identify:
		return gate.FaceIdentify
	case calibrate.Verify:
		return gate.FaceVerify
	}
	return gate.FaceOff
}

// calibrationState is what status, report and gated calibrate show.
func (d *daemon) calibrationState() api.Calibration {
	d.calib.mu.Lock()
	defer d.calib.mu.Unlock()
	c := api.Calibration{At: d.calib.at, Mode: d.calib.mode.String(), Threshold: d.calib.policy.Threshold, Margin: d.calib.policy.MinMargin,
		Reason: d.calib.reason, StrangerUpper: d.calib.stranger, Target: d.cfg.Face.Target, Calibrated: d.cfg.Face.Calibrate}
	if e := d.calib.est; e != nil {
		c.Residents = e.Residents
		for _, r := range e.TradeOffAt() {
			c.TradeOff = append(c.TradeOff, api.TradeOff{Threshold: r.Policy.Threshold, Margin: r.Policy.MinMargin,
				StrangerUpper: r.StrangerUpper, PairFMRUpper: r.PairFMRUpper, ResidentsCorrect: r.Residents.Correct, VerifyAccept: r.Verify})
		}
	}
	return c
}

func (d *daemon) handleCalibration(w http.ResponseWriter, r *http.Request) {
	if d.gallery == nil {
		fail(w, badRequest("face recognition is off at this gate"))
		return
	}
	control.WriteJSON(w, d.calibrationState())
}
