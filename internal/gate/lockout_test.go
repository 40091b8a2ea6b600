package gate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/store"
)

var fastLockout = gate.LockoutPolicy{Free: 3, Base: time.Minute, Max: time.Hour, Forget: 24 * time.Hour, ReaderPause: time.Millisecond}

func decide(t *testing.T, g *gate.Gate, evs ...fallback.Event) *gate.Decision {
	t.Helper()
	var last *gate.Decision
	for _, ev := range evs {
		d, err := g.Reader(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		last = d
	}
	return last
}

func at(reader string, ev fallback.Event) fallback.Event {
	ev.Reader = reader
	return ev
}

// The attack: a card holder types wrong PINs at "front" until the
// lock-out, then another resident's right card and PIN at "front" must
// still open the door. Only the guesser's card is locked.
func TestOneHolderCannotLockTheReader(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: fastLockout})
	for range 3 {
		decide(t, fx.g, card("100a"), pin("1111"))
	}
	if d := decide(t, fx.g, card("100a")); d.Outcome != gate.LockedOut {
		t.Fatalf("the guesser's card after 3 wrong PINs: %+v, want locked-out", d)
	}
	if d := decide(t, fx.g, card("100b"), pin("2580")); d.Outcome != gate.Granted || d.Resident != fx.ids["b"] {
		t.Fatalf("another resident's right card and PIN at the same reader: %+v, want granted", d)
	}
	// Unknown cards cannot lock anyone either.
	for range 10 {
		decide(t, fx.g, card("999"), pin("1234"))
	}
	if d := decide(t, fx.g, card("100c"), pin("2580")); d.Outcome != gate.Granted {
		t.Fatalf("a resident after 10 unknown-card attempts: %+v, want granted", d)
	}
}

// Lock-out counts outlive a restart: a new gate on the same store file
// still refuses the card.
func TestLockoutSurvivesARestart(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: fastLockout})
	for range 3 {
		decide(t, fx.g, card("100a"), pin("1111"))
	}
	path := fx.st.Path()
	fx.cancel()
	<-fx.done
	kek := fx.kek
	fx.st.Close()
	st, err := store.Open(path, kek, store.Options{Now: fx.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := gate.New(gate.Config{CardNeedsPIN: true, Lockout: fastLockout, Now: fx.clock.now}, st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := decide(t, g, card("100a")); d.Outcome != gate.LockedOut {
		t.Fatalf("after a restart the guesser's card: %+v, want still locked-out", d)
	}
	// And a right PIN clears the count for good.
	fx.clock.advance(2 * time.Hour)
	if d := decide(t, g, card("100a"), pin("2580")); d.Outcome != gate.Granted {
		t.Fatalf("right PIN after the wait: %+v", d)
	}
	if f, err := st.Failures("card:100a"); err != nil || f.N != 0 {
		t.Errorf("after a right PIN the stored count is %+v, %v; want cleared", f, err)
	}
}

// The resident screen asks the gate: the same counters and settings. Wrong
// PINs at the gate lock the card at the screen, and the other way round.
func TestIdentifySharesTheLockout(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: fastLockout})
	ctx := context.Background()
	a := fallback.Card{Number: "100a"}
	for range 3 {
		decide(t, fx.g, card("100a"), pin("1111"))
	}
	var lo *gate.LockedOutError
	if _, err := fx.g.Identify(ctx, "kiosk", "front", a, "2580"); !errors.As(err, &lo) {
		t.Fatalf("Identify after 3 wrong PINs at the gate = %v, want locked out", err)
	}
	fx.clock.advance(2 * time.Hour)
	r, err := fx.g.Identify(ctx, "kiosk", "front", a, "2580")
	if err != nil || r.ID != fx.ids["a"] {
		t.Fatalf("Identify with the right PIN = %+v, %v", r, err)
	}
	b := fallback.Card{Number: "100b"}
	for range 3 {
		if _, err := fx.g.Identify(ctx, "kiosk", "front", b, "0000"); !errors.Is(err, gate.ErrNotIdentified) {
			t.Fatalf("Identify with a wrong PIN = %v, want ErrNotIdentified", err)
		}
	}
	if d := decide(t, fx.g, card("100b")); d.Outcome != gate.LockedOut {
		t.Errorf("after 3 wrong PINs at the screen, the card at the gate: %+v, want locked-out", d)
	}
	if _, err := fx.g.Identify(ctx, "kiosk", "front", fallback.Card{Number: "999"}, "2580"); !errors.Is(err, gate.ErrNotIdentified) {
		t.Errorf("Identify with an unknown card = %v, want ErrNotIdentified", err)
	}
	// Every refusal at the screen is in the audit log, without the PIN.
	n := 0
	for _, e := range accessEntries(fx.audit(t)) {
		if e.Actor == "kiosk" {
			n++
		}
	}
	if n < 5 {
		t.Errorf("%d audit entries by the screen, want at least 5 (4 wrong, 1 locked out)", n)
	}
}

