package daemon

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/store"
)

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

// openRelay opens the door's relay, locked from the first instant.
func openRelay(rc config.Relay, log *slog.Logger) (relay.Relay, func(), error) {
	mode, err := relay.ParseMode(rc.Mode)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: relay.mode: %w", err)
	}
	switch rc.Type {
	case "lcus", "bytes":
		var cmds relay.Commands
		if rc.Type == "lcus" {
			cmds, err = relay.LCUS(rc.Channel)
		} else {
			cmds, err = relay.ParseCommands(rc.On, rc.Off)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: relay: %w", err)
		}
		s, err := relay.NewSerial(relay.SerialConfig{Path: rc.Device, Baud: rc.Baud, Commands: cmds, Mode: mode, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: relay: %w", err)
		}
		return s, func() { s.Close() }, nil
	case "gpio":
		g, err := relay.OpenGPIO(relay.GPIOConfig{Chip: rc.Chip, Line: rc.Line, ActiveLow: rc.ActiveLow, Mode: mode})
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: relay: %w", err)
		}
		return g, func() { g.Close() }, nil
	}
	return nil, nil, fmt.Errorf("daemon: unknown relay type %q", rc.Type)
}

func newDoor(r relay.Relay, rc config.Relay, log *slog.Logger) (*relay.Door, error) {
	dc := relay.DoorConfig{Pulse: rc.Pulse.Duration, Logger: log}
	if rc.Contact != nil {
		c, err := relay.OpenGPIOContact(relay.ContactConfig{Chip: rc.Contact.Chip, Line: rc.Contact.Line, ActiveLow: rc.Contact.ActiveLow, PullUp: rc.Contact.PullUp})
		if err != nil {
			return nil, fmt.Errorf("daemon: relay.contact: %w", err)
		}
		dc.Contact = c
	}
	d, err := relay.NewDoor(r, dc)
	if err != nil {
		return nil, fmt.Errorf("daemon: door: %w", err)
	}
	return d, nil
}
