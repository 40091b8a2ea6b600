package gate

import (
	"fmt"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// AlarmReadersDown is the Reader of the "readers down" alarm's Decision.
const AlarmReadersDown = "readers-down"

// readersDownSentence is the alarm as people read it (gated status, watch).
const readersDownSentence = "every card and PIN reader is down: only enrolled faces can get in"

// Readers records the fallback readers' health. When every reader is down,
// no one without an enrolled face can get in: the gate raises an alarm at
// once (error log, audit entry, status, and a Decision with MethodDoor,
// Reader AlarmReadersDown to subscribers, as a door alarm) and clears it
// when a reader is back.
//
// It does not sound the alarm output (DoorConfig.Buzzer), which stands for
// the door: forced, held open, tamper, or its inputs gone blind, things the
// people at the door or a guard must act on at once. A reader down is a
// fault for the property office: the door stays locked and guarded, faces
// still open it, and nobody at the door can mend a cable or a reader; a
// buzzer sounding for the hours until a technician comes would only teach
// the building to ignore it when the door is forced.
func (g *Gate) Readers(hs []fallback.Health) {
	down := len(hs) > 0
	var names []string
	for _, h := range hs {
		if h.Up {
			down = false
		}
		names = append(names, h.Reader+": "+h.LastErr)
	}
	now := g.cfg.Now()
	g.mu.Lock()
	g.readers = append(g.readers[:0], hs...)
	changed := down != g.alarm
	g.alarm = down
	since := g.alarmSince
	if changed && down {
		g.alarmSince = now
	}
	g.mu.Unlock()
	if !changed {
		return
	}
	d := Decision{Time: now, Method: MethodDoor, Outcome: AlarmRaised, Reader: AlarmReadersDown,
		Reason: readersDownSentence + " (" + strings.Join(names, "; ") + ")"}
	if down {
		g.log.Error("gate: ALARM: every card and PIN reader is down; only enrolled faces can get in", "readers", strings.Join(names, "; "))
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm", Detail: store.Detail("alarm=" + AlarmReadersDown + ": all fallback readers down: " + strings.Join(names, "; "))})
	} else {
		lasted := now.Sub(since).Round(100 * time.Millisecond)
		g.log.Warn("gate: alarm cleared: a card or PIN reader is back")
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm-cleared", Detail: store.Detail(fmt.Sprintf("alarm=%s lasted=%v: a fallback reader is up again", AlarmReadersDown, lasted))})
		d.Outcome = AlarmCleared
		d.Reason = fmt.Sprintf("ended after %v: a card or PIN reader is up again", lasted)
	}
	g.saveGateAlarms()
	g.send(d)
}

// send gives d to every subscriber (dropped for one that falls behind).
func (g *Gate) send(d Decision) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range g.subs {
		select {
		case ch <- d:
		default:
		}
	}
}

// Alarm reports whether every fallback reader is down, and their last
// known health.
func (g *Gate) Alarm() (bool, []fallback.Health) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.alarm, append([]fallback.Health(nil), g.readers...)
}
