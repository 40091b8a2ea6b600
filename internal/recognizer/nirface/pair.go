package nirface

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
)

// Pair is the NIR camera pair at the gate: the Checker, the registration
// in use, the counts gated status shows, and a registration being
// collected from the camera loop. Check and Offer are the camera loop's
// (one goroutine); the rest are safe from any.
type Pair struct {
	*Checker
	reg atomic.Pointer[nir.Registration]

	mu      sync.Mutex
	collect *collect
	passed  uint64
	failed  uint64
	missing uint64
	lastWhy string
}

// collect is a registration in progress.
type collect struct {
	want          int
	pairs         []nir.BoxPair
	colour, frame image.Point
	done          chan struct{}
}

// NewPair wraps a loaded Checker.
func NewPair(c *Checker) *Pair { return &Pair{Checker: c} }

// SetRegistration puts reg in use.
func (p *Pair) SetRegistration(reg nir.Registration) { p.reg.Store(&reg) }

// Check is the NIR check of face f in the colour frame of fr, counted for
// Status. It compares YuNet's boxes in both frames: the recognizer's own
// YuNet box of the face where it kept one (no second detection on the
// colour frame: 13 ms saved a face), else YuNet run again on it.
func (p *Pair) Check(fr camera.Frame, f recognizer.Face) nir.Result {
	var r nir.Result
	yb, ok := recognizer.YuNetBox(f)
	var err error
	if !ok {
		yb, ok, err = p.ColourBox(fr.Mat, f.Rect)
	}
	switch {
	case err != nil:
	case !ok:
		r = nir.Result{State: liveness.NIRFailed, Reason: "the NIR check's detector finds no face at the gate's face box in the colour frame"}
	default:
		r, err = p.Checker.Check(p.reg.Load(), yb, image.Pt(fr.Mat.Cols(), fr.Mat.Rows()), fr.NIR)
	}
	if err != nil {
		r = nir.Result{State: liveness.NIRFailed, Reason: err.Error()}
	}
	p.mu.Lock()
	switch r.State {
	case liveness.NIRPassed:
		p.passed++
	case liveness.NIRMissing:
		p.missing++
	default:
		p.failed++
	}
	if r.Reason != "" {
		p.lastWhy = r.Reason
	}
	p.mu.Unlock()
	return r
}

// Registering reports whether a registration is collecting frames.
func (p *Pair) Registering() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.collect != nil
}

// Offer gives a frame to a registration in progress; true when one is
// (the frame then decides nothing else). A pair counts when the colour
// frame and its NIR partner show exactly one face each.
func (p *Pair) Offer(fr camera.Frame, faces []recognizer.Face) bool {
	p.mu.Lock()
	c := p.collect
	p.mu.Unlock()
	if c == nil {
		return false
	}
	if len(faces) != 1 || fr.NIR == nil {
		return true
	}
	nf, err := p.Faces(fr.NIR.Mat)
	if err != nil || len(nf) != 1 {
		return true
	}
	cf, err := p.Faces(fr.Mat) // YuNet's box, as the check uses
	if err != nil || len(cf) != 1 {
		return true
	}
	cs, ns := image.Pt(fr.Mat.Cols(), fr.Mat.Rows()), image.Pt(fr.NIR.Mat.Cols(), fr.NIR.Mat.Rows())
	p.mu.Lock()
	defer p.mu.Unlock()
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

// Register collects pairs frame pairs with one face in each (from Offer)
// within timeout and fits the registration (nir.Register: a poor or
// degenerate fit is refused). It does not put it in use.
func (p *Pair) Register(ctx context.Context, pairs int, timeout time.Duration) (nir.Registration, error) {
	c := &collect{want: pairs, done: make(chan struct{})}
	p.mu.Lock()
	if p.collect != nil {
		p.mu.Unlock()
		return nir.Registration{}, errors.New("another registration is using the cameras")
	}
	p.collect = c
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.collect = nil
		p.mu.Unlock()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		return nir.Registration{}, ctx.Err()
	case <-t.C:
		p.mu.Lock()
		n := len(c.pairs)
		p.mu.Unlock()
		return nir.Registration{}, fmt.Errorf("only %d of %d frame pairs with exactly one face in each camera within %s: one person stands 0.5-1.5 m in front of both cameras, moving slowly about the view", n, pairs, timeout)
	}
	p.mu.Lock()
	ps, cs, ns := append([]nir.BoxPair(nil), c.pairs...), c.colour, c.frame
	p.mu.Unlock()
	return nir.Register(ps, cs, ns)
}

// Status is the pair's state for gated status.
func (p *Pair) Status() string {
	p.mu.Lock()
	passed, failed, missing, why := p.passed, p.failed, p.missing, p.lastWhy
	p.mu.Unlock()
	reg := "NOT REGISTERED: faces are refused as not live (gated camera nir-register)"
	if r := p.reg.Load(); r != nil {
		reg = "registered " + r.At.Format(time.DateOnly) + " by " + r.By + ": " + r.String()
	}
	s := fmt.Sprintf("%s; not measured on NIR hardware; frames passed %d, failed %d, without an NIR frame %d", reg, passed, failed, missing)
	if why != "" {
		s += "; last refusal: " + why
	}
	return s
}
