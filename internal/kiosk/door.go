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
// alarm (held or forced open: "please close the door" until the door is
// shut; tamper is for staff, not the screen).
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
	switch {
	case d.Outcome == gate.AlarmRaised && k.flow == nil:
		k.show(DoorOpen, func(s *Screen) {
			s.Title, s.Body = doorText(s.Lang, "t-door-open"), doorText(s.Lang, d.Reader)
		}, 0) // until the door is shut
	case d.Outcome == gate.AlarmCleared && k.screen.State == DoorOpen:
		k.show(Idle, nil, 0)
	}
	return true
}
