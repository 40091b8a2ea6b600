package daemon

import (
	"path/filepath"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/compound"
)

// newCompound sets up the gate's side of a compound (internal/compound):
// the inbox and outbox in the data dir, and the time profiles rebuilt
// after each import.
func (d *daemon) newCompound() *compound.Service {
	in, out := d.cfg.CompoundDirs()
	return compound.New(compound.Config{Inbox: in, Outbox: out, Seen: filepath.Join(d.dataDir, "compound-seen"),
		EventsEvery: d.cfg.CompoundEventsEvery(), Log: d.log, Applied: func() {
			if set, _, err := d.schedule(); err != nil {
				d.log.Error("daemon: time profiles after an import", "err", err)
			} else {
				d.gate.SetSchedule(set)
			}
		}}, d.db, d.faces)
}

// compoundAPI answers the staff API's compound routes.
type compoundAPI struct {
	d   *daemon
	svc *compound.Service
}

func (c compoundAPI) Join(actor, key, name, gate string) (api.Compound, error) {
	if _, err := c.svc.Join(actor, key, name, gate); err != nil {
		return api.Compound{}, err
	}
	return c.Status()
}

func (c compoundAPI) Status() (api.Compound, error) {
	m, err := c.d.db.Compound()
	if err != nil {
		return api.Compound{}, err
	}
	_, warn, _ := c.d.schedule()
	return api.Compound{Compound: m.Name, Gate: m.Gate, Office: m.Office.String(), OfficePrint: m.Office.Fingerprint(),
		Public: m.Public.String(), PublicPrint: m.Public.Fingerprint(), JoinedAt: m.JoinedAt, Applied: m.Applied,
		EventSeq: m.EventSeq, AckedAudit: m.AckedAudit, Residents: m.Residents, Cards: m.Cards, Passes: m.Passes,
		Profiles: m.Profiles, Warnings: warn}, nil
}

func (c compoundAPI) Import(actor string, raw []byte) (api.Imported, error) {
	r, err := c.svc.Import(actor, raw)
	out := api.Imported{Seq: r.Seq, Snapshot: r.Snapshot, Residents: r.Residents, Removed: r.Removed, Cards: r.Cards, Passes: r.Passes, Erased: r.Erased}
	for _, x := range r.Deletions {
		out.Deletions = append(out.Deletions, api.Deletion{ReceiptID: x.ReceiptID, Resident: x.ResidentID, Actor: x.Actor, Reason: x.Reason, At: x.At, Templates: x.Templates, RequestedAt: x.RequestedAt})
	}
	_, out.Warnings, _ = c.d.schedule()
	return out, err
}

func (c compoundAPI) Export() (api.BundleFile, error) {
	name, b, err := c.svc.Events()
	return api.BundleFile{Name: name, Bytes: b}, err
}
