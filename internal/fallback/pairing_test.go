package fallback_test

import (
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

func TestPairing(t *testing.T) {
	type step struct {
		ev      fallback.Event
		advance time.Duration
		card    string // the card the PIN pairs with; "" for none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"card then pin", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1234"), card: "42"}}},
		{"pin without card", []step{{ev: pinEv("gate", "1234")}}},
		{"pin on another reader", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("side", "1234")}}},
		{"bound keypad", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("gate-pad", "1234"), card: "42"}}},
		{"keypad bound elsewhere", []step{{ev: cardEv("side", "42")}, {ev: pinEv("gate-pad", "1234")}}},
		{"card timed out", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1234"), advance: 21 * time.Second}}},
		{"one pin per card", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1"), card: "42"}, {ev: pinEv("gate", "1234")}}},
		{"a later card replaces", []step{{ev: cardEv("gate", "42")}, {ev: cardEv("gate", "43")}, {ev: pinEv("gate", "1"), card: "43"}}},
		{"clock went back", []step{{ev: cardEv("gate", "42")}, {ev: pinEv("gate", "1"), advance: -time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			p := fallback.NewPairing(fallback.PairingConfig{Bind: map[string]string{"gate-pad": "gate"}, Now: c.now})
			for i, s := range tt.steps {
				c.add(s.advance)
				switch s.ev.Kind {
				case fallback.KindCard:
					if r := p.Card(s.ev); r != p.Reader(s.ev.Reader) {
						t.Errorf("step %d: Card = %q, want %q", i, r, p.Reader(s.ev.Reader))
					}
				case fallback.KindPIN:
					card, _, ok := p.PIN(s.ev)
					if got := map[bool]string{true: card.Key()}[ok]; got != s.card {
						t.Errorf("step %d (%v): PIN pairs with %q, want %q", i, s.ev, got, s.card)
					}
				}
			}
		})
	}
}

func TestPairingForget(t *testing.T) {
	p := fallback.NewPairing(fallback.PairingConfig{Bind: map[string]string{"pad": "gate"}})
	p.Card(cardEv("gate", "42"))
	p.Forget("pad")
	if _, _, ok := p.PIN(pinEv("gate", "1")); ok {
		t.Errorf("PIN paired with a card that was forgotten")
	}
}
