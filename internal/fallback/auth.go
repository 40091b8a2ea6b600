package fallback

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// PINChecker verifies a PIN for a card, e.g. against the store's argon2id
// hashes. It must compare in constant time and must not log the PIN.
type PINChecker interface {
	CheckPIN(ctx context.Context, card Card, pin string) (bool, error)
}

// LockoutPolicy grows the delay after failed PINs. After Free failures in a
// row, each further attempt must wait Base, doubling per failure up to Max.
// Failures older than Forget are forgotten.
type LockoutPolicy struct {
	Free   int           // failures allowed without delay; 3 when 0
	Base   time.Duration // first delay; 30 s when 0
	Max    time.Duration // longest delay; 15 min when 0
	Forget time.Duration // quiet time after which failures are forgotten; 1 h when 0
}

func (p LockoutPolicy) withDefaults() LockoutPolicy {
	if p.Free <= 0 {
		p.Free = 3
	}
	if p.Base <= 0 {
		p.Base = 30 * time.Second
	}
	if p.Max < p.Base {
		p.Max = max(p.Base, 15*time.Minute)
	}
	if p.Forget <= 0 {
		p.Forget = time.Hour
	}
	return p
}

// maxLockoutEntries bounds the memory an attacker presenting endless
// unknown cards can make the lockout use.
const maxLockoutEntries = 4096

// Lockout counts PIN failures per card and per device (reader) and says how
// long the next attempt must wait. Safe for concurrent use.
type Lockout struct {
	policy LockoutPolicy
	now    func() time.Time
	mu     sync.Mutex
	cards  map[string]*failures
	devs   map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

// NewLockout returns a Lockout; now is the clock (time.Now when nil).
func NewLockout(p LockoutPolicy, now func() time.Time) *Lockout {
	if now == nil {
		now = time.Now
	}
	return &Lockout{policy: p.withDefaults(), now: now, cards: map[string]*failures{}, devs: map[string]*failures{}}
}

// delay is the wait imposed by f at t.
func (l *Lockout) delay(f *failures, t time.Time) time.Duration {
	if f == nil || f.n < l.policy.Free {
		return 0
	}
	if t.Sub(f.last) >= l.policy.Forget {
		return 0
	}
	d := l.policy.Base
	for i := l.policy.Free; i < f.n && d < l.policy.Max; i++ {
		d *= 2
	}
	d = min(d, l.policy.Max)
	if left := f.last.Add(d).Sub(t); left > 0 {
		return left
	}
	return 0
}

// Wait returns how long an attempt for card (its Key) on device must wait; 0
// means it may be tried now.
func (l *Lockout) Wait(card, device string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	return max(l.delay(l.cards[card], t), l.delay(l.devs[device], t))
}

// Fail records a failed attempt.
func (l *Lockout) Fail(card, device string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	l.bump(l.cards, card, t)
	l.bump(l.devs, device, t)
}

func (l *Lockout) bump(m map[string]*failures, k string, t time.Time) {
	f := m[k]
	if f == nil {
		if len(m) >= maxLockoutEntries {
			l.prune(m, t)
		}
		f = &failures{}
		m[k] = f
	} else if t.Sub(f.last) >= l.policy.Forget {
		f.n = 0
	}
	f.n++
	f.last = t
}

// prune forgets expired entries, then, if still full, the oldest quarter,
// so an attacker presenting endless unknown cards costs amortized O(log n).
func (l *Lockout) prune(m map[string]*failures, t time.Time) {
	type entry struct {
		k    string
		last time.Time
	}
	live := make([]entry, 0, len(m))
	for k, f := range m {
		if t.Sub(f.last) >= l.policy.Forget {
			delete(m, k)
			continue
		}
		live = append(live, entry{k, f.last})
	}
	if len(m) < maxLockoutEntries {
		return
	}
	slices.SortFunc(live, func(a, b entry) int { return a.last.Compare(b.last) })
	for _, e := range live[:len(live)/4] {
		delete(m, e.k)
	}
}

// Succeed clears the card's failures. The device's failures are kept until
// they are forgotten, so a resident's success does not reset a guesser's
// count on the same keypad.
func (l *Lockout) Succeed(card string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.cards, card)
}

// Outcome is the result of handling an event in an Authenticator.
type Outcome uint8

