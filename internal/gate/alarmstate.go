package gate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

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

// saveGateAlarms records the gate's alarms standing now; errors are logged
// (the store may be read-only; the audit log still has each start).
func (g *Gate) saveGateAlarms() {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return
	}
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
	var v []byte
	if len(list) > 0 {
		v, _ = json.Marshal(list)
	}
	if err := st.PutState(gateAlarmState, v); err != nil {
		g.log.Warn("gate: keep the standing alarms", "err", err)
	}
}

// gateAlarmSentences are what each kept alarm was, for its end's audit entry.
var gateAlarmSentences = map[string]string{
	AlarmReadersDown:  readersDownSentence,
	AlarmPresentation: padSentence(padLimit),
}

// endAlarmsOfLastRun audits the gate's alarms that stood when gated last
// stopped as ended by the restart, and clears them from the state.
func (g *Gate) endAlarmsOfLastRun() {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return
	}
	v, err := st.Setting(gateAlarmState)
	if err != nil || len(v) == 0 {
		return
	}
	var list []savedAlarm
	if err := json.Unmarshal(v, &list); err != nil {
		g.log.Warn("gate: the standing alarms kept in the store do not read; ignored", "err", err)
		list = nil
	}
	for _, s := range list {
		sentence, known := gateAlarmSentences[s.Kind]
		if !known {
			continue
		}
		g.log.Warn("gate: alarm ended by a restart", "alarm", s.Kind, "since", s.Since)
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: string(AlarmCleared), Detail: store.Detail(fmt.Sprintf(
			"alarm=%s started=%s ended by a restart (gated stopped while it stood: a power cut or a crash?): %s",
			s.Kind, s.Since.UTC().Format(time.RFC3339), sentence))})
	}
	if err := st.PutState(gateAlarmState, nil); err != nil {
		g.log.Warn("gate: clear the standing alarms", "err", err)
	}
}
