package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/nir"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/recognizer/nirface"
	"github.com/gated-dev/gated/internal/store"
)

// nirState is the near-infrared camera pair's ([camera.nir]) part of the
// daemon: the pair (nil without [camera.nir], or with face off), and the
// camera loop's rate limit on logging failed checks.
type nirState struct {
	chk    *nirface.Pair
	warned time.Time // the camera loop's own
}

// openNIR loads the NIR check when [camera.nir] is set: configured and
// unloadable turns face off (as face.liveness does), never on. Without a
// usable registration the check fails closed, and an alarm says so.
func (d *daemon) openNIR() (faceOn bool) {
	chk, err := nirface.Load(d.cfg.Device.ModelsDir)
	if err != nil {
		d.alarm("models", fmt.Sprintf("face recognition is off: the NIR camera's face detector ([camera.nir]) could not load: %v (card and PIN work)", err))
		return false
	}
	d.nir.chk = nirface.NewPair(chk)
	d.loadNIRRegistration()
	d.log.Info("daemon: NIR camera check loaded", "layer", d.livenessLayer())
	return true
}

// loadNIRRegistration reads the stored registration; without a usable one
// every face is refused as not live, and an alarm says so.
func (d *daemon) loadNIRRegistration() {
	reg, err := nir.Load(d.db)
	switch {
	case errors.Is(err, nir.ErrNotRegistered):
		d.alarm("nir", "the NIR camera ([camera.nir]) is not registered: every face is refused as not live until staff run gated camera nir-register (card and PIN work)")
	case err != nil:
		d.alarm("nir", fmt.Sprintf("%v: every face is refused as not live until staff run gated camera nir-register again (card and PIN work)", err))
	default:
		d.nir.chk.SetRegistration(reg)
		d.alarm("nir", "")
	}
}

// openPairedCamera opens the colour and NIR cameras as one source when
// [camera.nir] names a device; ok is false otherwise.
func (d *daemon) openPairedCamera() (source, bool, error) {
	c := d.cfg.Camera
	if d.nir.chk == nil || c.NIR.Device == "" {
		return nil, false, nil
	}
	p, err := camera.OpenPair(c.Device, c.NIR.Device, camera.DeviceOptions{Width: c.Width, Height: c.Height, FPS: c.FPS},
		camera.DeviceOptions{Width: c.NIR.Width, Height: c.NIR.Height, FPS: c.NIR.FPS}, c.NIR.MaxSkew.Duration)
	return p, true, err
}

// nirFolder is the folder of NIR partners of a file source ("" for none).
func (d *daemon) nirFolder() string {
	if d.nir.chk == nil {
		return ""
	}
	return d.cfg.Camera.NIR.Files
}

// padFrame is what PAD says of the face at box in one frame, for the
// gate's Observation: nil when no layer is on or the gate cannot use it
// now, or when the passive layer could not judge the frame (the gate fails
// closed on nil). With an NIR camera, the frame carries the NIR check.
//
// unjudged is true when PAD is fitted but the gate did not want it for this
// frame (faces off): the gate drops such a frame if the mode changed while
// it was on its way, instead of refusing it as an attack.
func (d *daemon) padFrame(fr camera.Frame, f recognizer.Face) (lf *liveness.Frame, unjudged bool) {
	box := f.Rect
	if d.pad == nil && d.nir.chk == nil {
		return nil, false
	}
	if !d.gate.WantsLiveness() {
		return nil, true
	}
	var frame liveness.Frame
	if d.pad != nil {
		var err error
		if frame, err = d.pad.Frame(fr.Mat, box); err != nil {
			if time.Since(d.cam.padWarned) > 10*time.Second { // rate-limited: per frame
				d.cam.padWarned = time.Now()
				d.log.Warn("daemon: presentation-attack detection failed on a frame", "err", err)
			}
			return nil, false
		}
	}
	if d.nir.chk != nil {
		frame.NIR = d.nirCheck(fr, f)
	}
	return &frame, false
}

// nirCheck is the NIR check of the face f, its failures logged at most
// every 10 s.
func (d *daemon) nirCheck(fr camera.Frame, f recognizer.Face) liveness.NIRState {
	r := d.nir.chk.Check(fr, f)
	if r.State != liveness.NIRPassed && time.Since(d.nir.warned) > 10*time.Second { // rate-limited: per frame
		d.nir.warned = time.Now()
		d.log.Info("daemon: NIR check did not pass", "state", r.State.String(), "why", r.Reason, "iou", r.IoU)
	}
	return r.State
}

// nirRegistering reports whether a registration is collecting frames.
func (d *daemon) nirRegistering() bool { return d.nir.chk != nil && d.nir.chk.Registering() }

// nirOffer gives a frame to a registration in progress; true when one is.
func (d *daemon) nirOffer(fr camera.Frame, faces []recognizer.Face) bool {
	return d.nir.chk != nil && d.nir.chk.Offer(fr, faces)
}

// RegisterNIR collects pairs frame pairs with one face in each within
// timeout, fits the registration, stores it (the store audits the change
// with actor) and uses it; a fit that is poor or degenerate is refused.
func (d *daemon) RegisterNIR(ctx context.Context, actor string, pairs int, timeout time.Duration) (nir.Registration, error) {
	if d.nir.chk == nil {
		return nir.Registration{}, errors.New("this gate has no NIR camera ([camera.nir]) in use")
	}
	reg, err := d.nir.chk.Register(ctx, pairs, timeout)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nir.Registration{}, err
	}
	if err != nil {
		d.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: "refused", Detail: store.Detail("NIR camera registration refused: " + err.Error())})
		return nir.Registration{}, err
	}
	if reg, err = nir.Save(d.db, actor, time.Now(), reg); err != nil {
		return nir.Registration{}, err
	}
	d.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: "ok", Detail: store.Detail("NIR camera registered: " + reg.String())})
	d.nir.chk.SetRegistration(reg)
	d.alarm("nir", "")
	d.log.Info("daemon: NIR camera registered", "registration", reg.String(), "by", actor)
	return reg, nil
}

// nirStatus is the NIR camera's state for gated status ("" without one).
func (d *daemon) nirStatus() string {
	if d.nir.chk == nil {
		return ""
	}
	return d.nir.chk.Status()
}

// livenessLayer names the PAD layers in use for the audit ("" for none).
func (d *daemon) livenessLayer() string {
	if d.nir.chk != nil {
		return nir.LayerName(d.cfg.Face.Liveness)
	}
	return d.cfg.Face.Liveness
}
