package gate

import (
	"strings"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// Readers records the fallback readers' health. When every reader is down,
// no one without an enrolled face can get in: the gate raises an alarm at
// once (error log, audit entry, status) and clears it when a reader is back.
func (g *Gate) Readers(hs []fallback.Health) {
	down := len(hs) > 0
	var names []string
	for _, h := range hs {
		if h.Up {
			down = false
		}
		names = append(names, h.Reader+": "+h.LastErr)
	}
	g.mu.Lock()
	g.readers = append(g.readers[:0], hs...)
	changed := down != g.alarm
	g.alarm = down
	g.mu.Unlock()
	if !changed {
		return
	}
	if down {
		g.log.Error("gate: ALARM: every card and PIN reader is down; only enrolled faces can get in", "readers", strings.Join(names, "; "))
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm", Detail: store.Detail("all fallback readers down: " + strings.Join(names, "; "))})
		return
	}
	g.log.Warn("gate: alarm cleared: a card or PIN reader is back")
	g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm-cleared", Detail: "a fallback reader is up again"})
}

// Alarm reports whether every fallback reader is down, and their last
// known health.
func (g *Gate) Alarm() (bool, []fallback.Health) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.alarm, append([]fallback.Health(nil), g.readers...)
}
