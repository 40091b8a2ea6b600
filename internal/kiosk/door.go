package kiosk

import "github.com/gated-dev/gated/internal/gate"

// DoorOpen is the screen while the door is held or forced open: "please
// close the door", until the door is shut.
const DoorOpen State = "door-open"

// doorTexts are the door screen's sentences, in Chinese and English.
var doorTexts = map[string][2]string{
	"t-door-open":        {"请关门", "Please close the door"},
	gate.AlarmHeldOpen:   {"门已打开太久。请随手关门。", "The door has been open too long. Please close it behind you."},
	gate.AlarmForcedOpen: {"门被强行打开，物业已收到警报。请关门。", "The door was forced open and the property office has been alerted. Please close the door."},
}

func doorText(lang, key string) string {
	if lang == "en" {
		return doorTexts[key][1]
	}
	return doorTexts[key][0]
}

// doorDecision shows the door's own events; k.mu held. It reports whether
// d was one: the exit button (someone leaving: nothing to show) or a door
// alarm. Held and forced open show "please close the door" until the door
// is shut; other alarms (tamper, readers down, inputs that cannot be
// read) are for staff, not the screen. An alarm raised while a resident
// is in a flow, or reads its result, does not interrupt it: the kiosk
// remembers it, and the door screen shows when the flow or its result
// ends (toIdle), if the door still stands open then.
func (k *Kiosk) doorDecision(d gate.Decision) bool {
	switch d.Method {
	case gate.MethodExit:
		return true
	case gate.MethodDoor:
	default:
		return false
	}
	if d.Reader != gate.AlarmHeldOpen && d.Reader != gate.AlarmForcedOpen {
		return true
	}
	switch d.Outcome {
	case gate.AlarmRaised:
		if k.doorAlarms == nil {
			k.doorAlarms = map[string]bool{}
		}
		k.doorAlarms[d.Reader] = true
		if k.flow == nil && !k.showingResult() {
			k.showDoor()
		}
	case gate.AlarmCleared:
		delete(k.doorAlarms, d.Reader)
		if len(k.doorAlarms) == 0 && k.screen.State == DoorOpen {
			k.show(Idle, nil, 0)
		}
	}
	return true
}

// showingResult reports whether a flow's result (enrolled, a withdrawal's
// receipt) is on the screen; k.mu held. It is shown once, so a door alarm
// does not replace it: the door screen follows when its time is up
// (toIdle), if the door still stands open.
func (k *Kiosk) showingResult() bool {
	st := k.screen.State
	return st == Enrolled || st == OptedOut || st == OptOutPending
}

// showDoor shows the door screen for the alarms standing, forced open
// before held open; k.mu held.
func (k *Kiosk) showDoor() {
	kind := gate.AlarmHeldOpen
	if k.doorAlarms[gate.AlarmForcedOpen] {
		kind = gate.AlarmForcedOpen
	}
	k.show(DoorOpen, func(s *Screen) {
		s.Title, s.Body = doorText(s.Lang, "t-door-open"), doorText(s.Lang, kind)
	}, 0) // until the door is shut
}

// showIdle shows the idle screen, or the door screen while the door is
// held or forced open; k.mu held, no flow open.
func (k *Kiosk) showIdle() {
	if len(k.doorAlarms) > 0 {
		k.showDoor()
		return
	}
	k.show(Idle, nil, 0)
}