const (
	OutcomeNone      Outcome = iota // nothing to do (a key press)
	OutcomeNeedPIN                  // a card was shown; a PIN is expected
	OutcomeGranted                  // card and PIN verified
	OutcomeDenied                   // wrong PIN, or a PIN without a card
	OutcomeLockedOut                // too many failures: not checked, retry after Wait
)

func (o Outcome) String() string {
	return [...]string{"none", "need-pin", "granted", "denied", "locked-out"}[min(int(o), 4)]
}

// Decision is what an Authenticator concluded from one event.
type Decision struct {
	Outcome Outcome
	Reader  string        // the card reader the decision is about
	Card    Card          // the card, for NeedPIN, Granted, Denied, LockedOut
	Wait    time.Duration // LockedOut: how long until the next attempt
	Reason  string        // Denied: why, for logs (never the PIN)
}

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	Checker PINChecker
	Lockout *Lockout // NewLockout(LockoutPolicy{}, Now) when nil
	// CardTimeout is how long after a card its PIN may come; 20 s when 0.
	CardTimeout time.Duration
	// Bind maps a keypad's reader name to the card reader it serves; a PIN
	// from a keypad pairs with the last card on that reader. A reader that
	// reads both (OSDP) needs no entry.
	Bind map[string]string
	Now  func() time.Time // time.Now when nil
}

// Authenticator pairs each PIN with the card shown before it on the same
// reader (or the reader its keypad is bound to) and verifies it, with
// lockout. It grants nothing on a card alone: card-only access is the
// daemon's decision. Safe for concurrent use.
type Authenticator struct {
	cfg     AuthConfig
	mu      sync.Mutex
	pending map[string]pendingCard
}

type pendingCard struct {
	card Card
	at   time.Time
}

// NewAuthenticator returns an Authenticator; cfg.Checker is required.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.Checker == nil {
		return nil, fmt.Errorf("%w: authenticator needs a PIN checker", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lockout == nil {
		cfg.Lockout = NewLockout(LockoutPolicy{}, cfg.Now)
	}
	if cfg.CardTimeout <= 0 {
		cfg.CardTimeout = 20 * time.Second
	}
	return &Authenticator{cfg: cfg, pending: map[string]pendingCard{}}, nil
}

// Handle takes one event. A card is remembered for its reader and answered
// with NeedPIN; a PIN is checked against that card. A checker error is
// returned and counts as no attempt.
func (a *Authenticator) Handle(ctx context.Context, ev Event) (Decision, error) {
	reader := ev.Reader
	if bound, ok := a.cfg.Bind[reader]; ok {
		reader = bound
	}
	now := a.cfg.Now()
	switch ev.Kind {
	case KindCard:
		a.mu.Lock()
		a.pending[reader] = pendingCard{card: ev.Card, at: now}
		a.mu.Unlock()
		return Decision{Outcome: OutcomeNeedPIN, Reader: reader, Card: ev.Card}, nil
	case KindPIN:
	default:
		return Decision{Outcome: OutcomeNone, Reader: reader}, nil
	}
	a.mu.Lock()
	p, ok := a.pending[reader]
	delete(a.pending, reader) // one PIN per card presentation
	a.mu.Unlock()
	if !ok || now.Sub(p.at) > a.cfg.CardTimeout || now.Before(p.at) {
		return Decision{Outcome: OutcomeDenied, Reader: reader, Reason: "no card shown before the PIN"}, nil
	}
	key := p.card.Key()
	if w := a.cfg.Lockout.Wait(key, reader); w > 0 {
		return Decision{Outcome: OutcomeLockedOut, Reader: reader, Card: p.card, Wait: w}, nil
	}
	ok, err := a.cfg.Checker.CheckPIN(ctx, p.card, ev.PIN.Reveal())
	if err != nil {
		return Decision{}, fmt.Errorf("fallback: check PIN for card %s on %s: %w", p.card, reader, err)
	}
	if !ok {
		a.cfg.Lockout.Fail(key, reader)
		return Decision{Outcome: OutcomeDenied, Reader: reader, Card: p.card, Reason: "wrong PIN"}, nil
	}
	a.cfg.Lockout.Succeed(key)
	return Decision{Outcome: OutcomeGranted, Reader: reader, Card: p.card}, nil
}
