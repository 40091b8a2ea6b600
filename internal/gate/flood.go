package gate

import (
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// A refusal that names nobody (an unknown card, a forged or foreign QR, a
// wrong visitor code, an unknown face) is audited one by one up to
// floodBurst per reader (or the camera) and method in a floodPeriod; the
// rest of that period are counted and audited as one entry. A phone
// cycling fake QR codes at a scanner, or an emulated card stepping through
// numbers, could otherwise write 20 fsynced entries a second, about 375 MB
// of audit log a day (red team, issue 15), and fill the gate's storage
// with its backups. Decisions about a resident or a pass, grants and
// lock-outs are always audited one by one.
const (
	floodBurst  = 30
	floodPeriod = time.Minute
)

// floodWindow is one reader's and method's refusals in the current period.
type floodWindow struct {
	start      time.Time
	audited    int
	suppressed int
}

// floodKey says which refusals are counted together, or "" for a decision
// that is always audited.
func floodKey(d Decision) string {
	if d.Outcome != Denied || d.Resident != "" || d.Pass != "" {
		return ""
	}
	return string(d.Method) + " " + d.Reader
}

// quietRefusal reports whether d's audit entry is left out (counted), and
// returns the summary of an earlier period to record first, if any. g.mu
// not held.
func (g *Gate) quietRefusal(d Decision) (quiet bool, summary *store.Event) {
	key := floodKey(d)
	if key == "" {
		return false, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.floods == nil {
		g.floods = map[string]*floodWindow{}
	}
	w := g.floods[key]
	if w == nil || d.Time.Sub(w.start) >= floodPeriod || d.Time.Before(w.start) {
		if w != nil && w.suppressed > 0 {
			summary = floodSummary(key, w)
		}
		w = &floodWindow{start: d.Time}
		g.floods[key] = w
	}
	if w.audited < floodBurst {
		w.audited++
		return false, summary
	}
	w.suppressed++
	return true, summary
}

func floodSummary(key string, w *floodWindow) *store.Event {
	return &store.Event{Kind: store.KindAccess, Actor: "gate", Outcome: string(Denied),
		Detail: store.Detail(fmt.Sprintf("method=%s refusals=%d not recorded one by one (more than %d naming nobody from %s within %s)",
			key, w.suppressed, floodBurst, w.start.UTC().Format(time.RFC3339), floodPeriod))}
}

// FlushRefusals audits the counts of refusals that were counted, not
// recorded one by one, for periods that have ended (all of them when
// final, at shutdown). The daemon calls it every minute.
func (g *Gate) FlushRefusals(final bool) {
	now := g.cfg.Now()
	g.mu.Lock()
	var out []*store.Event
	for key, w := range g.floods {
		if !final && now.Sub(w.start) < floodPeriod {
			continue
		}
		if w.suppressed > 0 {
			out = append(out, floodSummary(key, w))
		}
		delete(g.floods, key)
	}
	g.mu.Unlock()
	for _, ev := range out {
		g.audit(*ev)
	}
}
