package kiosk

import (
	"context"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
)

func TestDoorScreen(t *testing.T) {
	k := New(Config{Reader: "front"}, nil)
	k.Decision(gate.Decision{Method: gate.MethodExit, Outcome: gate.Granted, Reader: gate.ReaderExit})
	if s := k.Screen(); s.State != Idle {
		t.Errorf("screen after the exit button = %s, want idle (no \"welcome\" for someone leaving)", s.State)
	}
	for _, kind := range []string{gate.AlarmTamper, gate.AlarmReadersDown, gate.AlarmInputs} {
		k.Decision(gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: kind, Reason: "for staff"})
		if s := k.Screen(); s.State != Idle {
			t.Errorf("screen after a %s alarm = %s, want idle (it is for staff)", kind, s.State)
		}
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

// TestDoorScreenAfterFlow: a door held or forced open while a resident is
// in a flow does not interrupt it, and "please close the door" shows when
// the flow ends (cancelled, or timed out), if the door still stands open;
// not if it was shut meanwhile. A welcome over the door screen falls back
// to the door screen, not to idle, while the door stands open.
func TestDoorScreenAfterFlow(t *testing.T) {
	held := gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: gate.AlarmHeldOpen}
	forced := gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: gate.AlarmForcedOpen}
	shut := func(d gate.Decision) gate.Decision { d.Outcome = gate.AlarmCleared; return d }

	t.Run("cancelled", func(t *testing.T) {
		be := newBackend()
		k, _ := newKiosk(be)
		begin(t, k, be, "1001", "5678", "2")
		waitState(t, k, OptOutConfirm)
		k.Decision(forced)
		k.Decision(held)
		if s := k.Screen(); s.State != OptOutConfirm {
			t.Fatalf("screen after a door alarm during the flow = %s, want %s (the flow goes on)", s.State, OptOutConfirm)
		}
		send(t, k, pinAt("0"), true) // the resident cancels
		if s := k.Screen(); s.State != DoorOpen || s.Body != doorTexts[gate.AlarmForcedOpen][0] {
			t.Errorf("screen after the flow ended with the door forced open = %s %q, want %s %q", s.State, s.Body, DoorOpen, doorTexts[gate.AlarmForcedOpen][0])
		}
		send(t, k, pinAt("9"), true) // English: still the door screen
		if s := k.Screen(); s.State != DoorOpen || s.Body != doorTexts[gate.AlarmForcedOpen][1] {
			t.Errorf("screen after 9# = %s %q, want %s %q", s.State, s.Body, DoorOpen, doorTexts[gate.AlarmForcedOpen][1])
		}
		// Someone enters while the door stands open: welcome, then the
		// door screen again.
		k.Decision(gate.Decision{Outcome: gate.Granted, Method: gate.MethodCardPIN, Reader: "front", Resident: "r-victim", Name: "Victim"})
		if s := k.Screen(); s.State != Granted {
			t.Fatalf("screen after a grant = %s, want %s", s.State, Granted)
		}
		k.mu.Lock()
		k.toIdle() // what Run does when the welcome has shown long enough
		k.mu.Unlock()
		if s := k.Screen(); s.State != DoorOpen {
			t.Errorf("screen after the welcome, the door still open = %s, want %s", s.State, DoorOpen)
		}
		k.Decision(shut(forced))
		k.Decision(shut(held))
		if s := k.Screen(); s.State != Idle {
			t.Errorf("screen after the door was shut = %s, want %s", s.State, Idle)
		}
	})

	t.Run("timed out", func(t *testing.T) {
		be := newBackend()
		k, clk := newKiosk(be)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { k.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		begin(t, k, be, "1001", "5678", "2")
		waitState(t, k, OptOutConfirm)
		k.Decision(held)
		clk.add(2 * time.Minute) // the step's timeout
		waitState(t, k, DoorOpen)
		if s := k.Screen(); s.Body != doorTexts[gate.AlarmHeldOpen][0] {
			t.Errorf("door screen body = %q, want %q", s.Body, doorTexts[gate.AlarmHeldOpen][0])
		}
	})

	t.Run("shut during the flow", func(t *testing.T) {
		be := newBackend()
		k, _ := newKiosk(be)
		begin(t, k, be, "1001", "5678", "2")
		waitState(t, k, OptOutConfirm)
		k.Decision(held)
		k.Decision(shut(held))
		send(t, k, pinAt("0"), true)
		if s := k.Screen(); s.State != Idle {
			t.Errorf("screen after the flow, the door shut during it = %s, want %s", s.State, Idle)
		}
	})
}

// TestReceiptStaysThroughADoorAlarm (red team, 2026-12-02): the receipt of
// a withdrawal is shown once, and the door opened for the resident's card
// just before the flow began, so "held open" can well be raised while the
// receipt shows. It must not wipe the receipt off the screen: the door
// screen follows when the receipt's time is up, if the door still stands
// open.
func TestReceiptStaysThroughADoorAlarm(t *testing.T) {
	for _, pending := range []bool{false, true} {
		be := newBackend()
		be.diskFull = pending
		k, clk := newKiosk(be)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { k.Run(ctx); close(done) }()
		begin(t, k, be, "3003", "2222", "2")
		waitState(t, k, OptOutConfirm)
		decide(t, k, "3003", "2222")
		want := map[bool]State{false: OptedOut, true: OptOutPending}[pending]
		waitState(t, k, want)
		receipt := k.Screen().Receipt
		clk.add(3 * time.Second) // past resultHold: the resident is still copying the receipt
		k.Decision(gate.Decision{Method: gate.MethodDoor, Outcome: gate.AlarmRaised, Reader: gate.AlarmHeldOpen})
		if s := k.Screen(); s.State != want || s.Receipt != receipt {
			t.Errorf("pending=%v: screen after held open during the receipt = %s (receipt %q), want %s with receipt %q", pending, s.State, s.Receipt, want, receipt)
		}
		clk.add(time.Minute) // the receipt's time is up
		waitState(t, k, DoorOpen)
		cancel()
		<-done
	}
}
