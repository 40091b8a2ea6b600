package gate_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/store"
)

// pulseDoor is a door whose pulse lasts until the test ends it, so a test
// can open the door contact during a pulse or after it.
type pulseDoor struct {
	started chan struct{}
	end     chan struct{}
}

func (d *pulseDoor) Open(ctx context.Context) error {
	d.started <- struct{}{}
	select {
	case <-d.end:
	case <-ctx.Done():
	}
	return nil
}

// syncClock is a clock the door worker reads while the test moves it.
type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *syncClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// buzzer records the alarm output.
type buzzer struct {
	mu sync.Mutex
	on []bool
}

func (b *buzzer) Sound(on bool) error {
	b.mu.Lock()
	b.on = append(b.on, on)
	b.mu.Unlock()
	return nil
}
func (b *buzzer) calls() []bool { b.mu.Lock(); defer b.mu.Unlock(); return slices.Clone(b.on) }

type doorFixture struct {
	g     *gate.Gate
	st    *store.DB
	door  *pulseDoor
	clock *syncClock
	buzz  *buzzer
	subs  <-chan gate.Decision
}

func setupDoor(t *testing.T) *doorFixture {
	t.Helper()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	clk := &syncClock{t: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}
	st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fx := &doorFixture{st: st, door: &pulseDoor{started: make(chan struct{}, 4), end: make(chan struct{})}, clock: clk, buzz: &buzzer{}}
	fx.g, err = gate.New(gate.Config{Now: clk.now, Door: gate.DoorConfig{HeldOpen: 30 * time.Second, Buzzer: fx.buzz}}, st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, stop := fx.g.Subscribe()
	t.Cleanup(stop)
	fx.subs = sub
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return fx
}

func (fx *doorFixture) contact(closed bool) {
	fx.g.DoorInputs(gate.DoorState{HasContact: true, Closed: closed, HasExit: true, HasTamper: true})
}

// audit returns the door's audit entries as "outcome detail".
func (fx *doorFixture) audit(t *testing.T) []string {
	t.Helper()
	var out []string
	err := fx.st.ForEachAudit(0, func(a store.AuditEntry) error {
		if a.Actor == "door" || strings.Contains(a.Detail, "method=exit") {
			out = append(out, a.Outcome+" "+a.Detail)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// next returns the next decision or alarm sent to subscribers.
func (fx *doorFixture) next(t *testing.T) gate.Decision {
	t.Helper()
	select {
	case d := <-fx.subs:
		return d
	case <-time.After(2 * time.Second):
		t.Fatal("nothing sent to subscribers in 2 s")
	}
	return gate.Decision{}
}

// TestDoorForcedOpen replays a door levered open while locked: the alarm
// stands until the door is shut, and is audited at both ends with how long
// it lasted.
func TestDoorForcedOpen(t *testing.T) {
	fx := setupDoor(t)
	fx.contact(true)
	fx.clock.advance(time.Minute)
	fx.contact(false)
	if d := fx.next(t); d.Method != gate.MethodDoor || d.Outcome != gate.AlarmRaised || d.Reader != gate.AlarmForcedOpen {
		t.Fatalf("subscriber got %+v, want the forced-open alarm", d)
	}
	if got := fx.g.Alarms(); len(got) != 1 || !strings.Contains(got[0], "door forced open") {
		t.Errorf("Alarms() = %q, want the forced-open alarm", got)
	}
	fx.clock.advance(4 * time.Second)
	fx.contact(true)
	if d := fx.next(t); d.Outcome != gate.AlarmCleared || !strings.Contains(d.Reason, "4s") {
		t.Errorf("subscriber got %+v, want the alarm cleared after 4s", d)
	}
	if got := fx.g.Alarms(); len(got) != 0 {
		t.Errorf("Alarms() after the door shut = %q, want none", got)
	}
	want := []string{"alarm alarm=forced-open: " + "door forced open: the door opened without a grant or the exit button",
		"alarm-cleared alarm=forced-open lasted=4s: door forced open: the door opened without a grant or the exit button"}
	if got := fx.audit(t); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	if got := fx.buzz.calls(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("alarm output = %v, want [true false]: on while the alarm stood", got)
	}
}

// TestDoorOpenedByGrant: a door opened during a pulse, or just after it
// (DoorGrace), is no alarm; one opened after the grace is.
func TestDoorOpenedByGrant(t *testing.T) {
	fx := setupDoor(t)
	fx.contact(true)
	fx.g.DoorInputs(gate.DoorState{HasExit: true, Exit: true}) // the exit button: a grant
	if d := fx.next(t); d.Method != gate.MethodExit || d.Outcome != gate.Granted || d.Reader != gate.ReaderExit {
		t.Fatalf("exit button decision = %+v, want granted by exit", d)
	}
	<-fx.door.started
	fx.g.DoorInputs(gate.DoorState{HasExit: true, Exit: true}) // still held: no second grant
	fx.clock.advance(time.Second)
	fx.contact(false)
	fx.clock.advance(2 * time.Second)
	fx.contact(true)
	fx.door.end <- struct{}{}         // the pulse ends
	time.Sleep(50 * time.Millisecond) // and the door worker notes it
	fx.clock.advance(500 * time.Millisecond)
	fx.contact(false) // pushed just as the strike locked
	fx.contact(true)
	fx.clock.advance(5 * time.Second)
	fx.contact(false) // well after: forced
	if d := fx.next(t); d.Outcome != gate.AlarmRaised || d.Reader != gate.AlarmForcedOpen {
		t.Fatalf("after the grace: %+v, want the forced-open alarm (and nothing before it)", d)
	}
	audit := fx.audit(t)
	if len(audit) != 2 || !strings.HasPrefix(audit[0], "granted method=exit reader=exit-button") || !strings.HasPrefix(audit[1], "alarm alarm=forced-open") {
		t.Errorf("audit = %q, want the exit grant, then one forced-open alarm", audit)
	}
}

// TestDoorHeldOpen: a door propped open after a grant raises held open at
// door.held_open, not before, and clears it when shut.
func TestDoorHeldOpen(t *testing.T) {
	fx := setupDoor(t)
	fx.contact(true)
	fx.g.DoorInputs(gate.DoorState{HasExit: true, Exit: true})
	fx.next(t)
	<-fx.door.started
	fx.contact(false)
	fx.door.end <- struct{}{}
	fx.clock.advance(29 * time.Second)
	fx.contact(false)
	if got := fx.g.Alarms(); len(got) != 0 {
		t.Fatalf("Alarms() after 29 s open = %q, want none yet", got)
	}
	fx.clock.advance(time.Second)
	fx.contact(false)
	if d := fx.next(t); d.Outcome != gate.AlarmRaised || d.Reader != gate.AlarmHeldOpen || !strings.Contains(d.Reason, "please close the door") {
		t.Fatalf("at 30 s: %+v, want the held-open alarm", d)
	}
	fx.clock.advance(10 * time.Second)
	fx.contact(false)
	fx.contact(true)
	if d := fx.next(t); d.Outcome != gate.AlarmCleared || d.Reader != gate.AlarmHeldOpen || !strings.Contains(d.Reason, "10s") {
		t.Errorf("shut: %+v, want held-open cleared after 10s", d)
	}
}

func TestDoorTamper(t *testing.T) {
	fx := setupDoor(t)
	fx.g.DoorInputs(gate.DoorState{HasTamper: true, Tamper: true})
	fx.g.DoorInputs(gate.DoorState{HasTamper: true, Tamper: true})
	fx.g.DoorInputs(gate.DoorState{HasTamper: false}) // unreadable: no change
	if got := fx.g.Alarms(); len(got) != 1 || !strings.HasPrefix(got[0], "tamper") {
		t.Fatalf("Alarms() = %q, want the tamper alarm once", got)
	}
	fx.g.DoorInputs(gate.DoorState{HasTamper: true})
	if got := fx.audit(t); len(got) != 2 || !strings.HasPrefix(got[0], "alarm alarm=tamper") || !strings.HasPrefix(got[1], "alarm-cleared alarm=tamper") {
		t.Errorf("audit = %q, want the tamper alarm's start and end", got)
	}
}
