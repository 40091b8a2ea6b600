package fallback

import (
	"sync"
	"time"
)

// PairingConfig configures a Pairing.
type PairingConfig struct {
	// CardTimeout is how long after a card its PIN may come; 20 s when 0.
	CardTimeout time.Duration
	// Bind maps a keypad's reader name to the card reader it serves; a PIN
	// from a keypad pairs with the last card on that reader. A reader that
	// reads both (OSDP) needs no entry.
	Bind map[string]string
	Now  func() time.Time // time.Now when nil
}

// Pairing pairs each PIN with the card shown before it on the same reader
// (or the card reader its keypad serves), within a timeout. It checks
// nothing: whether the PIN is right, and how often a card may try, is the
// gate's decision. Safe for concurrent use.
type Pairing struct {
	cfg     PairingConfig
	mu      sync.Mutex
	pending map[string]shown
}

type shown struct {
	card Card
	at   time.Time
}

// NewPairing returns a Pairing.
func NewPairing(cfg PairingConfig) *Pairing {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CardTimeout <= 0 {
		cfg.CardTimeout = 20 * time.Second
	}
	return &Pairing{cfg: cfg, pending: map[string]shown{}}
}

// Reader names the card reader an event's reader serves: itself, or the
// card reader a keypad is bound to.
func (p *Pairing) Reader(name string) string {
	if bound, ok := p.cfg.Bind[name]; ok {
		return bound
	}
	return name
}

// Card remembers a card shown at a reader, replacing any card shown there
// before, and returns the card reader it belongs to.
func (p *Pairing) Card(ev Event) string {
	reader := p.Reader(ev.Reader)
	p.mu.Lock()
	p.pending[reader] = shown{card: ev.Card, at: p.cfg.Now()}
	p.mu.Unlock()
	return reader
}

// PIN returns the card a PIN belongs to and its card reader; ok is false
// when no card was shown there within the timeout. Each card takes one PIN:
// a second PIN needs the card again.
func (p *Pairing) PIN(ev Event) (card Card, reader string, ok bool) {
	reader = p.Reader(ev.Reader)
	now := p.cfg.Now()
	p.mu.Lock()
	s, ok := p.pending[reader]
	delete(p.pending, reader)
	p.mu.Unlock()
	if !ok || now.Sub(s.at) > p.cfg.CardTimeout || now.Before(s.at) {
		return Card{}, reader, false
	}
	return s.card, reader, true
}

// Forget drops a card waiting for its PIN at the card reader name serves.
func (p *Pairing) Forget(name string) {
	p.mu.Lock()
	delete(p.pending, p.Reader(name))
	p.mu.Unlock()
}
