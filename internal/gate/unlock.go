package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// Scheduled unlock windows: while the profile named by Config.Unlock holds
// (a market gate open 07:00-09:00 on working days), the door is held
// unlocked: the relay stays on, a grant's pulse during the window does not
// end the hold, and the door standing open is expected, so neither
// held-open nor forced-open is raised (tamper still is). Off by default.
//
// The window is judged at the gate's clock (Config.Now), once a second
// (Run calls CheckUnlock), in the schedule's time zone on its holiday
// calendar. The clock may have been set back: while it reads more than
// clockSlack behind the store's clock floor (the latest audit entry's
// time), the door is not held, whatever the window says, so that a clock
// set back into a window cannot open the door; the clock floor cannot tell
// a clock set forward into a window, which does open it (docs/ops-sched.md).
//
// Each start and end is audited (actor "schedule", outcome "unlocked" or
// "locked"), logged and sent to subscribers as a Decision with MethodDoor,
// Reader ReaderSchedule. The first check of Run also holds a window the
// gate starts inside ("gated started inside the window"); when Run ends
// inside a window (a clean stop), the door is locked and that is audited
// ("gated stopping"); after a crash the door was locked by gated-lock and
// the next start decides from its clock.

// Holder is a door that can be held unlocked (internal/door.Door).
type Holder interface {
	// Hold unlocks the door until Release; pulses ending meanwhile leave
	// it unlocked.
	Hold(ctx context.Context) error
	// Release locks the door now, or at the end of a pulse in progress.
	Release() error
}

// Outcomes of a scheduled unlock window, in the decision stream and the
// audit log.
const (
	Unlocked Outcome = "unlocked" // the window started: the door is held unlocked
	Relocked Outcome = "locked"   // the window ended: the door is locked again
)

// ReaderSchedule is the Reader of an unlock window's Decision.
const ReaderSchedule = "schedule"

// unlockPoll is how often Run judges the window.
const unlockPoll = time.Second

// unlockState is the window as the gate follows it.
type unlockState struct {
	mu      sync.Mutex
	checked bool      // CheckUnlock ran once (the first check is at start)
	held    bool      // the door is held by the window
	since   time.Time // when the hold began
	until   time.Time // when the window ends (zero: not within 8 days)
	failing string    // the last hold or release error, logged once
	alarm   string    // standing while a hold or release fails (Alarms)
	ending  bool      // the window ended, the lock has not gone through yet
	behind  bool      // the clock is behind the floor (logged once)
}

// unlockSentence is what status shows while the window holds.
func (g *Gate) unlockSentence(until time.Time) string {
	if until.IsZero() {
		return "door unlocked by schedule (profile " + g.cfg.Unlock + ")"
	}
	return "door unlocked by schedule until " + until.In(g.location()).Format("15:04")
}

func (g *Gate) location() *time.Location {
	if g.cfg.Schedule != nil {
		if loc := g.cfg.Schedule.Location(); loc != nil {
			return loc
		}
	}
	return time.Local
}

// DoorState says what the door does besides its pulses, for status: "door
// unlocked by schedule until 09:00" while an unlock window holds it, else
// "".
func (g *Gate) DoorState() string {
	u := &g.ul
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.held || u.ending {
		return "" // an end whose lock fails is an alarm (unlockAlarms)
	}
	return g.unlockSentence(u.until)
}

// unlockAlarms is the alarm standing while the window cannot hold or lock
// the door (Alarms includes it).
func (g *Gate) unlockAlarms() []string {
	u := &g.ul
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.alarm == "" {
		return nil
	}
	return []string{u.alarm}
}

// CheckUnlock judges the unlock window now and holds or releases the door
// (see above). Run calls it every second; it is safe to call at any time.
// It does nothing when no window is configured.
func (g *Gate) CheckUnlock(ctx context.Context) {
	if g.cfg.Unlock == "" {
		return
	}
	u := &g.ul
	u.mu.Lock()
	defer u.mu.Unlock()
	now := g.cfg.Now()
	first := !u.checked
	u.checked = true
	if first {
		g.unlockRestored(now)
	}
	want := g.cfg.Schedule.Holds(g.cfg.Unlock, now)
	if floor := g.clockFloor(); want && floor.Sub(now) > clockSlack {
		if !u.behind {
			g.log.Error("gate: the unlock window is not kept: the clock is behind the audit log", "profile", g.cfg.Unlock, "clock", now, "floor", floor)
		}
		u.behind, want = true, false
	} else {
		u.behind = false
	}
	switch {
	case want && u.held && u.ending:
		// The window holds again before the lock of its end went through:
		// hold the door again (Release let go of it), without a new start.
		if err := g.holder.Hold(ctx); err != nil {
			g.unlockFailed("hold the door unlocked", err)
			return
		}
		u.ending, u.failing, u.alarm = false, "", ""
		u.until = g.cfg.Schedule.Until(g.cfg.Unlock, now)
		g.dw.mu.Lock()
		g.dw.held = true
		g.dw.mu.Unlock()
	case want && !u.held:
		if err := g.holder.Hold(ctx); err != nil {
			g.unlockFailed("hold the door unlocked", err)
			return
		}
		u.alarm = ""
		u.held, u.since, u.until, u.failing = true, now, g.cfg.Schedule.Until(g.cfg.Unlock, now), ""
		g.dw.mu.Lock()
		g.dw.held = true
		g.dw.mu.Unlock()
		why := ""
		if first {
			why = " (gated started inside the window)"
		}
		g.unlockEvent(Unlocked, now, fmt.Sprintf("unlock profile=%s until=%s: %s%s", g.cfg.Unlock, untilText(u.until), g.unlockSentence(u.until), why),
			g.unlockSentence(u.until))
		g.keepUnlockState(now)
	case want && !u.until.IsZero() && !now.Before(u.until):
		u.until = g.cfg.Schedule.Until(g.cfg.Unlock, now) // windows that join
	case !want && u.held:
		why := "the window ended"
		if u.behind {
			why = "the clock is behind the audit log's latest entry"
		}
		g.unlockRelease(now, why)
	}
}

