package camera

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// Pair is a colour camera and a near-infrared camera beside it, read
// together: each Read delivers a colour frame with the NIR frame of the
// same moment, or with none when the NIR camera gave no frame or the two
// were further apart in time than MaxSkew (the NIR check then fails
// closed; the colour frame still reaches the gate).
//
// gocv 0.31 has no separate grab and retrieve, so the two cameras are read
// at once, each in its own goroutine, with their buffers set to one frame
// so that a read returns the newest frame, not a queued one.
type Pair struct {
	colour, nir *Device
	maxSkew     time.Duration
	// Skewed counts pairs dropped for their time apart; Lost, reads of the
	// NIR camera that failed.
	Skewed, Lost atomic.Uint64
}

// OpenPair opens both cameras (OpenDevice).
func OpenPair(colour, nir string, co, no DeviceOptions, maxSkew time.Duration) (*Pair, error) {
	c, err := OpenDevice(colour, co)
	if err != nil {
		return nil, err
	}
	n, err := OpenDevice(nir, no)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("camera: NIR camera: %w", err)
	}
	for _, d := range []*Device{c, n} {
		d.vc.Set(gocv.VideoCaptureBufferSize, 1)
	}
	return &Pair{colour: c, nir: n, maxSkew: maxSkew}, nil
}

// Read returns the next colour frame, with its NIR partner when the pair
// is close enough in time. A failing colour camera is an error; a failing
// NIR camera only leaves the frame without its partner.
func (p *Pair) Read(ctx context.Context) (Frame, error) {
	type res struct {
		f   Frame
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := p.nir.Read(ctx)
		ch <- res{f, err}
	}()
	fr, err := p.colour.Read(ctx)
	n := <-ch
	if err != nil {
		if n.err == nil {
			n.f.Mat.Close()
		}
		return Frame{}, err
	}
	switch {
	case n.err != nil:
		p.Lost.Add(1)
	case Skew(fr.Time, n.f.Time) > p.maxSkew:
		p.Skewed.Add(1)
		n.f.Mat.Close()
	default:
		fr.NIR = &NIRFrame{Mat: n.f.Mat, Time: n.f.Time}
	}
	return fr, nil
}

// Skew is how far apart two frame times are.
func Skew(a, b time.Time) time.Duration {
	if d := a.Sub(b); d >= 0 {
		return d
	}
	return b.Sub(a)
}

// Close releases both cameras.
func (p *Pair) Close() error {
	return errors.Join(p.colour.Close(), p.nir.Close())
}
