package kiosk

import (
	"testing"

	"github.com/gated-dev/gated/internal/gate"
)

func TestDoorScreen(t *testing.T) {
	k := New(Config{Reader: "front"}, nil)
	k.Decision(gate.Decision{Method: gate.MethodExit, Outcome: gate.Granted, Reader: gate.ReaderExit})
	if s := k.Screen(); s.State != Idle {
		t.Errorf("screen after the exit button = %s, want idle (no \"welcome\" for someone leaving)", s.State)
	}
	k.Decision(gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: gate.AlarmTamper})
	if s := k.Screen(); s.State != Idle {
		t.Errorf("screen after a tamper alarm = %s, want idle (tamper is for staff)", s.State)
	}
	k.Decision(gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: gate.AlarmHeldOpen})
	if s := k.Screen(); s.State != DoorOpen || s.Title != "请关门" || s.Body != doorTexts[gate.AlarmHeldOpen][0] {
		t.Errorf("screen while held open = %+v, want \"please close the door\"", s)
	}
	k.mu.Lock()
	until := k.until
	k.mu.Unlock()
	if !until.IsZero() {
		t.Errorf("the door screen falls back to idle at %v, want it to stay until the door is shut", until)
	}
	k.Decision(gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmCleared, Reader: gate.AlarmHeldOpen})
	if s := k.Screen(); s.State != Idle {
		t.Errorf("screen after the door was shut = %s, want idle", s.State)
	}
	for key, tx := range doorTexts {
		if tx[0] == "" || tx[1] == "" || tx[0] == tx[1] {
			t.Errorf("door text %s: %q, want both languages", key, tx)
		}
	}
}
