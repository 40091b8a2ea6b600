package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/staffapi"
)

// camState is the camera pipeline's state.
type camState struct {
	mu      sync.Mutex
	up      bool
	err     string
	frames  uint64
	capture *recognizer.Collector // a face enrollment in progress, fed by the camera loop
	// padWarned is when a PAD failure was last logged; the camera loop's
	// own (one goroutine), not under mu.
	padWarned time.Time
}

func (d *daemon) cameraState() api.Camera {
	c := &d.cam
	c.mu.Lock()
	defer c.mu.Unlock()
	return api.Camera{Up: c.up, LastErr: c.err, Frames: c.frames, Source: d.cfg.Camera.Device + d.cfg.Camera.Files, NIR: d.nirStatus()}
}

// source is a camera or a file source.
type source interface {
	Read(ctx context.Context) (camera.Frame, error)
	Close() error
}

func (d *daemon) openCamera() (source, error) {
	c := d.cfg.Camera
	if c.Files != "" {
		return camera.OpenFiles(c.Files, camera.FileOptions{FPS: c.FPS, Repeat: c.Repeat, Loop: c.Loop, Follow: c.Follow, Replay: c.Replay, NIR: d.nirFolder()})
	}
	if src, ok, err := d.openPairedCamera(); ok {
		return src, err
	}
	return camera.OpenDevice(c.Device, camera.DeviceOptions{Width: c.Width, Height: c.Height, FPS: c.FPS})
}

func (d *daemon) setCamera(up bool, err error) {
	d.cam.mu.Lock()
	defer d.cam.mu.Unlock()
	d.cam.up = up
	if err != nil {
		d.cam.err = err.Error()
	}
}

// cameraLoop reads frames, finds the largest face and hands it to the gate,
// or to a face enrollment in progress. A camera that fails is reopened with
// backoff; card and PIN never depend on it.
func (d *daemon) cameraLoop(ctx context.Context) error {
	backoff := fallback.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second}
	var wait time.Duration
	for ctx.Err() == nil {
		src, err := d.openCamera()
		if err != nil {
			d.setCamera(false, err)
			d.log.Warn("daemon: camera unavailable; card and PIN still work", "err", err)
			wait = backoff.Next(wait)
			if !fallback.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		d.setCamera(true, nil)
		err = d.frames(ctx, src)
		src.Close()
		d.setCamera(false, err)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			// A file source that neither loops nor follows has ended.
			d.log.Info("daemon: camera file source ended")
			<-ctx.Done()
			return nil
		}
		d.log.Warn("daemon: camera lost; reopening", "err", err)
		wait = backoff.Next(wait)
		if !fallback.Sleep(ctx, wait) {
			return nil
		}
	}
	return nil
}

// frames processes frames of one open source until it fails.
func (d *daemon) frames(ctx context.Context, src source) error {
	var lastWarn time.Time
	for {
		fr, err := src.Read(ctx)
		if errors.Is(err, recognizer.ErrImage) {
			if time.Since(lastWarn) > 10*time.Second { // rate-limited: per frame
				d.log.Warn("daemon: unusable frame skipped", "err", err)
				lastWarn = time.Now()
			}
			continue
		}
		if err != nil {
			return err
		}
		d.frame(ctx, fr)
	}
}

// frame handles one frame; it owns and closes fr.Mat.
func (d *daemon) frame(ctx context.Context, fr camera.Frame) {
	defer fr.Close()
	d.cam.mu.Lock()
	d.cam.frames++
	c := d.cam.capture
	d.cam.mu.Unlock()
	if c == nil && !d.gate.WantsFace() && !d.nirRegistering() {
		return // no enrollment, and no face could decide anything now
	}
	faces, err := d.rec.Faces(fr.Mat)
	if err != nil {
		d.log.Warn("daemon: face detection failed", "err", err)
		return
	}
	if d.nirOffer(fr, faces) {
		return // staff are registering the NIR camera: frames go to it
	}
	if c != nil {
		// A resident is enrolling in front of the camera: frames go to
		// the enrollment, not to access decisions.
		c.Frame(fr.Mat, faces)
		return
	}
	ob := gate.Observation{Time: fr.Time}
	if f := recognizer.LiveFace(faces); f != nil {
		ob.Face, ob.Box = f.Descriptor, f.Rect
		if d.cfg.Face.Challenge {
			if p, err := f.Pose(); err == nil {
				ob.Pose = &p
			}
		}
		ob.Liveness, ob.Unjudged = d.padFrame(fr, *f) // nil when PAD cannot judge: the gate fails closed
	}
	if _, err := d.gate.Face(ctx, ob); err != nil {
		d.log.Error("daemon: face decision", "err", err)
	}
}

// captureFaces takes want good frames from the camera within timeout, and
// reports quality advice on the way through tips (may be nil).
func (d *daemon) captureFaces(ctx context.Context, want int, timeout time.Duration, tips func(recognizer.Problem)) ([][]float32, error) {
	if d.rec == nil {
		return nil, errors.New("face recognition is off at this gate")
	}
	c := recognizer.NewCollector()
	d.cam.mu.Lock()
	if d.cam.capture != nil {
		d.cam.mu.Unlock()
		return nil, errors.New("another enrollment is using the camera: try again in a moment")
	}
	d.cam.capture = c
	d.cam.mu.Unlock()
	defer func() {
		d.cam.mu.Lock()
		d.cam.capture = nil
		d.cam.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := c.Collect(ctx, want, tips)
	if err != nil {
		return nil, fmt.Errorf("%w within %s", err, timeout)
	}
	return out, nil
}

// photos turns staff photos into templates through the quality gate; nil
// when face recognition is off.
func (d *daemon) photos() staffapi.Photos {
	if d.rec == nil {
		return nil
	}
	return photoTemplates{d}
}

type photoTemplates struct{ d *daemon }

// Template turns one photo into a template, or says why it cannot.
func (p photoTemplates) Template(photo []byte) ([]float32, string) {
	a, err := recognizer.EnrollPhoto(p.d.rec, photo)
	if err != nil {
		return nil, err.Error()
	}
	if a.Problem != recognizer.Good {
		return nil, a.Problem.Advice("en")
	}
	return a.Face.Descriptor, ""
}

// cameraCapture takes staff enrollments from the camera; nil when face
// recognition is off.
func (d *daemon) cameraCapture() staffapi.Camera {
	if d.rec == nil {
		return nil
	}
	return cameraCapture{d}
}

type cameraCapture struct{ d *daemon }

func (c cameraCapture) Capture(ctx context.Context, frames int, timeout time.Duration) ([][]float32, error) {
	return c.d.captureFaces(ctx, frames, timeout, nil)
}
