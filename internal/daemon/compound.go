package daemon

import (
	"path/filepath"

	"github.com/gated-dev/gated/internal/compound"
)

// compoundSeen lists the inbox files dealt with (compound.Config.Seen).
const compoundSeen = "compound-seen"

// newCompound sets up the gate's side of a compound (internal/compound):
// the inbox and outbox in the data dir, and the time profiles rebuilt
// after each import.
func (d *daemon) newCompound() *compound.Service {
	in, out := d.cfg.CompoundDirs()
	return compound.New(compound.Config{Inbox: in, Outbox: out, Seen: filepath.Join(d.dataDir, compoundSeen),
		EventsEvery: d.cfg.CompoundEventsEvery(), Log: d.log, Applied: func() {
			if set, _, err := d.schedule(); err != nil {
				d.log.Error("daemon: time profiles after an import", "err", err)
			} else {
				d.gate.SetSchedule(set)
			}
		}}, d.db, d.faces)
}

// compoundWarnings lists clashes between the office's time profiles and
// gated.toml's.
func (d *daemon) compoundWarnings() []string {
	_, warn, _ := d.schedule()
	return warn
}
