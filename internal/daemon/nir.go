package daemon

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/nir"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/recognizer/nirface"
	"github.com/gated-dev/gated/internal/store"
)

// nirState is the near-infrared camera pair's ([camera.nir]) part of the
// daemon: the checker, the registration in use, and a registration being
// collected.
type nirState struct {
	chk *nirface.Checker // nil without [camera.nir] (or face off)
	reg atomic.Pointer[nir.Registration]

	mu      sync.Mutex
	collect *nirCollect

	// counts for gated status; the camera loop's, read under mu.
	passed, failed, missing uint64
	lastWhy                 string
	warned                  time.Time // the camera loop's own
}

// nirCollect is a registration in progress, fed by the camera loop.
type nirCollect struct {
	want          int
	pairs         []nir.BoxPair
	colour, frame image.Point
	done          chan struct{}
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
	d.nir.chk = chk
	d.loadNIRRegistration()
	d.log.Info("daemon: NIR camera check loaded", "layer", d.livenessLayer())
	return true
}

// loadNIRRegistration reads the stored registration.
func (d *daemon) loadNIRRegistration() {
	b, err := d.db.Setting(nir.Setting)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.alarm("nir", "the NIR camera ([camera.nir]) is not registered: every face is refused as not live until staff run gated camera nir-register (card and PIN work)")
		return
	case err != nil:
		d.alarm("nir", fmt.Sprintf("the NIR camera's registration cannot be read (%v): every face is refused as not live (card and PIN work)", err))
		return
	}
	reg, err := nir.Decode(b)
	if err != nil {
		d.alarm("nir", fmt.Sprintf("the NIR camera's registration is unusable (%v): every face is refused as not live until staff run gated camera nir-register again (card and PIN work)", err))
		return
	}
	d.nir.reg.Store(&reg)
	d.alarm("nir", "")
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
func (d *daemon) padFrame(fr camera.Frame, f recognizer.Face) *liveness.Frame {
	box := f.Rect
	if (d.pad == nil && d.nir.chk == nil) || !d.gate.WantsLiveness() {
		return nil
	}
	var lf liveness.Frame
	if d.pad != nil {
		var err error
		if lf, err = d.pad.Frame(fr.Mat, box); err != nil {
			if time.Since(d.cam.padWarned) > 10*time.Second { // rate-limited: per frame
				d.cam.padWarned = time.Now()
				d.log.Warn("daemon: presentation-attack detection failed on a frame", "err", err)
			}
			return nil
		}
	}
	if d.nir.chk != nil {
		lf.NIR = d.nirCheck(fr, f)
	}
	return &lf
}

// nirCheck is the NIR check of the face f. It compares YuNet's boxes in
// both frames: the recognizer's own YuNet box of the face where it has one
// (no second detection on the colour frame: 13 ms saved a face), else
// YuNet run again on the colour frame.
func (d *daemon) nirCheck(fr camera.Frame, f recognizer.Face) liveness.NIRState {
	var r nir.Result
	yb, ok := recognizer.YuNetBox(f)
	var err error
	if !ok {
		yb, ok, err = d.nir.chk.ColourBox(fr.Mat, f.Rect)
	}
	switch {
	case err != nil:
	case !ok:
		r = nir.Result{State: liveness.NIRFailed, Reason: "the NIR check's detector finds no face at the gate's face box in the colour frame"}
	default:
		r, err = d.nir.chk.Check(d.nir.reg.Load(), yb, image.Pt(fr.Mat.Cols(), fr.Mat.Rows()), fr.NIR)
	}
	if err != nil {
		r = nir.Result{State: liveness.NIRFailed, Reason: err.Error()}
	}
	d.nir.mu.Lock()
	switch r.State {
	case liveness.NIRPassed:
		d.nir.passed++
	case liveness.NIRMissing:
		d.nir.missing++
	default:
		d.nir.failed++
	}
	if r.Reason != "" {
		d.nir.lastWhy = r.Reason
	}
	d.nir.mu.Unlock()
	if r.State != liveness.NIRPassed && time.Since(d.nir.warned) > 10*time.Second { // rate-limited: per frame
		d.nir.warned = time.Now()
		d.log.Info("daemon: NIR check did not pass", "state", r.State.String(), "why", r.Reason, "iou", r.IoU)
	}
	return r.State
}

// nirRegistering reports whether a registration is collecting frames.
func (d *daemon) nirRegistering() bool {
	d.nir.mu.Lock()
	defer d.nir.mu.Unlock()
	return d.nir.collect != nil
}

