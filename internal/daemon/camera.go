package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
)

// source is a camera or a file source.
type source interface {
	Read(ctx context.Context) (camera.Frame, error)
	Close() error
}

func (d *daemon) openCamera() (source, error) {
	c := d.cfg.Camera
	if c.Files != "" {
		return camera.OpenFiles(c.Files, camera.FileOptions{FPS: c.FPS, Repeat: c.Repeat, Loop: c.Loop, Follow: c.Follow})
	}
	return camera.OpenDevice(c.Device, camera.DeviceOptions{Width: c.Width, Height: c.Height, FPS: c.FPS})
}

func (d *daemon) setCamera(up bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.camUp = up
	if err != nil {
		d.camErr = err.Error()
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
	defer fr.Mat.Close()
	d.mu.Lock()
	d.frameCount++
	c := d.capture
	d.mu.Unlock()
	if c == nil && !d.gate.WantsFace() {
		return // no enrollment, and no face could decide anything now
	}
	faces, err := d.rec.Faces(fr.Mat)
	if err != nil {
		d.log.Warn("daemon: face detection failed", "err", err)
		return
	}
	if c != nil {
		// A resident is enrolling in front of the camera: frames go to
		// the enrollment, not to access decisions.
		c.offer(recognizer.Assess(fr.Mat, faces, recognizer.Quality{}))
		return
	}
	ob := gate.Observation{Time: fr.Time}
	if f := largest(faces); f != nil {
		ob.Face = f.Descriptor
	}
	if _, err := d.gate.Face(ctx, ob); err != nil {
		d.log.Error("daemon: face decision", "err", err)
	}
}

func largest(faces []recognizer.Face) *recognizer.Face {
	var best *recognizer.Face
	for i := range faces {
		f := &faces[i]
		if best == nil || f.Rect.Dx()*f.Rect.Dy() > best.Rect.Dx()*best.Rect.Dy() {
			best = f
		}
	}
	return best
}

// capture collects good frames from the camera for one enrollment.
type capture struct {
	want    int
	good    chan []float32
	advice  chan recognizer.Problem
	lastTip recognizer.Problem
}

func (c *capture) offer(a recognizer.Assessment) {
	if a.Problem == recognizer.Good {
		select {
		case c.good <- a.Face.Descriptor:
		default: // enough already
		}
		return
	}
	if a.Problem != c.lastTip {
		c.lastTip = a.Problem
		select {
		case c.advice <- a.Problem:
		default:
		}
	}
}

// captureFaces takes want good frames from the camera within timeout, and
// reports quality advice on the way through tips (may be nil). Frames are
// kept a few apart so that the templates are not copies of one pose.
func (d *daemon) captureFaces(ctx context.Context, want int, timeout time.Duration, tips func(recognizer.Problem)) ([][]float32, error) {
	if d.rec == nil {
		return nil, errors.New("face recognition is off at this gate")
	}
	c := &capture{want: want, good: make(chan []float32, 64), advice: make(chan recognizer.Problem, 8)}
	d.mu.Lock()
	if d.capture != nil {
		d.mu.Unlock()
		return nil, errors.New("another enrollment is using the camera: try again in a moment")
	}
	d.capture = c
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.capture = nil
		d.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out [][]float32
	skip := 0
	for len(out) < want {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d good frames within %s: %w", len(out), want, timeout, ctx.Err())
		case p := <-c.advice:
			if tips != nil {
				tips(p)
			}
		case v := <-c.good:
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, v)
			skip = 2
		}
	}
	return out, nil
}
