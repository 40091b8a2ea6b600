package gate_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/testenv"
)

// quiet checks that nothing more was sent to subscribers.
func (fx *doorFixture) quiet(t *testing.T, after string) {
	t.Helper()
	select {
	case d := <-fx.subs:
		t.Errorf("after %s: %+v sent to subscribers, want nothing", after, d)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestReadersDownSentToSubscribers: "every reader down" reaches gated
// watch and the kiosk as a door alarm (raised, then cleared with how long
// it stood), once each way; it does not sound the alarm output, and a
// door alarm during it switches the output on and off by itself.
func TestReadersDownSentToSubscribers(t *testing.T) {
	fx := setupDoor(t)
	down := []fallback.Health{{Reader: "front", LastErr: "read /dev/ttyUSB0: EOF"}, {Reader: "back", LastErr: "no such device"}}
	fx.g.Readers(down)
	d := fx.next(t)
	if d.Method != gate.MethodDoor || d.Outcome != gate.AlarmRaised || d.Reader != gate.AlarmReadersDown ||
		!strings.Contains(d.Reason, "every card and PIN reader is down") || !strings.Contains(d.Reason, "front: read /dev/ttyUSB0: EOF") {
		t.Fatalf("readers down sent %+v, want a door alarm %s naming the readers", d, gate.AlarmReadersDown)
	}
	fx.g.Readers(down)
	fx.quiet(t, "the same readers down again")
	if got := fx.buzz.calls(); len(got) != 0 {
		t.Errorf("alarm output while readers are down = %v, want untouched (a fault for the office, not the door)", got)
	}

	fx.g.DoorInputs(gate.DoorState{HasTamper: true, Tamper: true})
	fx.next(t)
	fx.g.DoorInputs(gate.DoorState{HasTamper: true})
	fx.next(t)
	if got := fx.buzz.calls(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("alarm output for tamper while readers are down = %v, want on then off", got)
	}

	fx.clock.advance(90 * time.Second)
	up := slices.Clone(down)
	up[1].Up = true
	fx.g.Readers(up)
	d = fx.next(t)
	if d.Method != gate.MethodDoor || d.Outcome != gate.AlarmCleared || d.Reader != gate.AlarmReadersDown || !strings.Contains(d.Reason, "ended after 1m30s") {
		t.Errorf("a reader back sent %+v, want %s cleared after 1m30s", d, gate.AlarmReadersDown)
	}
	fx.g.Readers(up)
	fx.quiet(t, "the readers still up")
}

// TestDoorInputsUnreadable replays a cut cable to the input board: a read
// that fails for less than DoorUnreadableAfter is no alarm; a longer one
// is the alarm inputs-unreadable (status, audit, subscribers, alarm
// output), one however the set of failing inputs changes, until every
// input reads again.
func TestDoorInputsUnreadable(t *testing.T) {
	fx := setupDoor(t)
	contact := []string{"door contact"}
	fx.contact(true)
	fx.g.DoorUnreadable(nil)

	// A lost answer now and then.
	fx.g.DoorUnreadable(contact)
	fx.clock.advance(900 * time.Millisecond)
	fx.g.DoorUnreadable(contact)
	fx.g.DoorUnreadable(nil)
	fx.clock.advance(200 * time.Millisecond)
	fx.g.DoorUnreadable(contact)
	fx.clock.advance(900 * time.Millisecond)
	fx.g.DoorUnreadable(contact)
	if got := fx.g.Alarms(); len(got) != 0 {
		t.Fatalf("Alarms() after reads failing 0.9 s twice = %q, want none", got)
	}
	fx.quiet(t, "short failures")

	fx.clock.advance(100 * time.Millisecond)
	fx.g.DoorUnreadable(contact)
	d := fx.next(t)
	if d.Method != gate.MethodDoor || d.Outcome != gate.AlarmRaised || d.Reader != gate.AlarmInputs || !strings.Contains(d.Reason, "the door's door contact cannot be read") {
		t.Fatalf("contact unreadable for 1 s sent %+v, want the alarm %s naming the door contact", d, gate.AlarmInputs)
	}
	if got := fx.g.Alarms(); len(got) != 1 || !strings.Contains(got[0], "door contact cannot be read") {
		t.Errorf("Alarms() = %q, want the unreadable contact", got)
	}
	if got := fx.buzz.calls(); !slices.Equal(got, []bool{true}) {
		t.Errorf("alarm output = %v, want on: the door is unguarded", got)
	}
	fx.clock.advance(3 * time.Second)
	fx.g.DoorUnreadable([]string{"door contact", "exit button"})
	fx.quiet(t, "another input failing too")

	fx.clock.advance(time.Second)
	fx.g.DoorUnreadable(nil)
	d = fx.next(t)
	if d.Outcome != gate.AlarmCleared || d.Reader != gate.AlarmInputs || !strings.Contains(d.Reason, "ended after 4s") {
		t.Errorf("every input reading again sent %+v, want %s cleared after 4s", d, gate.AlarmInputs)
	}
	if got := fx.buzz.calls(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("alarm output = %v, want on then off", got)
	}
	if got := fx.g.Alarms(); len(got) != 0 {
		t.Errorf("Alarms() after every input reads = %q, want none", got)
	}
	got := fx.audit(t)
	if len(got) != 2 || !strings.HasPrefix(got[0], "alarm alarm=inputs-unreadable: the door's door contact cannot be read") ||
		!strings.HasPrefix(got[1], "alarm-cleared alarm=inputs-unreadable lasted=4s:") {
		t.Errorf("audit = %q, want the alarm's start and its end after 4s", got)
	}
}

// TestDoorInputsUnreadableAcrossRestart: gated stopped while the inputs
// could not be read (the board's power and the controller's went
// together): the next start audits the alarm's end by the restart at its
// first call, whichever of DoorInputs and DoorUnreadable comes first,
// before a new alarm is kept.
func TestDoorInputsUnreadableAcrossRestart(t *testing.T) {
	fx := setupDoor(t)
	fx.g.DoorUnreadable([]string{"tamper input"})
	fx.clock.advance(2 * time.Second)
	fx.g.DoorUnreadable([]string{"tamper input"})
	fx.next(t)

	g2, err := gate.New(gate.Config{Now: fx.clock.now, Door: gate.DoorConfig{HeldOpen: 30 * time.Second}}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.clock.advance(time.Minute)
	g2.DoorUnreadable([]string{"tamper input"}) // still unreadable: the clock starts again
	got := fx.audit(t)
	if len(got) != 2 || !strings.HasPrefix(got[1], "alarm-cleared alarm=inputs-unreadable started=") || !strings.Contains(got[1], "ended by a restart") {
		t.Fatalf("audit after the restart = %q, want the alarm ended by the restart", got)
	}
	fx.clock.advance(time.Second)
	g2.DoorUnreadable([]string{"tamper input"})
	if got := fx.audit(t); len(got) != 3 || !strings.HasPrefix(got[2], "alarm alarm=inputs-unreadable:") {
		t.Errorf("audit = %q, want a new alarm after a second of failing reads", got)
	}
}

// failingBuzzer is an alarm output on a board that does not answer.
type failingBuzzer struct {
	mu sync.Mutex
	n  int
}

func (b *failingBuzzer) Sound(bool) error {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return errors.New("modbus: no answer from address 1")
}

// syncBuffer: testenv's, a log written from other goroutines while the test reads it.
type syncBuffer = testenv.SyncBuffer

// TestAlarmOutputFailureLoggedOnce: an alarm output that cannot be
// switched (on the board that stopped answering) is tried again at every
// reading, 20 a second, and logged once, not at every try.
func TestAlarmOutputFailureLoggedOnce(t *testing.T) {
	fx := setupDoor(t)
	var logs syncBuffer
	bz := &failingBuzzer{}
	g, err := gate.New(gate.Config{Now: fx.clock.now, Log: slog.New(slog.NewTextHandler(&logs, nil)), Door: gate.DoorConfig{Buzzer: bz}}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		g.DoorInputs(gate.DoorState{HasTamper: true, Tamper: true})
		fx.clock.advance(50 * time.Millisecond)
	}
	bz.mu.Lock()
	tries := bz.n
	bz.mu.Unlock()
	if tries != 20 {
		t.Errorf("alarm output tried %d times in 20 readings, want 20 (again at each)", tries)
	}
	if n := strings.Count(logs.String(), "gate: alarm output"); n != 1 {
		t.Errorf("the failing alarm output was logged %d times, want once:\n%s", n, logs.String())
	}
}
