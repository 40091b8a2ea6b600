package gate_test

import (
	"context"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/store"
)

// Red team, issue 15. A visitor who once had a pass keeps its code: the
// pass is used up (or expired, or revoked) but its code still matches its
// record. Typing it must not clear the shared visitor-code lock-out, or the
// guesser gets 3 free guesses after every 30 s wait, for ever: some 8,600
// guesses a day instead of the ~100 docs/ops-visitor.md promises.
func TestRedVisitorDeadCodeDoesNotResetLockout(t *testing.T) {
	fx := passFixture(t)
	now := fx.clock.now()
	old, err := fx.st.AddPass("staff:test", store.NewPass{Name: "courier", From: now, Until: now.Add(2 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := decideEv(t, fx, codeEv("front", old.Code)); d.Outcome != gate.Granted {
		t.Fatalf("the courier's own use = %+v, want granted", d)
	}
	fx.waitOpened(t, 1)
	wrong := func() string {
		for _, c := range []string{"0000000000", "0000000001"} {
			if c != old.Code {
				return c
			}
		}
		return ""
	}()
	// Three free wrong guesses, then the lock-out.
	for i := range 3 {
		if d := decideEv(t, fx, codeEv("front", wrong)); d.Outcome != gate.Denied {
			t.Fatalf("guess %d = %+v, want denied (wrong code)", i, d)
		}
	}
	for round := range 3 {
		d := decideEv(t, fx, codeEv("front", wrong))
		if d.Outcome != gate.LockedOut {
			t.Fatalf("round %d: a guess after the used code = %+v, want locked out: typing a used code reset the lock-out", round, d)
		}
		fx.clock.advance(d.Wait)
		// The guesser types the used code they still hold: refused, and
		// the count of wrong codes stays.
		if d := decideEv(t, fx, codeEv("front", old.Code)); d.Outcome != gate.Denied {
			t.Fatalf("round %d: the used code = %+v, want denied as used", round, d)
		}
		// One guess is due after the wait; the next waits again.
		if d := decideEv(t, fx, codeEv("front", wrong)); d.Outcome != gate.Denied {
			t.Fatalf("round %d: the guess due after the wait = %+v, want denied", round, d)
		}
	}
}

// A visitor holds their phone in front of a scanner in continuous mode
// (most scanners re-read a code left in view every few hundred ms): the
// QR is one presentation, like a card held on a reader. It opened the door
// once per read, spending every use of a multi-use pass in a second.
func TestRedVisitorQRHeldAtScannerIsOnePresentation(t *testing.T) {
	fx := passFixture(t)
	now := fx.clock.now()
	p, err := fx.st.AddPass("staff:test", store.NewPass{Name: "plumber", From: now, Until: now.Add(8 * time.Hour), Uses: 4})
	if err != nil {
		t.Fatal(err)
	}
	read := func(at time.Time) *gate.Decision {
		t.Helper()
		ev := scanEv("front-qr", p.QR)
		ev.Time = at
		d, err := fx.g.Reader(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t0 := time.Now()
	if d := read(t0); d == nil || d.Outcome != gate.Granted {
		t.Fatalf("first read = %+v, want granted", d)
	}
	for i := 1; i <= 5; i++ {
		if d := read(t0.Add(time.Duration(i) * 300 * time.Millisecond)); d != nil {
			t.Fatalf("re-read %d of the QR held in view = %+v, want no decision (one presentation)", i, d)
		}
	}
	ps, err := fx.st.Passes()
	if err != nil || len(ps) != 1 || ps[0].Used != 1 {
		t.Fatalf("passes = %+v, %v; want one use spent", ps, err)
	}
	// Shown again later (the plumber comes back): a new presentation.
	if d := read(t0.Add(10 * time.Second)); d == nil || d.Outcome != gate.Granted {
		t.Errorf("the QR shown again 10 s later = %+v, want granted", d)
	}
}
