package gate

import "github.com/gated-dev/gated/internal/store"

// The gate's own alarms across a restart: "every card and PIN reader is
// down" and the presentation-attack alarm, like the door's (doorstate.go).
// A power cut or a crash while one stands would leave its start in the
// audit log without an end, and `gated report` would list it as standing
// for good. So the gate keeps them (kind and start) in the store's
// unaudited state whenever they change, and a new gate over the same store
// audits each as ended "by a restart". Their causes are judged afresh:
// readers still down raise the alarm again at the first health report.

// gateAlarmState is the store state name.
const gateAlarmState = store.StatePrefix + "gate-alarms"

// saveGateAlarms records the gate's alarms standing now.
func (g *Gate) saveGateAlarms() {
	g.stateMu.Lock() // one writer at a time, so the last state written is the last one
	defer g.stateMu.Unlock()
	g.mu.Lock()
	var list []savedAlarm
	if g.alarm {
		list = append(list, savedAlarm{Kind: AlarmReadersDown, Since: g.alarmSince})
	}
	if !g.padRaised.IsZero() {
		list = append(list, savedAlarm{Kind: AlarmPresentation, Since: g.padRaised})
	}
	g.mu.Unlock()
	g.keepAlarms(gateAlarmState, list)
}

// gateAlarmSentences are what each kept alarm was, for its end's audit entry.
var gateAlarmSentences = map[string]string{
	AlarmReadersDown:  readersDownSentence,
	AlarmPresentation: padSentence(padLimit),
}

// endAlarmsOfLastRun audits the gate's alarms that stood when gated last
// stopped as ended by the restart, and clears them from the state.
func (g *Gate) endAlarmsOfLastRun() {
	for _, s := range g.takeAlarms(gateAlarmState) {
		if sentence, known := gateAlarmSentences[s.Kind]; known {
			g.endedByRestart("gate", s, sentence)
		}
	}
}
