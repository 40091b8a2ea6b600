package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/staffapi"
	"github.com/gated-dev/gated/internal/store"
)

// reader is what the daemon needs of a card reader or keypad.
type reader interface {
	Name() string
	Run(ctx context.Context, events chan<- fallback.Event) error
	Health() fallback.Health
}

// openReaders makes a reader for each configured [[reader]].
func (d *daemon) openReaders() ([]reader, error) {
	var out []reader
	for i, rc := range d.cfg.Readers {
		r, err := d.openReader(rc)
		if err != nil {
			return nil, fmt.Errorf("daemon: reader[%d] %q: %w", i, rc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (d *daemon) openReader(rc config.Reader) (reader, error) {
	sc := fallback.SerialConfig{Name: rc.Name, Path: rc.Device, Baud: rc.Baud, Logger: d.log}
	line := fallback.LineConfig{Ending: rc.LineEnding, Prefix: rc.Prefix, Suffix: rc.Suffix}
	switch rc.Type {
	case "ascii":
		if rc.Number == "hex" {
			line.Base = 16
		}
		return fallback.NewASCIIReader(sc, line)
	case "wiegand":
		return fallback.NewWiegandReader(sc, fallback.WiegandConfig{Line: line, Bits: rc.Bits})
	case "keypad":
		return fallback.NewKeypadReader(sc, fallback.KeypadConfig{InterKey: rc.InterKey.Duration, MaxDigits: rc.MaxDigits})
	case "osdp":
		name := "osdp/" + rc.Name
		oc := osdp.Config{Name: rc.Name, Path: rc.Device, Baud: rc.Baud, Address: byte(rc.Address), Logger: d.log}
		switch rc.Secure {
		case "insecure":
			d.log.Warn("daemon: OSDP reader without secure channel: anyone on the wire can forge cards", "reader", rc.Name)
			oc.Insecure = true
		case "install":
			d.log.Warn("daemon: OSDP reader in install mode: set secure = \"paired\" once it is paired", "reader", rc.Name)
			oc.Install = true
			oc.SaveKey = func(key []byte) error { return d.db.SetSecret("system", name, key) }
			if key, err := d.db.Secret(name); err == nil {
				oc.SCBK = key
			}
		default: // paired
			key, err := d.db.Secret(name)
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("no secure channel key is stored for it: pair it once with secure = \"install\"")
			}
			if err != nil {
				return nil, err
			}
			oc.SCBK = key
		}
		return osdp.New(oc)
	}
	return nil, fmt.Errorf("unknown reader type %q", rc.Type)
}

// keypadBindings maps each keypad to the card reader its PINs belong to.
func keypadBindings(cfg *config.Config) map[string]string {
	m := map[string]string{}
	for _, r := range cfg.Readers {
		if r.Type == "keypad" {
			m[r.Name] = r.For
		}
	}
	return m
}

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
