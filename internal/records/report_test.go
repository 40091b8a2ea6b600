package records_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/kioskpass"
	"github.com/gated-dev/gated/internal/records"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func at(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }

// TestActivityOfARealGate tallies the audit log a real gate writes on a
// real store (the gate's own decisions, the store's pass records, the
// kiosk's issuer, a scheduled unlock window on a relay door), so that the
// report reads the strings the writers actually write: passes issued (one
// by a resident at the kiosk), a pass used, its second use refused, a
// revoked pass refused; decisions by method, 40 unknown cards of which 10
// were counted in one entry; the exit button; a market window 07:00-09:00.
func TestActivityOfARealGate(t *testing.T) {
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: at(6, 50)}
	st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	market, err := schedule.ParseProfile("market", []string{"daily 07:00-09:00"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := schedule.NewSet([]schedule.Profile{market}, nil, retention.Weekdays(time.UTC), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	door, err := relay.NewDoor(&relaytest.Relay{}, relay.DoorConfig{Pulse: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Now: clk.now, Passes: st, Schedule: set, Unlock: "market"}, st, door, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	r, err := st.AddResident("staff:alice", store.Resident{Name: "A", Unit: "1-101"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AssignCard("staff:alice", r.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	decide := func(ev fallback.Event, want gate.Outcome) {
		t.Helper()
		d, err := g.Reader(ctx, ev)
		if err != nil || d == nil || d.Outcome != want {
			t.Fatalf("Reader(%v) = %+v, %v; want %s", ev, d, err, want)
		}
	}
	code := func(c string) fallback.Event {
		return fallback.Event{Reader: "front", Kind: fallback.KindCode, PIN: fallback.NewSecret(c)}
	}
	card := func(n string) fallback.Event {
		return fallback.Event{Reader: "front", Kind: fallback.KindCard, Card: fallback.Card{Number: n, Format: fallback.FormatASCII}}
	}

	courier, err := st.AddPass("staff:alice", store.NewPass{Name: "courier", From: clk.now(), Until: clk.now().Add(3 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	issuer := kioskpass.New(st, config.Visitor{}, func(store.Event) {}, kioskpass.Options{Zone: time.UTC, Now: clk.now})
	guest, err := issuer.IssuePass(ctx, r.ID, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	decide(code(courier.Code), gate.Granted)
	decide(code(courier.Code), gate.Denied) // used
	if err := st.RevokePass("staff:alice", guest.ID); err != nil {
		t.Fatal(err)
	}
	decide(fallback.Event{Reader: "qr", Kind: fallback.KindScan, PIN: fallback.NewSecret(guest.QR)}, gate.Denied)
	decide(card("1001"), gate.Granted)
	for i := range 40 {
		decide(card(fmt.Sprint(7000+i)), gate.Denied)
	}
	g.FlushRefusals(true) // the 10 beyond the 30 itemised, as one entry
	g.DoorInputs(gate.DoorState{HasExit: true, Exit: true})
	g.DoorInputs(gate.DoorState{HasExit: true})

	clk.set(at(7, 0))
	g.CheckUnlock(ctx)
	clk.set(at(9, 0))
	g.CheckUnlock(ctx)

	tl := records.NewTally()
	rg, err := st.WalkAuditRange(time.Time{}, time.Time{}, func(rec store.AuditRecord) error { tl.Add(rec); return nil })
	if err != nil {
		t.Fatal(err)
	}
	a := tl.Activity(rg)
	if !a.Verified {
		t.Fatalf("the chain does not verify: %s", a.Problem)
	}
	wantPasses := api.PassActivity{Issued: 2, IssuedAtKiosk: 1, Granted: 1, Refused: 2, Revoked: 1}
	if a.Passes != wantPasses {
		t.Errorf("Passes = %+v, want %+v", a.Passes, wantPasses)
	}
	if u := a.Unlocks; u.Opened != 1 || u.Ended != 1 || u.Held.Duration != 2*time.Hour || u.EndedByRestart != 0 || u.HeldAtEnd {
		t.Errorf("Unlocks = %+v, want one window opened and ended, held 2h", u)
	}
	var got []string
	for _, d := range a.Decisions {
		got = append(got, fmt.Sprintf("%s %s %d", d.Method, d.Outcome, d.Count))
	}
	want := []string{"card denied 40", "card granted 1", "exit granted 1", "visitor-code denied 1", "visitor-code granted 1", "visitor-qr denied 1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("Decisions = %q, want %q", got, want)
	}
}