// A reader that has seen guessing checks PINs at most one per
// ReaderPause; card swipes never wait; a success clears it; another reader
// is not slowed.
func TestReaderPause(t *testing.T) {
	p := fastLockout
	p.ReaderPause = 300 * time.Millisecond
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: p})
	for range 3 {
		decide(t, fx.g, card("999"), pin("1234"))
	}
	start := time.Now()
	decide(t, fx.g, card("100a"), pin("0000")) // the first check on the hot reader: at once
	decide(t, fx.g, card("100b"))
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("a check and a card swipe on a hot reader took %v; only a second check waits", took)
	}
	start = time.Now()
	if d := decide(t, fx.g, pin("2580")); d.Outcome != gate.Granted {
		t.Fatalf("b's right PIN: %+v", d)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("the next check on a hot reader came after %v; want about the pause (300 ms), never more than a second or two", took)
	}
	// The success cleared the reader.
	start = time.Now()
	decide(t, fx.g, card("100c"), pin("2580"))
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("after a success the reader still paused %v", took)
	}
	// Another reader is not slowed by the first one's guessing.
	for range 3 {
		decide(t, fx.g, at("front", card("999")), at("front", pin("1234")))
	}
	decide(t, fx.g, at("front", card("100a")), at("front", pin("0000")))
	start = time.Now()
	decide(t, fx.g, at("back", card("100c")), at("back", pin("2580")))
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("a reader without failures paused %v", took)
	}
}

// Unknown card swipes, however many, never make the next resident wait
// (the red team's burst of 30 unknown cards delayed a resident 27 s), and
// enough of them raise the probing alarm.
func TestUnknownCardsNeverStallAReader(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: gate.LockoutPolicy{ReaderPause: time.Second}})
	for i := range 30 {
		decide(t, fx.g, card(fmt.Sprint(5000+i)))
	}
	start := time.Now()
	if d := decide(t, fx.g, card("100b"), pin("2580")); d.Outcome != gate.Granted {
		t.Fatalf("a resident after 30 unknown cards: %+v", d)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("a resident after 30 unknown cards waited %v", took)
	}
	if as := fx.g.Alarms(); len(as) != 1 || !strings.Contains(as[0], "trying card numbers") {
		t.Errorf("Alarms after 30 unknown cards in a minute = %q, want the probing alarm", as)
	}
	// One unknown card left on a reader that keeps reading it is one card:
	// no alarm (the red team's false alarm).
	fy := setup(t, gate.Config{CardNeedsPIN: true})
	t0 := time.Now()
	for i := range 40 {
		c := card("5555")
		c.Time = t0.Add(time.Duration(i) * 1100 * time.Millisecond)
		decide(t, fy.g, c)
	}
	if as := fy.g.Alarms(); len(as) != 0 {
		t.Errorf("one unknown card read 40 times raised %q", as)
	}
}

// A card held at a reader that repeats it is one presentation.
func TestRepeatedCardReadsDecideOnce(t *testing.T) {
	fx := setup(t, gate.Config{})
	t0 := time.Now()
	held := func(d time.Duration) fallback.Event {
		ev := card("100a")
		ev.Time = t0.Add(d)
		return ev
	}
	n := 0
	for i := range 10 { // every 200 ms for 2 s
		if d, _ := fx.g.Reader(context.Background(), held(time.Duration(i)*200*time.Millisecond)); d != nil {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a card held for 2 s (10 reads) made %d decisions, want 1", n)
	}
	if d, _ := fx.g.Reader(context.Background(), held(4*time.Second)); d == nil || d.Outcome != gate.Granted {
		t.Errorf("the card shown again after 2 s away: %+v, want a new decision", d)
	}
}

// A PIN ends a presentation: the same card at once again is a new attempt
// (a resident who mistyped tries again), and counts as one.
func TestCardAfterAPINIsANewAttempt(t *testing.T) {
	fx := setup(t, gate.Config{CardNeedsPIN: true, Lockout: fastLockout})
	t0 := time.Now()
	for i := range 3 {
		c := card("100a")
		c.Time = t0.Add(time.Duration(i) * 300 * time.Millisecond)
		if d := decide(t, fx.g, c, pin("0000")); d == nil || d.Reason != "wrong PIN" {
			t.Fatalf("attempt %d, card again 300 ms after a PIN: %+v, want a wrong PIN", i+1, d)
		}
	}
	c := card("100a")
	c.Time = t0.Add(time.Second)
	if d := decide(t, fx.g, c); d == nil || d.Outcome != gate.LockedOut {
		t.Errorf("after 3 wrong PINs in quick succession: %+v, want locked out", d)
	}
}
