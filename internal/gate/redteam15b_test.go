package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Red team, issue 15 (unlock windows). The relay board dies (unplugged,
// no power, a cut cable) at 09:00, the end of a market window: the lock
// cannot be sent, so the door stays UNLOCKED and stands open. Before the
// fix this was one audit line: status went on saying "door unlocked by
// schedule until 09:00" with no alarm, and the retry every second started
// the door's held-open time again each time, so held open was never
// raised, all day.
func TestRedUnlockReleaseFailsDoorStaysUnlocked(t *testing.T) {
	fx := newUnlock(t, day(8, 30))
	ctx := context.Background()
	waitUntil(t, "held at 08:30", func() bool { return fx.relay.Open() })
	fx.stop()                      // the test drives the checks itself: the stop locked,
	fx.g.CheckUnlock(ctx)          // and this holds again
	fx.inputs(false, false, false) // the door stands open in the market

	fx.relay.FailLocks(1 << 20)
	fx.set(day(9, 0))
	fx.g.CheckUnlock(ctx)
	if !fx.relay.Open() {
		t.Fatal("the fake relay locked although every lock fails")
	}
	if got := fx.g.DoorState(); got != "" {
		t.Errorf("DoorState() after 09:00 with the relay stuck = %q, want \"\" (the window is over)", got)
	}
	alarm := func() string {
		for _, a := range fx.g.Alarms() {
			if strings.Contains(a, "NOT locked") {
				return a
			}
		}
		return ""
	}
	if a := alarm(); a == "" {
		t.Errorf("Alarms() after 09:00 with the relay stuck = %q, want one saying the door is NOT locked", fx.g.Alarms())
	}
	// The daemon retries every second; the door still stands open.
	for s := 1; s <= 31; s += 10 {
		fx.set(day(9, 0).Add(time.Duration(s) * time.Second))
		fx.g.CheckUnlock(ctx)
		fx.inputs(false, false, false)
	}
	if got := fx.g.DoorAlarms(); len(got) != 1 || !strings.HasPrefix(got[0], "door held open") {
		t.Errorf("DoorAlarms() 31 s after the window's end, door open, relay stuck = %q, want held open", got)
	}
	if a := fx.scheduleAudit(t); len(a) != 4 || !strings.HasPrefix(a[3], "door-error ") {
		t.Errorf("schedule audit = %q, want start, stop, start and one door-error", a)
	}

	// The board is back: the next check locks, the alarm ends.
	fx.relay.FailLocks(0)
	fx.set(day(9, 1))
	fx.g.CheckUnlock(ctx)
	if fx.relay.Open() {
		t.Fatal("the relay is back and the door was not locked")
	}
	if a := alarm(); a != "" {
		t.Errorf("Alarms() after the lock went through still has %q", a)
	}
	if a := fx.scheduleAudit(t); len(a) != 5 || !strings.HasPrefix(a[4], "locked ") {
		t.Errorf("schedule audit = %q, want the start, the door-error and the lock", a)
	}
}

// Red team, issue 15 (unlock windows). The lock at the window's end fails
// once, then the window holds again (the clock stepped back a little, or
// windows that join): the gate believed it
// still held the door, so it never asked the door to hold again, while
// the door no longer counted itself held, so the next grant's pulse locked
// it. The door was then locked for the rest of the window while status
// said "unlocked by schedule" and forced-open was not raised.
func TestRedUnlockReleaseFailsThenWindowAgain(t *testing.T) {
	fx := newUnlock(t, day(8, 0))
	ctx := context.Background()
	waitUntil(t, "held at 08:00", func() bool { return fx.relay.Open() })
	fx.stop()             // the test drives the checks itself: the stop locked,
	fx.g.CheckUnlock(ctx) // and this holds again
	fx.inputs(true, false, false)

	fx.relay.FailLocks(3) // one Release: relay.Lock tries three times
	fx.set(day(9, 0))
	fx.g.CheckUnlock(ctx) // the window ends; the lock fails
	// The clock steps back 30 s (NTP correcting a clock that ran fast,
	// within the clock floor's minute of slack): the window holds again.
	fx.set(day(9, 0).Add(-30 * time.Second))
	fx.g.CheckUnlock(ctx)
	if got := fx.g.DoorState(); got != "door unlocked by schedule until 09:00" {
		t.Fatalf("DoorState() = %q, want held until 09:00", got)
	}
	// A grant's pulse during the window must not lock the door.
	if err := fx.door.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if !fx.relay.Open() {
		t.Error("a pulse during the window locked the door: the gate and the door disagree on the hold")
	}
}

// Red team, issue 15 (unlock windows). The relay cannot be switched on at
// 07:00: the market gate stays locked. That was one audit line and
// nothing in status; the property office learnt it from the stallholders.
// It is an alarm while it lasts.
func TestRedUnlockHoldFailsIsAnAlarm(t *testing.T) {
	fx := newUnlock(t, day(6, 59))
	ctx := context.Background()
	fx.stop()
	fx.relay.FailOpens(1 << 20)
	fx.set(day(7, 0))
	fx.g.CheckUnlock(ctx)
	if fx.relay.Open() || fx.g.DoorState() != "" {
		t.Fatalf("hold failed: relay open %v, DoorState %q, want locked and \"\"", fx.relay.Open(), fx.g.DoorState())
	}
	if a := fx.g.Alarms(); len(a) != 1 || !strings.Contains(a[0], "cannot hold the door unlocked") {
		t.Errorf("Alarms() with the hold failing = %q, want the unlock window's alarm", a)
	}
	fx.relay.FailOpens(0)
	fx.set(day(7, 1))
	fx.g.CheckUnlock(ctx)
	if !fx.relay.Open() || fx.g.DoorState() != "door unlocked by schedule until 09:00" {
		t.Errorf("relay back: relay open %v, DoorState %q, want held", fx.relay.Open(), fx.g.DoorState())
	}
	if a := fx.g.Alarms(); len(a) != 0 {
		t.Errorf("Alarms() once the hold went through = %q, want none", a)
	}
}