// unlockRelease locks the door at the end of a hold; u.mu held.
func (g *Gate) unlockRelease(now time.Time, why string) {
	u := &g.ul
	// The door's alarms are back, whether or not the lock goes through:
	// a door standing open at the end of the window starts its held-open
	// time now, and the strike's grace runs from now. Only at the end
	// itself: a lock retried every second must not start them again.
	if !u.ending {
		u.ending = true
		g.dw.mu.Lock()
		g.dw.held, g.dw.lockedAt = false, now
		if g.dw.known && !g.dw.closed {
			g.dw.openedAt = now
		}
		g.dw.mu.Unlock()
	}
	if err := g.holder.Release(); err != nil {
		g.unlockFailed("lock the door at the end of the unlock window", err) // tried again at the next check
		return
	}
	lasted := now.Sub(u.since).Round(time.Second)
	u.held, u.ending, u.failing, u.alarm = false, false, "", ""
	g.keepUnlockState(time.Time{})
	g.unlockEvent(Relocked, now, fmt.Sprintf("unlock profile=%s lasted=%v: door locked: %s", g.cfg.Unlock, lasted, why),
		"door locked by schedule: "+why)
}

// unlockStop locks the door when Run ends inside a window (a clean stop).
func (g *Gate) unlockStop() {
	u := &g.ul
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.held {
		g.unlockRelease(g.cfg.Now(), "gated stopping (it holds the door again if started inside the window)")
	}
}

// unlockFailed logs and audits a hold or release that failed, once until
// it works again, and raises the alarm that stands until then; u.mu held.
func (g *Gate) unlockFailed(what string, err error) {
	if g.ul.ending {
		g.ul.alarm = fmt.Sprintf("the door may be NOT locked: the unlock window (profile %s) ended and the relay cannot be locked (%v): check the relay board and its cable, or lock the door by hand", g.cfg.Unlock, err)
	} else {
		g.ul.alarm = fmt.Sprintf("the unlock window (profile %s) cannot hold the door unlocked (%v): the door stays locked and opens only for grants", g.cfg.Unlock, err)
	}
	if g.ul.failing == err.Error() {
		return
	}
	g.ul.failing = err.Error()
	g.log.Error("gate: unlock window: cannot "+what, "profile", g.cfg.Unlock, "err", err)
	g.audit(store.Event{Kind: store.KindAdmin, Actor: "schedule", Outcome: "door-error",
		Detail: store.Detail(fmt.Sprintf("unlock profile=%s: cannot %s: %v", g.cfg.Unlock, what, err))})
}

// unlockEvent records a window's start or end: log, audit, subscribers.
func (g *Gate) unlockEvent(o Outcome, now time.Time, detail, sentence string) {
	g.log.Info("gate: "+sentence, "profile", g.cfg.Unlock)
	g.audit(store.Event{Kind: store.KindAdmin, Actor: "schedule", Outcome: string(o), Detail: store.Detail(detail)})
	g.send(Decision{Time: now, Method: MethodDoor, Outcome: o, Reader: ReaderSchedule, Reason: sentence})
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// newUnlock checks Config.Unlock in New: the profile must be defined and
// the door able to hold.
func (g *Gate) newUnlock() error {
	if g.cfg.Unlock == "" {
		return nil
	}
	if !g.cfg.Schedule.HasProfile(g.cfg.Unlock) {
		return fmt.Errorf("gate: unlock profile %q is not defined", g.cfg.Unlock)
	}
	h, ok := g.door.(Holder)
	if !ok {
		return errors.New("gate: an unlock window needs a door that can be held unlocked")
	}
	g.holder = h
	return nil
}

// unlockTicker ticks every unlockPoll when a window is configured; a nil
// channel (never ready) otherwise.
func (g *Gate) unlockTicker() (<-chan time.Time, func()) {
	if g.cfg.Unlock == "" {
		return nil, func() {}
	}
	t := time.NewTicker(unlockPoll)
	return t.C, t.Stop
}
