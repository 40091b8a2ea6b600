package config

import (
	"path/filepath"
	"time"
)

// Compound configures this gate's part in a compound (docs/compound.md):
// where records bundles from the property office arrive and where the
// gate's event bundles go. Both directories are inside device.data_dir
// (gated writes nowhere else); a sync engine (Syncthing) or staff with a
// USB stick move the files.
type Compound struct {
	Inbox       string   `toml:"inbox"`        // default <data_dir>/inbox
	Outbox      string   `toml:"outbox"`       // default <data_dir>/outbox
	EventsEvery Duration `toml:"events_every"` // default 15m
}

// CompoundDirs returns the inbox and outbox with their defaults.
func (c *Config) CompoundDirs() (inbox, outbox string) {
	inbox, outbox = c.Compound.Inbox, c.Compound.Outbox
	if inbox == "" {
		inbox = filepath.Join(c.Device.DataDir, "inbox")
	}
	if outbox == "" {
		outbox = filepath.Join(c.Device.DataDir, "outbox")
	}
	return inbox, outbox
}

// CompoundEventsEvery is how often the gate writes an event bundle.
func (c *Config) CompoundEventsEvery() time.Duration {
	if c.Compound.EventsEvery.Duration <= 0 {
		return 15 * time.Minute
	}
	return c.Compound.EventsEvery.Duration
}

func (c *Config) checkCompound() []error {
	var errs []error
	in, out := c.CompoundDirs()
	for _, d := range []struct{ field, dir string }{{"compound.inbox", in}, {"compound.outbox", out}} {
		if !filepath.IsAbs(d.dir) || !within(d.dir, c.Device.DataDir) || filepath.Clean(d.dir) == filepath.Clean(c.Device.DataDir) {
			errs = append(errs, fieldErr(c.path, d.field, d.dir, "give a directory inside device.data_dir: gated writes nowhere else"))
		}
	}
	if d := c.Compound.EventsEvery.Duration; d != 0 && (d < time.Minute || d > 24*time.Hour) {
		errs = append(errs, fieldErr(c.path, "compound.events_every", d.String(), "give 1m to 24h (default 15m)"))
	}
	return errs
}
