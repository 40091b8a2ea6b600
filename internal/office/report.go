package office

import (
	"slices"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/retention"
)

// Report is what the office shows of the compound.
type Report struct {
	At        time.Time       `json:"at"`
	Compound  string          `json:"compound"`
	Gates     []GateReport    `json:"gates"`
	Faces     []FaceReport    `json:"faces,omitempty"`
	Erasures  []ErasureReport `json:"erasures,omitempty"` // pending only
	Late      int             `json:"late"`               // pending past the legal limit
	Residents int             `json:"residents"`
	Log       int             `json:"log_entries"`
	LogError  string          `json:"log_error,omitempty"`
}

// GateReport is one gate's state at the office.
type GateReport struct {
	Name        string          `json:"name"`
	Fingerprint string          `json:"fingerprint"`
	Published   uint64          `json:"published"`
	PublishedAt time.Time       `json:"published_at,omitzero"`
	Applied     uint64          `json:"applied"`
	EventsSeq   uint64          `json:"events_seq"`
	EventsAt    time.Time       `json:"events_at,omitzero"`
	CollectedAt time.Time       `json:"collected_at,omitzero"`
	AuditSeq    uint64          `json:"audit_seq"`
	AuditHeld   int             `json:"audit_held"`
	ChainOK     bool            `json:"chain_ok"`
	ChainError  string          `json:"chain_error,omitempty"`
	Refusal     string          `json:"refusal,omitempty"`
	RefusedAt   time.Time       `json:"refused_at,omitzero"`
	Failed      []bundle.Import `json:"failed_imports,omitempty"` // refused records bundles still reported
}

// FaceReport says at which gates a resident has face data (counts only).
type FaceReport struct {
	Resident string         `json:"resident"`
	Name     string         `json:"name,omitempty"` // empty: no longer a resident at the office
	Gates    map[string]int `json:"gates"`
}

// ErasureReport is a pending erasure order.
type ErasureReport struct {
	ID        string    `json:"id"`
	Resident  string    `json:"resident"`
	Origin    string    `json:"origin"`
	Requested time.Time `json:"requested"`
	Deadline  time.Time `json:"deadline"` // the end of the 15th working day
	Pending   []string  `json:"pending"`  // gates that have not receipted
	Late      bool      `json:"late"`
}

// Report gathers the compound's state; cal counts working days for the
// erasure limit (retention.LegalWorkingDays).
func (o *Office) Report(cal *retention.Calendar) (Report, error) {
	now := o.now()
	rep := Report{At: now, Compound: o.compound}
	gates, err := o.Gates()
	if err != nil {
		return rep, err
	}
	rs, err := o.Residents()
	if err != nil {
		return rep, err
	}
	rep.Residents = len(rs)
	names := map[string]string{}
	for _, r := range rs {
		names[r.ID] = r.Name
	}
	faces := map[string]map[string]int{}
	for _, g := range gates {
		gr := GateReport{Name: g.Name, Published: g.Published, PublishedAt: g.PublishedAt, Applied: g.Applied, EventsSeq: g.EventsSeq,
			EventsAt: g.EventsAt, CollectedAt: g.CollectedAt, AuditSeq: g.AuditSeq, AuditHeld: g.AuditHeld,
			ChainOK: g.ChainError == "", ChainError: g.ChainError, Refusal: g.Refusal, RefusedAt: g.RefusedAt}
		if k, err := g.PublicKey(); err == nil {
			gr.Fingerprint = k.Fingerprint()
		}
		for _, im := range g.Imports {
			if !im.OK && im.Seq > g.Applied {
				gr.Failed = append(gr.Failed, im)
			}
		}
		rep.Gates = append(rep.Gates, gr)
		for id, n := range g.Faces {
			if faces[id] == nil {
				faces[id] = map[string]int{}
			}
			faces[id][g.Name] = n
		}
	}
	for id, m := range faces {
		rep.Faces = append(rep.Faces, FaceReport{Resident: id, Name: names[id], Gates: m})
	}
	slices.SortFunc(rep.Faces, func(a, b FaceReport) int {
		if a.Resident < b.Resident {
			return -1
		}
		if a.Resident > b.Resident {
			return 1
		}
		return 0
	})
	es, err := o.Erasures()
	if err != nil {
		return rep, err
	}
	for _, e := range es {
		p := e.Pending()
		if len(p) == 0 {
			continue
		}
		dl := cal.Deadline(e.Requested, retention.LegalWorkingDays)
		er := ErasureReport{ID: e.ID, Resident: e.Resident, Origin: e.Origin, Requested: e.Requested, Deadline: dl, Pending: p, Late: now.After(dl)}
		if er.Late {
			rep.Late++
		}
		rep.Erasures = append(rep.Erasures, er)
	}
	rep.Log, err = o.VerifyLog()
	if err != nil {
		rep.LogError = err.Error()
	}
	return rep, nil
}
