package gate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

// ScheduleStore is what validity windows and anti-passback need of the
// store: a card's own window, and where each resident last passed.
type ScheduleStore interface {
	CardValidity(number string) (from, until time.Time, err error)
	Passback(residentID string) (inside bool, at time.Time, err error)
	SetPassback(residentID string, inside bool, at time.Time) error
	// ClockFloor is the latest time the store wrote an audit entry at.
	ClockFloor() (time.Time, error)
}

// AntiPassback names the readers of a gate with an entry and an exit
// side. A resident let in at an Entry reader is refused at every Entry
// reader until let out at an Exit reader (so a card passed back over the
// fence does not let a second person in). Both empty: off (the default).
// Only decisions at a reader count (card, card+PIN, card+face); a face
// alone has no side.
type AntiPassback struct {
	Entry, Exit []string
}

// On reports whether anti-passback is configured.
func (a AntiPassback) On() bool { return len(a.Entry) > 0 }

// ReasonPassback is what a card refused by anti-passback is told.
const ReasonPassback = "this card has already entered: leave by the exit first, or ask the property office"

// ValidNow reports whether access limited by vs holds now, on the gate's
// clock (Config.Now) and profiles (Config.Schedule): nil, or an error
// wrapping schedule.ErrOutside (an *schedule.OutsideError whose Cause is for
// the audit log). It is the check every resident's method makes (face,
// card, card+PIN, the kiosk's identification), for the resident and their
// card; on an error the gate decides Denied with Reason schedule.Reason
// (the person is never told the cause). Visitor passes do not come here:
// a pass has a window of its own and no time profile, which the store
// judges when it spends a use (store.DB.UsePass: not yet valid, expired
// at the later of the clock and the clock floor, used up, revoked, another
// door), and the visitor is told which (passReason).
//
// An end date is judged at the later of the clock and the store's clock
// floor (the latest audit entry's time): a clock set back does not bring a
// tenant's ended access back (red team, issue 15). Starts and weekly
// windows are judged by the clock alone.
func (g *Gate) ValidNow(vs ...schedule.Validity) error {
	now := g.cfg.Now()
	if err := g.schedule().Check(now, vs...); err != nil {
		return err
	}
	floor := g.clockFloor()
	if !floor.After(now) {
		return nil
	}
	for _, v := range vs {
		if !v.Until.IsZero() && !floor.Before(v.Until) {
			return &schedule.OutsideError{Cause: fmt.Sprintf("ended %s: the clock reads %s, behind the audit log's latest entry (%s)",
				v.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), floor.Format(time.RFC3339))}
		}
	}
	return nil
}

// clockSlack is how far the clock may be behind the store's clock floor
// before the gate raises an alarm (two entries written a moment apart by
// two goroutines are not a clock set back).
const clockSlack = time.Minute

// clockFloor is the store's clock floor; the zero time when it cannot be
// read (logged).
func (g *Gate) clockFloor() time.Time {
	t, err := g.st.ClockFloor()
	if err != nil {
		g.log.Error("gate: clock floor", "err", err)
		return time.Time{}
	}
	return t
}

// clockAlarms says when the clock is behind the audit log.
func (g *Gate) clockAlarms(now time.Time) []string {
	floor := g.clockFloor()
	if behind := floor.Sub(now); behind > clockSlack {
		return []string{fmt.Sprintf("the clock reads %s, %s behind the audit log's latest entry (%s): visitor passes and access end dates are judged at %s; fix the clock (NTP, the RTC), or if it is right now (it had run ahead), run gated clock reset",
			now.UTC().Format(time.RFC3339), behind.Round(time.Second), floor.Format(time.RFC3339), floor.Format(time.RFC3339))}
	}
	return nil
}

// residentValidity is the Validity of a resident's stored Access.
func residentValidity(r store.Resident) schedule.Validity {
	a := r.Access
	return schedule.Validity{From: a.ValidFrom, Until: a.ValidUntil, Profile: a.Profile, Group: a.Group}
}

// outside returns schedule.Reason when the resident (and the card, when
// cardKey is not "") may not pass now, else "". A card whose window cannot
// be read refuses (fail closed); the cause goes to the log.
func (g *Gate) outside(r store.Resident, cardKey string) string {
	vs := []schedule.Validity{residentValidity(r)}
	if cardKey != "" {
		from, until, err := g.st.CardValidity(cardKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			g.log.Error("gate: card validity", "resident", r.ID, "err", err)
			return schedule.Reason
		}
		vs = append(vs, schedule.Validity{From: from, Until: until})
	}
	err := g.ValidNow(vs...)
	if err == nil {
		return ""
	}
	var oe *schedule.OutsideError
	cause := err.Error()
	if errors.As(err, &oe) {
		cause = oe.Cause
	}
	g.log.Info("gate: access not valid at this time", "resident", r.ID, "cause", cause)
	return schedule.Reason
}

// passback applies anti-passback to a decision about to be made: a grant
// at an entry reader to a resident inside becomes a denial; grants at
// entry and exit readers record the side. The state is kept in the store
// (it outlives a restart); a store that cannot be read lets the person in
// (logged): anti-passback is against a card passed back, not a lock.
func (g *Gate) passback(d Decision) Decision {
	ap := g.cfg.AntiPassback
	if !ap.On() || d.Outcome != Granted || d.Resident == "" || d.Reader == "" {
		return d
	}
	entry, exit := slices.Contains(ap.Entry, d.Reader), slices.Contains(ap.Exit, d.Reader)
	if !entry && !exit {
		return d
	}
	g.pbMu.Lock()
	defer g.pbMu.Unlock()
	if entry {
		inside, _, err := g.st.Passback(d.Resident)
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			g.log.Error("gate: anti-passback state", "resident", d.Resident, "err", err)
		case err == nil && inside:
			d.Outcome, d.Reason = Denied, ReasonPassback
			return d
		}
	}
	if err := g.st.SetPassback(d.Resident, entry, g.cfg.Now()); err != nil {
		g.log.Error("gate: anti-passback state", "resident", d.Resident, "err", err)
	}
	return d
}
