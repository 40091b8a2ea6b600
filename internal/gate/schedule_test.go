package gate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

func cleanersSet(t *testing.T) *schedule.Set {
	t.Helper()
	p, err := schedule.ParseProfile("cleaners", []string{"workdays 08:00-18:00"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := schedule.NewSet([]schedule.Profile{p}, map[string]string{"crew": "cleaners"}, retention.Weekdays(time.UTC), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (fx *fixture) read(t *testing.T, ev fallback.Event) *gate.Decision {
	t.Helper()
	fx.clock.advance(2 * time.Second) // not a repeat of the same card
	d, err := fx.g.Reader(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestScheduleEveryMethod replays a tenant after their lease and a
// cleaner at night against every way in: face (identify), card, card+PIN,
// the kiosk's identification; each is refused with the one reason and
// audited, and let in again inside the window. Clock: Monday 2026-11-23.
func TestScheduleEveryMethod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		access store.Access
		out    time.Duration // from the fixture's start (Monday 08:00 UTC): a time outside
		in     time.Duration // a time inside
	}{
		{"tenant after valid_until", store.Access{ValidUntil: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}, 2 * time.Hour, 0},
		{"tenant before valid_from", store.Access{ValidFrom: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}, 0, 2 * time.Hour},
		{"cleaner at night", store.Access{Profile: "cleaners"}, 14 * time.Hour, 2 * time.Hour},
		{"crew member on Saturday", store.Access{Group: "crew"}, 5*24*time.Hour + 2*time.Hour, 2 * time.Hour},
	} {
		for _, method := range []string{"face", "card", "card+pin", "kiosk"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				cfg := gate.Config{Face: true, Mode: calibrate.Identify, Frames: 1, Cooldown: time.Millisecond, Schedule: cleanersSet(t), CardNeedsPIN: method == "card+pin" || method == "kiosk"}
				fx := setup(t, cfg)
				start := fx.clock.t
				id := fx.ids["a"]
				if _, err := fx.st.SetResidentAccess("staff:test", id, tc.access); err != nil {
					t.Fatal(err)
				}
				try := func() (gate.Outcome, string) {
					switch method {
					case "face":
						fx.frame(t, nil) // a new visit
						d := fx.frame(t, fx.people[id])
						if d == nil {
							t.Fatal("Face(resident) = no decision")
						}
						return d.Outcome, d.Reason
					case "card":
						d := fx.read(t, card("100a"))
						return d.Outcome, d.Reason
					case "card+pin":
						if d := fx.read(t, card("100a")); d.Outcome != gate.NeedPIN {
							return d.Outcome, d.Reason // refused at the card, before the PIN
						}
						d := fx.read(t, pin("2580"))
						return d.Outcome, d.Reason
					default:
						_, err := fx.g.Identify(context.Background(), "kiosk", "front", fallback.Card{Number: "100a", Format: fallback.FormatASCII}, "2580")
						if err == nil {
							return gate.Granted, ""
						}
						if !errors.Is(err, gate.ErrNotIdentified) {
							t.Fatalf("Identify = %v, want nil or ErrNotIdentified", err)
						}
						return gate.Denied, strings.TrimPrefix(err.Error(), "gate: ")
					}
				}
				outside := func() {
					fx.clock.t = start.Add(tc.out)
					if got, why := try(); got != gate.Denied || why != schedule.Reason {
						t.Errorf("%s outside = %s %q, want denied %q", method, got, why, schedule.Reason)
					}
					es := accessEntries(fx.audit(t))
					if len(es) == 0 || es[len(es)-1].Subject != id || es[len(es)-1].Outcome != "denied" || !strings.Contains(es[len(es)-1].Detail, "not valid at this time") {
						t.Errorf("last access audit entry = %+v, want denied for %s with the reason", es[len(es)-1:], id)
					}
				}
				inside := func() {
					fx.clock.t = start.Add(tc.in)
					if got, why := try(); got != gate.Granted {
						t.Errorf("%s inside = %s %q, want granted", method, got, why)
					}
				}
				// In the order of time: the clock never goes back.
				if tc.in < tc.out {
					inside()
					outside()
				} else {
					outside()
					inside()
				}
			})
		}
	}
}

// TestCardWindow: a contractor's card with its own end date is refused
// after it, while the same resident's other card still works.
func TestCardWindow(t *testing.T) {
	fx := setup(t, gate.Config{})
	id := fx.ids["a"]
	if err := fx.st.AssignCard("staff:test", id, "200a"); err != nil {
		t.Fatal(err)
	}
	if err := fx.st.SetCardValidity("staff:test", id, "200a", time.Time{}, fx.clock.t.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := fx.read(t, card("200a")); d.Outcome != gate.Granted {
		t.Errorf("card in its window = %s %q, want granted", d.Outcome, d.Reason)
	}
	fx.clock.advance(2 * time.Hour)
	if d := fx.read(t, card("200a")); d.Outcome != gate.Denied || d.Reason != schedule.Reason {
		t.Errorf("card after its window = %s %q, want denied %q", d.Outcome, d.Reason, schedule.Reason)
	}
	if d := fx.read(t, card("100a")); d.Outcome != gate.Granted {
		t.Errorf("the resident's other card = %s %q, want granted", d.Outcome, d.Reason)
	}
}

// TestValidNow: the visitor pass path's check, on the gate's clock.
func TestValidNow(t *testing.T) {
	fx := setup(t, gate.Config{Schedule: cleanersSet(t)})
	now := fx.clock.t
	if err := fx.g.ValidNow(schedule.Validity{From: now.Add(-time.Hour), Until: now.Add(time.Hour)}); err != nil {
		t.Errorf("ValidNow(pass valid now) = %v, want nil", err)
	}
	if err := fx.g.ValidNow(schedule.Validity{Until: now}); !errors.Is(err, schedule.ErrOutside) {
		t.Errorf("ValidNow(pass expired now) = %v, want ErrOutside", err)
	}
}

func readerCard(reader, n string) fallback.Event {
	return fallback.Event{Reader: reader, Kind: fallback.KindCard, Card: fallback.Card{Number: n, Format: fallback.FormatASCII}}
}

// TestAntiPassback replays a card passed back over the fence: it entered,
// and is refused at the entry until it has left by the exit; the state
// outlives a new gate on the same store (a restart). Off by default.
func TestAntiPassback(t *testing.T) {
	fx := setup(t, gate.Config{AntiPassback: gate.AntiPassback{Entry: []string{"in"}, Exit: []string{"out"}}})
	steps := []struct {
		reader string
		want   gate.Outcome
	}{{"in", gate.Granted}, {"in", gate.Denied}, {"out", gate.Granted}, {"out", gate.Granted}, {"in", gate.Granted}, {"in", gate.Denied}}
	for i, s := range steps {
		d := fx.read(t, readerCard(s.reader, "100a"))
		if d.Outcome != s.want {
			t.Fatalf("step %d: card at %q = %s %q, want %s", i, s.reader, d.Outcome, d.Reason, s.want)
		}
		if d.Outcome == gate.Denied && d.Reason != gate.ReasonPassback {
			t.Errorf("step %d: reason = %q, want %q", i, d.Reason, gate.ReasonPassback)
		}
	}
	// Another resident is not affected.
	if d := fx.read(t, readerCard("in", "100b")); d.Outcome != gate.Granted {
		t.Errorf("another card at the entry = %s %q, want granted", d.Outcome, d.Reason)
	}
	// A restart: a new gate on the same store still refuses the card inside.
	g2, err := gate.New(gate.Config{Now: fx.clock.now, AntiPassback: gate.AntiPassback{Entry: []string{"in"}, Exit: []string{"out"}}}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := g2.Reader(context.Background(), readerCard("in", "100a"))
	if err != nil || d.Outcome != gate.Denied {
		t.Errorf("after restart, card inside at the entry = %+v, %v; want denied", d, err)
	}
	// Off by default: the same sequence without AntiPassback opens every time.
	g3, err := gate.New(gate.Config{Now: fx.clock.now}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		fx.clock.advance(3 * time.Second)
		if d, err := g3.Reader(context.Background(), readerCard("in", "100a")); err != nil || d.Outcome != gate.Granted {
			t.Errorf("anti-passback off: card at the entry = %+v, %v; want granted", d, err)
		}
	}
}

// TestClockSetBackDoesNotReviveAccess (red team, issue 15): a tenant whose
// access ended stays refused when the clock is set back before the end,
// since end dates are judged at the latest audit entry's time; the gate
// raises an alarm saying the clock is behind the audit log.
func TestClockSetBackDoesNotReviveAccess(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: false, Schedule: cleanersSet(t)})
	start := fx.clock.t
	id := fx.ids["a"]
	if _, err := fx.st.SetResidentAccess("staff:test", id, store.Access{ValidUntil: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	fx.clock.t = start.Add(2 * time.Hour)
	if d := decide(t, fx.g, card("100a")); d.Outcome != gate.Denied || d.Reason != schedule.Reason {
		t.Fatalf("after valid_until: %+v, want denied", d)
	}
	fx.clock.t = start.Add(30 * time.Minute) // set back before the end
	if d := decide(t, fx.g, card("100a")); d.Outcome != gate.Denied || d.Reason != schedule.Reason {
		t.Errorf("the clock set back before valid_until: %+v, want still denied", d)
	}
	if as := fx.g.Alarms(); len(as) != 1 || !strings.Contains(as[0], "behind the audit log") || !strings.Contains(as[0], "gated clock reset") {
		t.Errorf("Alarms with the clock set back = %q, want the clock alarm", as)
	}
	// Another resident without an end date is let in as ever.
	if d := decide(t, fx.g, card("100b")); d.Outcome != gate.Granted {
		t.Errorf("a resident without an end date, clock set back: %+v, want granted", d)
	}
}