// nirOffer gives a frame to a registration in progress; true when one is
// (the frame then decides nothing else). A pair counts when the colour
// frame and its NIR partner show exactly one face each.
func (d *daemon) nirOffer(fr camera.Frame, faces []recognizer.Face) bool {
	d.nir.mu.Lock()
	c := d.nir.collect
	d.nir.mu.Unlock()
	if c == nil {
		return false
	}
	if len(faces) != 1 || fr.NIR == nil {
		return true
	}
	nf, err := d.nir.chk.Faces(fr.NIR.Mat)
	if err != nil || len(nf) != 1 {
		return true
	}
	cf, err := d.nir.chk.Faces(fr.Mat) // YuNet's box, as the check uses
	if err != nil || len(cf) != 1 {
		return true
	}
	cs, ns := image.Pt(fr.Mat.Cols(), fr.Mat.Rows()), image.Pt(fr.NIR.Mat.Cols(), fr.NIR.Mat.Rows())
	d.nir.mu.Lock()
	defer d.nir.mu.Unlock()
	if len(c.pairs) > 0 && (cs != c.colour || ns != c.frame) {
		c.pairs = c.pairs[:0] // a camera changed its frame size: start again
	}
	c.colour, c.frame = cs, ns
	if len(c.pairs) < c.want {
		c.pairs = append(c.pairs, nir.BoxPair{Colour: cf[0], NIR: nf[0]})
		if len(c.pairs) == c.want {
			close(c.done)
		}
	}
	return true
}

// RegisterNIR collects pairs frame pairs with one face in each within
// timeout, fits the registration, stores it (the store audits the change
// with actor) and uses it; a fit that is poor or degenerate is refused.
func (d *daemon) RegisterNIR(ctx context.Context, actor string, pairs int, timeout time.Duration) (nir.Registration, error) {
	if d.nir.chk == nil {
		return nir.Registration{}, errors.New("this gate has no NIR camera ([camera.nir]) in use")
	}
	c := &nirCollect{want: pairs, done: make(chan struct{})}
	d.nir.mu.Lock()
	if d.nir.collect != nil {
		d.nir.mu.Unlock()
		return nir.Registration{}, errors.New("another registration is using the cameras")
	}
	d.nir.collect = c
	d.nir.mu.Unlock()
	defer func() {
		d.nir.mu.Lock()
		d.nir.collect = nil
		d.nir.mu.Unlock()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		return nir.Registration{}, ctx.Err()
	case <-t.C:
		d.nir.mu.Lock()
		n := len(c.pairs)
		d.nir.mu.Unlock()
		return nir.Registration{}, fmt.Errorf("only %d of %d frame pairs with exactly one face in each camera within %s: one person stands 0.5-1.5 m in front of both cameras, moving slowly about the view", n, pairs, timeout)
	}
	d.nir.mu.Lock()
	ps, cs, ns := append([]nir.BoxPair(nil), c.pairs...), c.colour, c.frame
	d.nir.mu.Unlock()
	reg, err := nir.Register(ps, cs, ns)
	if err != nil {
		d.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: "refused", Detail: store.Detail("NIR camera registration refused: " + err.Error())})
		return nir.Registration{}, err
	}
	reg.At, reg.By = time.Now().UTC(), actor
	b, err := nir.Encode(reg)
	if err != nil {
		return nir.Registration{}, err
	}
	if err := d.db.SetSetting(actor, nir.Setting, b); err != nil {
		return nir.Registration{}, fmt.Errorf("store the registration: %w", err)
	}
	d.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: "ok", Detail: store.Detail("NIR camera registered: " + reg.String())})
	d.nir.reg.Store(&reg)
	d.alarm("nir", "")
	d.log.Info("daemon: NIR camera registered", "registration", reg.String(), "by", actor)
	return reg, nil
}

// nirStatus is the NIR camera's state for gated status ("" without one).
func (d *daemon) nirStatus() string {
	if d.nir.chk == nil {
		return ""
	}
	d.nir.mu.Lock()
	p, f, m, why := d.nir.passed, d.nir.failed, d.nir.missing, d.nir.lastWhy
	d.nir.mu.Unlock()
	reg := "NOT REGISTERED: faces are refused as not live (gated camera nir-register)"
	if r := d.nir.reg.Load(); r != nil {
		reg = "registered " + r.At.Format(time.DateOnly) + " by " + r.By + ": " + r.String()
	}
	s := fmt.Sprintf("%s; not measured on NIR hardware; frames passed %d, failed %d, without an NIR frame %d", reg, p, f, m)
	if why != "" {
		s += "; last refusal: " + why
	}
	return s
}

// livenessLayer names the PAD layers in use for the audit ("" for none).
func (d *daemon) livenessLayer() string {
	if d.nir.chk != nil {
		return nir.LayerName(d.cfg.Face.Liveness)
	}
	return d.cfg.Face.Liveness
}
