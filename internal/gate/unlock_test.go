package gate_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

// unlockFixture is a gate with the unlock window "market" (daily
// 07:00-09:00 UTC) on a real relay.Door over a fake relay (the hardware
// boundary), a real store, and a clock the test moves.
type unlockFixture struct {
	g     *gate.Gate
	st    *store.DB
	relay *relaytest.Relay
	door  *relay.Door
	clock *syncClock
	subs  <-chan gate.Decision
	stop  func() // ends Run and waits for it
}

func marketSet(t *testing.T) *schedule.Set {
	t.Helper()
	p, err := schedule.ParseProfile("market", []string{"daily 07:00-09:00"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := schedule.NewSet([]schedule.Profile{p}, nil, retention.Weekdays(time.UTC), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func day(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }

// openStore opens (or reopens) the store at path on clk.
func openStore(t *testing.T, path string, kek store.KEK, clk *syncClock) *store.DB {
	t.Helper()
	st, err := store.Open(path, kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func setupUnlock(t *testing.T, st *store.DB, clk *syncClock) *unlockFixture {
	t.Helper()
	fx := &unlockFixture{st: st, relay: &relaytest.Relay{}, clock: clk}
	var err error
	if fx.door, err = relay.NewDoor(fx.relay, relay.DoorConfig{Pulse: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	fx.g, err = gate.New(gate.Config{Now: clk.now, Schedule: marketSet(t), Unlock: "market",
		Door: gate.DoorConfig{HeldOpen: 30 * time.Second}}, st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, unsub := fx.g.Subscribe()
	t.Cleanup(unsub)
	fx.subs = sub
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.g.Run(ctx); close(done) }()
	fx.stop = func() { cancel(); <-done }
	t.Cleanup(fx.stop)
	return fx
}

func newUnlock(t *testing.T, start time.Time) *unlockFixture {
	t.Helper()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	clk := &syncClock{t: start}
	st := openStore(t, filepath.Join(t.TempDir(), "gated.db"), kek, clk)
	t.Cleanup(func() { st.Close() })
	return setupUnlock(t, st, clk)
}

func (fx *unlockFixture) set(t time.Time) {
	fx.clock.mu.Lock()
	fx.clock.t = t
	fx.clock.mu.Unlock()
}

// inputs reads the door as shut or open, the exit button and tamper.
func (fx *unlockFixture) inputs(closed, exit, tamper bool) {
	fx.g.DoorInputs(gate.DoorState{HasContact: true, Closed: closed, HasExit: true, Exit: exit, HasTamper: true, Tamper: tamper})
}

// scheduleAudit returns the window's audit entries as "outcome detail".
func (fx *unlockFixture) scheduleAudit(t *testing.T) []string {
	t.Helper()
	var out []string
	if err := fx.st.ForEachAudit(0, func(a store.AuditEntry) error {
		if a.Actor == "schedule" {
			out = append(out, a.Outcome+" "+a.Detail)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// nextOf returns the next decision of method m sent to subscribers.
func (fx *unlockFixture) nextOf(t *testing.T, m gate.Method, o gate.Outcome) gate.Decision {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case d := <-fx.subs:
			if d.Method == m && d.Outcome == o {
				return d
			}
		case <-deadline:
			t.Fatalf("no %s %s sent to subscribers in 3 s", m, o)
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnlockWindow: before 07:00 the door is locked; at 07:00 it is held
// unlocked (audited, streamed, in DoorState); a door standing open for
// long during the window raises neither held-open nor forced-open, but
// tamper still alarms; a grant's pulse during the window does not lock
// it; at 09:00 it locks (audited with how long it lasted), and a door
// still open then is held open after door.held_open from 09:00.
func TestUnlockWindow(t *testing.T) {
	fx := newUnlock(t, day(6, 59))
	ctx := context.Background()
	fx.inputs(true, false, false)
	fx.g.CheckUnlock(ctx)
	if fx.relay.Open() || fx.g.DoorState() != "" {
		t.Fatalf("at 06:59: relay open %v, DoorState %q, want locked and \"\"", fx.relay.Open(), fx.g.DoorState())
	}

	fx.set(day(7, 0))
	fx.g.CheckUnlock(ctx)
	if !fx.relay.Open() {
		t.Fatal("at 07:00 the relay is not on")
	}
	if d := fx.nextOf(t, gate.MethodDoor, gate.Unlocked); d.Reader != gate.ReaderSchedule || d.Reason != "door unlocked by schedule until 09:00" {
		t.Errorf("window start sent %+v, want reader schedule and \"door unlocked by schedule until 09:00\"", d)
	}
	if got := fx.g.DoorState(); got != "door unlocked by schedule until 09:00" {
		t.Errorf("DoorState() = %q, want \"door unlocked by schedule until 09:00\"", got)
	}

	// The market: the door opens and stands open; someone opens the
	// enclosure.
	fx.set(day(7, 5))
	fx.inputs(false, false, false)
	fx.set(day(8, 30))
	fx.inputs(false, false, true)
	if got := fx.g.Alarms(); len(got) != 1 || !strings.HasPrefix(got[0], "tamper") {
		t.Errorf("Alarms() during the window with the door open 85 min and the enclosure open = %q, want tamper only", got)
	}
	fx.inputs(false, false, false)

	// A grant (the exit button) during the window pulses; its end does
	// not lock.
	fx.inputs(false, true, false)
	fx.nextOf(t, gate.MethodExit, gate.Granted)
	time.Sleep(600 * time.Millisecond) // the 300 ms pulse has ended
	if !fx.relay.Open() {
		t.Fatal("a grant's pulse during the window locked the door")
	}
	for _, op := range fx.relay.Ops() {
		if !op.Open {
			t.Fatalf("relay ops %+v: a lock was sent during the window", fx.relay.Ops())
		}
	}
	fx.inputs(false, false, false)

	fx.set(day(9, 0))
	fx.g.CheckUnlock(ctx)
	if fx.relay.Open() {
		t.Fatal("at 09:00 the relay is still on")
	}
	if d := fx.nextOf(t, gate.MethodDoor, gate.Relocked); d.Reader != gate.ReaderSchedule {
		t.Errorf("window end sent %+v, want reader schedule", d)
	}
	if got := fx.g.DoorState(); got != "" {
		t.Errorf("DoorState() after the window = %q, want \"\"", got)
	}
	// The door still stands open: held open 30 s after the window's end,
	// never forced open.
	fx.set(day(9, 0).Add(20 * time.Second))
	fx.inputs(false, false, false)
	if got := fx.g.DoorAlarms(); len(got) != 0 {
		t.Errorf("DoorAlarms() 20 s after the window = %q, want none yet", got)
	}
	fx.set(day(9, 0).Add(31 * time.Second))
	fx.inputs(false, false, false)
	if got := fx.g.DoorAlarms(); len(got) != 1 || !strings.HasPrefix(got[0], "door held open") {
		t.Errorf("DoorAlarms() 31 s after the window with the door open = %q, want held open only", got)
	}

	audit := fx.scheduleAudit(t)
	want := []string{
		"unlocked unlock profile=market until=2026-11-23T09:00:00Z: door unlocked by schedule until 09:00",
		"locked unlock profile=market lasted=2h0m0s: door locked: the window ended",
	}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Errorf("schedule audit =\n%s\nwant\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
}

// TestUnlockWindowEndsDuringPulse: a grant a moment before 09:00 keeps
// its pulse; the door locks at the pulse's own end, not before and not
// never.
func TestUnlockWindowEndsDuringPulse(t *testing.T) {
	fx := newUnlock(t, day(8, 59))
	ctx := context.Background()
	waitUntil(t, "Run's first check holds the door", func() bool { return fx.relay.Open() })
	fx.inputs(true, false, false)
	fx.inputs(true, true, false) // the exit button
	fx.nextOf(t, gate.MethodExit, gate.Granted)
	time.Sleep(50 * time.Millisecond) // the pulse has begun
	fx.set(day(9, 0))
	fx.g.CheckUnlock(ctx)
	if !fx.relay.Open() {
		t.Fatal("the window's end cut a grant's pulse short")
	}
	waitUntil(t, "the door locks at the pulse's end", func() bool { return !fx.relay.Open() })
	if got := fx.g.DoorState(); got != "" {
		t.Errorf("DoorState() = %q, want \"\"", got)
	}
}

// TestUnlockRestartInsideWindow: a gate started inside the window holds
// the door and says so; a clean stop locks it, audited; the gate started
// again (same store) inside the window holds it again.
func TestUnlockRestartInsideWindow(t *testing.T) {
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	clk := &syncClock{t: day(8, 0)}
	path := filepath.Join(t.TempDir(), "gated.db")
	st := openStore(t, path, kek, clk)
	fx := setupUnlock(t, st, clk)
	waitUntil(t, "the gate started inside the window holds the door", func() bool { return fx.relay.Open() })
	fx.set(day(8, 5))
	fx.stop()
	if fx.relay.Open() {
		t.Fatal("a clean stop inside the window left the relay on")
	}
	st.Close()

	fx.set(day(8, 10))
	st = openStore(t, path, kek, clk)
	t.Cleanup(func() { st.Close() })
	fx2 := setupUnlock(t, st, clk)
	waitUntil(t, "the gate started again inside the window holds the door", func() bool { return fx2.relay.Open() })
	// The start is audited just after the relay went on (slow under qemu).
	waitUntil(t, "the second start audited", func() bool { return len(fx2.scheduleAudit(t)) >= 3 })
	audit := fx2.scheduleAudit(t)
	want := []string{
		"unlocked unlock profile=market until=2026-11-23T09:00:00Z: door unlocked by schedule until 09:00 (gated started inside the window)",
		"locked unlock profile=market lasted=5m0s: door locked: gated stopping (it holds the door again if started inside the window)",
		"unlocked unlock profile=market until=2026-11-23T09:00:00Z: door unlocked by schedule until 09:00 (gated started inside the window)",
	}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Errorf("schedule audit =\n%s\nwant\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
}

// TestUnlockClockSetBack: the audit log's latest entry is at 10:00 and the
// clock is set back to 08:00, inside the window: the door stays locked. A
// clock set back during a hold locks the door.
func TestUnlockClockSetBack(t *testing.T) {
	fx := newUnlock(t, day(10, 0))
	ctx := context.Background()
	fx.g.CheckUnlock(ctx)
	if _, err := fx.st.AppendAudit(store.Event{Kind: store.KindAdmin, Actor: "test", Outcome: "mark"}); err != nil {
		t.Fatal(err)
	}
	fx.set(day(8, 0))
	fx.g.CheckUnlock(ctx)
	if fx.relay.Open() || fx.g.DoorState() != "" {
		t.Fatalf("clock set back from 10:00 to 08:00: relay open %v, DoorState %q, want locked", fx.relay.Open(), fx.g.DoorState())
	}
	if a := fx.g.Alarms(); len(a) != 1 || !strings.Contains(a[0], "behind the audit log") {
		t.Errorf("Alarms() = %q, want the clock alarm", a)
	}

	// Inside the window at the right time, then set back by an hour.
	fx2 := newUnlock(t, day(8, 30))
	waitUntil(t, "held at 08:30", func() bool { return fx2.relay.Open() })
	fx2.set(day(7, 15))
	fx2.g.CheckUnlock(ctx)
	if fx2.relay.Open() {
		t.Fatal("a clock set back during the window kept the door held")
	}
	if a := fx2.scheduleAudit(t); len(a) != 2 || !strings.Contains(a[1], "door locked: the clock is behind the audit log's latest entry") {
		t.Errorf("schedule audit = %q, want the start and a lock naming the clock", a)
	}
}

// TestUnlockConfigErrors: an undefined profile, or a door that cannot be
// held, is refused by New.
func TestUnlockConfigErrors(t *testing.T) {
	kek, _ := store.GenerateKEK()
	clk := &syncClock{t: day(8, 0)}
	st := openStore(t, filepath.Join(t.TempDir(), "gated.db"), kek, clk)
	defer st.Close()
	rd, _ := relay.NewDoor(&relaytest.Relay{}, relay.DoorConfig{})
	if _, err := gate.New(gate.Config{Now: clk.now, Schedule: marketSet(t), Unlock: "markt"}, st, rd, nil); err == nil || !strings.Contains(err.Error(), `"markt" is not defined`) {
		t.Errorf("New(unlock profile markt) = %v, want not defined", err)
	}
	pd := &pulseDoor{started: make(chan struct{}, 1), end: make(chan struct{})}
	if _, err := gate.New(gate.Config{Now: clk.now, Schedule: marketSet(t), Unlock: "market"}, st, pd, nil); err == nil || !strings.Contains(err.Error(), "held unlocked") {
		t.Errorf("New(unlock window, a door without Hold) = %v, want refused", err)
	}
}
