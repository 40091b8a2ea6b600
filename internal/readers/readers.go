// Package readers turns the configuration's [[reader]] tables into card
// readers and keypads ready to run: ASCII and Wiegand-converter card
// readers, serial keypads, and OSDP readers with their secure-channel keys
// kept in the store.
//
// It owns only that translation (as internal/door does for the relay). It
// never decides anything about a card or a PIN, and never opens a device
// before the reader runs.
package readers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/store"
)

// Reader is a card reader or keypad from the configuration.
type Reader interface {
	Name() string
	Run(ctx context.Context, events chan<- fallback.Event) error
	Health() fallback.Health
}

// Secrets keeps OSDP readers' secure-channel keys (the store, sealed).
type Secrets interface {
	Secret(name string) ([]byte, error)
	SetSecret(actor, name string, value []byte) error
}

// Open makes a reader for each configured [[reader]], in order.
func Open(rcs []config.Reader, secrets Secrets, log *slog.Logger) ([]Reader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []Reader
	for i, rc := range rcs {
		r, err := open(rc, secrets, log)
		if err != nil {
			return nil, fmt.Errorf("readers: reader[%d] %q: %w", i, rc.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func open(rc config.Reader, secrets Secrets, log *slog.Logger) (Reader, error) {
	sc := fallback.SerialConfig{Name: rc.Name, Path: rc.Device, Baud: rc.Baud, Logger: log}
	line := fallback.LineConfig{Ending: rc.LineEnding, Prefix: rc.Prefix, Suffix: rc.Suffix}
	switch rc.Type {
	case "ascii":
		if rc.Number == "hex" {
			line.Base = 16
		}
		return fallback.NewASCIIReader(sc, line)
	case "wiegand":
		return fallback.NewWiegandReader(sc, fallback.WiegandConfig{Line: line, Bits: rc.Bits})
	case "qr":
		return fallback.NewScanReader(sc, line)
	case "keypad":
		return fallback.NewKeypadReader(sc, fallback.KeypadConfig{InterKey: rc.InterKey.Duration, MaxDigits: rc.MaxDigits})
	case "osdp":
		return openOSDP(rc, secrets, log)
	}
	return nil, fmt.Errorf("unknown reader type %q", rc.Type)
}

func openOSDP(rc config.Reader, secrets Secrets, log *slog.Logger) (Reader, error) {
	name := "osdp/" + rc.Name
	oc := osdp.Config{Name: rc.Name, Path: rc.Device, Baud: rc.Baud, Address: byte(rc.Address), Logger: log}
	switch rc.Secure {
	case "insecure":
		log.Warn("readers: OSDP reader without secure channel: anyone on the wire can forge cards", "reader", rc.Name)
		oc.Insecure = true
	case "install":
		log.Warn("readers: OSDP reader in install mode: set secure = \"paired\" once it is paired", "reader", rc.Name)
		oc.Install = true
		oc.SaveKey = func(key []byte) error { return secrets.SetSecret("system", name, key) }
		if key, err := secrets.Secret(name); err == nil {
			oc.SCBK = key
		}
	default: // paired
		key, err := secrets.Secret(name)
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

// Bindings maps each keypad to the card reader its PINs belong to.
func Bindings(rcs []config.Reader) map[string]string {
	m := map[string]string{}
	for _, r := range rcs {
		if r.Type == "keypad" || r.Type == "qr" && r.For != "" {
			m[r.Name] = r.For
		}
	}
	return m
}
