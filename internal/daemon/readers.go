package daemon

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/readers"
	"github.com/gated-dev/gated/internal/staffapi"
)

// reader is what the daemon needs of a card reader or keypad.
type reader = readers.Reader

// laneBuffer is how many events a lane holds while its last one is decided
// (an argon2 PIN check takes about 0.1 s): far more than a person types.
const laneBuffer = 64

// startReaders runs every reader and one lane per card reader: the card
// reader's events and those of the keypads bound to it go through its lane,
// in order, to the resident screen (the screen's own reader only) and then
// to the gate. A slow step on one lane never holds up another.
func (d *daemon) startReaders(ctx context.Context, g *errgroup.Group) {
	lanes := map[string]chan fallback.Event{}
	for _, rc := range d.cfg.Readers {
		if rc.Type == "keypad" {
			continue
		}
		ch := make(chan fallback.Event, laneBuffer)
		lanes[rc.Name] = ch
		screen := d.kiosk != nil && rc.Name == d.cfg.Kiosk.Reader
		g.Go(func() error { return d.lane(ctx, ch, screen) })
	}
	for i, r := range d.readers {
		rc := d.cfg.Readers[i]
		ch := lanes[rc.Name]
		if rc.Type == "keypad" {
			ch = lanes[rc.For]
		}
		g.Go(func() error { return r.Run(ctx, ch) })
	}
}

// lane hands one card reader's events to the screen (if it is the
// screen's reader) and the gate.
func (d *daemon) lane(ctx context.Context, events <-chan fallback.Event, screen bool) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if screen && d.kiosk.Event(ctx, ev) {
				continue // a menu code, or a step of an enrollment or opt-out
			}
			if _, err := d.gate.Reader(ctx, ev); err != nil && ctx.Err() == nil {
				d.log.Error("daemon: reader event", "reader", ev.Reader, "err", err)
			}
		}
	}
}

func (d *daemon) readerHealth() []fallback.Health {
	hs := make([]fallback.Health, len(d.readers))
	for i, r := range d.readers {
		hs[i] = r.Health()
	}
	return hs
}

// standingAlarms lists every alarm standing now.
func (d *daemon) standingAlarms() []string {
	var out []string
	if down, _ := d.gate.Alarm(); down {
		out = append(out, staffapi.ReadersDown)
	}
	out = append(out, d.gate.Alarms()...)
	d.mu.Lock()
	for _, a := range d.alarms {
		out = append(out, a)
	}
	d.mu.Unlock()
	slices.Sort(out)
	return out
}
