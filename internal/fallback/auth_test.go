package fallback_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_800_000_000, 0)} }
func cardEv(r, n string) fallback.Event {
	return fallback.Event{Reader: r, Kind: fallback.KindCard, Card: fallback.Card{Number: n, Format: fallback.FormatASCII}}
}
func pinEv(r, pin string) fallback.Event {
	return fallback.Event{Reader: r, Kind: fallback.KindPIN, PIN: fallback.NewSecret(pin)}
}

// pins is a PINChecker over a map of card key to PIN (the store uses
// argon2id hashes; this stands in for it at the consumer's interface).
type pins struct {
	m     map[string]string
	calls int
	err   error
}

func (p *pins) CheckPIN(_ context.Context, c fallback.Card, pin string) (bool, error) {
	p.calls++
	if p.err != nil {
		return false, p.err
	}
	want, ok := p.m[c.Key()]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pin)) == 1, nil
}

func TestLockoutGrowingDelay(t *testing.T) {
	c := newClock()
	l := fallback.NewLockout(fallback.LockoutPolicy{Free: 3, Base: 30 * time.Second, Max: 2 * time.Minute, Forget: time.Hour}, c.now)
	var waits []time.Duration
	for range 6 {
		l.Fail("card", "dev")
		waits = append(waits, l.Wait("card", "dev"))
	}
	want := []time.Duration{0, 0, 30 * time.Second, time.Minute, 2 * time.Minute, 2 * time.Minute}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait after %d failures = %v, want %v", i+1, waits[i], want[i])
		}
	}
	// The delay runs down with time.
	c.add(90 * time.Second)
	if got := l.Wait("card", "dev"); got != 30*time.Second {
		t.Errorf("wait 90 s later = %v, want 30s", got)
	}
	// Per device: another card on the same device waits too.
	if got := l.Wait("other", "dev"); got != 30*time.Second {
		t.Errorf("other card on same device waits %v, want 30s", got)
	}
	// Per card: the same card on another device waits too.
	if got := l.Wait("card", "dev2"); got != 30*time.Second {
		t.Errorf("same card on another device waits %v, want 30s", got)
	}
	if got := l.Wait("other", "dev2"); got != 0 {
		t.Errorf("other card, other device waits %v, want 0", got)
	}
	// A success clears the card but not the device.
	l.Succeed("card")
	if got := l.Wait("card", "dev2"); got != 0 {
		t.Errorf("after success the card waits %v, want 0", got)
	}
	if got := l.Wait("other", "dev"); got == 0 {
		t.Errorf("after another card's success the device no longer waits")
	}
	// Failures are forgotten after an hour of quiet.
	c.add(time.Hour)
	if got := l.Wait("other", "dev"); got != 0 {
		t.Errorf("wait after an hour = %v, want 0", got)
	}
}

func TestLockoutBoundedMemory(t *testing.T) {
	c := newClock()
	l := fallback.NewLockout(fallback.LockoutPolicy{}, c.now)
	for i := range 20000 {
		l.Fail(string(rune(i)), "dev")
	}
	// Still works, and the device is locked.
	if l.Wait("x", "dev") == 0 {
		t.Error("device not locked after 20000 failures")
	}
}

func TestAuthenticator(t *testing.T) {
	type step struct {
		ev      fallback.Event
		advance time.Duration
		want    fallback.Outcome
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"card then right pin", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("gate", "1234"), want: fallback.OutcomeGranted},
		}},
		{"wrong pin", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("gate", "9999"), want: fallback.OutcomeDenied},
		}},
		{"pin without card", []step{
			{ev: pinEv("gate", "1234"), want: fallback.OutcomeDenied},
		}},
		{"pin on another reader", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("side", "1234"), want: fallback.OutcomeDenied},
		}},
		{"bound keypad", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("gate-pad", "1234"), want: fallback.OutcomeGranted},
		}},
		{"card timed out", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("gate", "1234"), advance: 21 * time.Second, want: fallback.OutcomeDenied},
		}},
		{"one pin per card", []step{
			{ev: cardEv("gate", "42"), want: fallback.OutcomeNeedPIN},
			{ev: pinEv("gate", "1234"), want: fallback.OutcomeGranted},
			{ev: pinEv("gate", "1234"), want: fallback.OutcomeDenied},
		}},
		{"key press", []step{
			{ev: fallback.Event{Reader: "gate", Kind: fallback.KindKey, Digits: 1}, want: fallback.OutcomeNone},
		}},
		{"lockout then right pin still refused", []step{
			{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "0"), want: fallback.OutcomeDenied},
			{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1"), want: fallback.OutcomeDenied},
			{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "2"), want: fallback.OutcomeDenied},
			{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1234"), want: fallback.OutcomeLockedOut},
			{ev: cardEv("gate", "42"), advance: 31 * time.Second}, {ev: pinEv("gate", "1234"), want: fallback.OutcomeGranted},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			checker := &pins{m: map[string]string{"42": "1234"}}
			a, err := fallback.NewAuthenticator(fallback.AuthConfig{
				Checker: checker,
				Bind:    map[string]string{"gate-pad": "gate"},
				Now:     c.now,
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				c.add(s.advance)
				d, err := a.Handle(context.Background(), s.ev)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if s.want != 0 && d.Outcome != s.want {
					t.Errorf("step %d (%v): outcome = %v, want %v (%+v)", i, s.ev, d.Outcome, s.want, d)
				}
			}
		})
	}
}

func TestAuthenticatorCheckerError(t *testing.T) {
	checker := &pins{err: errors.New("store closed")}
	a, _ := fallback.NewAuthenticator(fallback.AuthConfig{Checker: checker})
	ctx := context.Background()
	_, _ = a.Handle(ctx, cardEv("gate", "42"))
	if _, err := a.Handle(ctx, pinEv("gate", "1")); err == nil {
		t.Fatal("checker error not returned")
	}
	if _, err := fallback.NewAuthenticator(fallback.AuthConfig{}); !errors.Is(err, fallback.ErrConfig) {
		t.Errorf("NewAuthenticator without checker = %v, want ErrConfig", err)
	}
}
