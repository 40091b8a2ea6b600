package gate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// Door alarms across a restart. An alarm's end is audited when the door
// closes or the input clears; a power cut or a crash while an alarm
// stands would leave its start without an end, and a door forced and
// still open at the restart would start a fresh held-open clock as if
// nothing had happened. So the gate keeps the standing alarms (kind and
// start) in the store's unaudited state (store.DB.PutState) whenever
// they change, and at its first reading of the inputs after a start:
//
//   - every alarm that stood when gated stopped is audited as ended "by
//     a restart", with how long it had stood by the last time gated ran;
//   - if one of them was forced or held open and the contact reads open
//     now, held open is raised at once (the door has stood open since
//     before the restart), not after a fresh door.held_open.

// doorAlarmState is the store state name.
const doorAlarmState = store.StatePrefix + "door-alarms"

// alarmStateStore is the part of the store that keeps it (*store.DB).
type alarmStateStore interface {
	Setting(name string) ([]byte, error)
	PutState(name string, value []byte) error
}

type savedAlarm struct {
	Kind  string    `json:"kind"`
	Since time.Time `json:"since"`
}

// saveDoorAlarms records the alarms standing now.
func (g *Gate) saveDoorAlarms(alarms map[string]doorAlarm) {
	list := make([]savedAlarm, 0, len(alarms))
	for k, a := range alarms {
		list = append(list, savedAlarm{Kind: k, Since: a.since})
	}
	g.keepAlarms(doorAlarmState, list)
}

// keepAlarms records list in the store's state name (none clears it);
// errors are logged (the store may be read-only; the audit log still has
// each start).
func (g *Gate) keepAlarms(name string, list []savedAlarm) {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return
	}
	var v []byte
	if len(list) > 0 {
		v, _ = json.Marshal(list)
	}
	if err := st.PutState(name, v); err != nil {
		g.log.Warn("gate: keep the standing alarms", "state", name, "err", err)
	}
}

// takeAlarms reads the alarms kept in the store's state name by the run
// before, and clears them.
func (g *Gate) takeAlarms(name string) []savedAlarm {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return nil
	}
	v, err := st.Setting(name)
	if err != nil || len(v) == 0 {
		return nil
	}
	var list []savedAlarm
	if err := json.Unmarshal(v, &list); err != nil {
		g.log.Warn("gate: the standing alarms kept in the store do not read; ignored", "state", name, "err", err)
		list = nil
	}
	if err := st.PutState(name, nil); err != nil {
		g.log.Warn("gate: clear the standing alarms", "state", name, "err", err)
	}
	return list
}

// endedByRestart audits the end of an alarm that stood when gated stopped.
func (g *Gate) endedByRestart(actor string, s savedAlarm, sentence string) {
	g.log.Warn("gate: alarm ended by a restart", "alarm", s.Kind, "since", s.Since)
	g.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: string(AlarmCleared), Detail: store.Detail(fmt.Sprintf(
		"alarm=%s started=%s ended by a restart (gated stopped while it stood: a power cut or a crash?): %s",
		s.Kind, s.Since.UTC().Format(time.RFC3339), sentence))})
}

// restoredDoorAlarms reads and closes the alarms that stood when gated
// last stopped: each is audited as ended by the restart. It returns
// whether the door was open (forced or held) then, and since when.
func (g *Gate) restoredDoorAlarms(now time.Time) (wasOpen bool, openSince time.Time) {
	for _, s := range g.takeAlarms(doorAlarmState) {
		sentence, known := doorSentences[s.Kind]
		if !known {
			continue
		}
		if s.Kind == AlarmHeldOpen {
			sentence = fmt.Sprintf(sentence, g.heldOpen())
		}
		g.endedByRestart("door", s, sentence)
		if s.Kind == AlarmForcedOpen || s.Kind == AlarmHeldOpen {
			if !wasOpen || s.Since.Before(openSince) {
				openSince = s.Since
			}
			wasOpen = true
		}
	}
	if openSince.After(now) {
		openSince = now
	}
	return wasOpen, openSince
}

// An unlock window's hold across a restart: its start is kept in the
// store's state while the door is held, so a power cut or crash inside
// the window, which leaves its start without an end in the audit log,
// is closed at the next start ("ended by a restart") before the window
// is judged again.
const unlockWindowState = store.StatePrefix + "unlock-window"

// keepUnlockState records since (a hold began) or clears it (zero).
func (g *Gate) keepUnlockState(since time.Time) {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return
	}
	var v []byte
	if !since.IsZero() {
		v, _ = since.UTC().MarshalText()
	}
	if err := st.PutState(unlockWindowState, v); err != nil {
		g.log.Warn("gate: keep the unlock window's state", "err", err)
	}
}

// unlockRestored closes a hold that was running when gated stopped
// without locking (the door was locked at this start by gated-lock and
// the daemon before anything else).
func (g *Gate) unlockRestored(now time.Time) {
	st, ok := g.st.(alarmStateStore)
	if !ok {
		return
	}
	v, err := st.Setting(unlockWindowState)
	if err != nil || len(v) == 0 {
		return
	}
	var since time.Time
	if since.UnmarshalText(v) != nil {
		since = time.Time{}
	}
	g.unlockEvent(Relocked, now, fmt.Sprintf("unlock profile=%s started=%s: ended by a restart (gated stopped inside the window: a power cut or a crash?)",
		g.cfg.Unlock, since.Format(time.RFC3339)), "door locked by schedule: ended by a restart")
	g.keepUnlockState(time.Time{})
}
