package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// LockoutPolicy slows PIN guessing. For each card: after Free wrong PINs in
// a row, each further attempt must wait Base, doubling per failure up to
// Max; a right PIN clears the card's count, and failures older than Forget
// are forgotten. Counts are kept in the store, so a restart does not reset
// them. For each reader: after Free failures in a row of any card, each
// further PIN check on that reader waits ReaderPause first; a success on
// the reader clears it. A guesser is thus slowed everywhere, yet no card
// holder can lock a reader for the next resident.
type LockoutPolicy struct {
	Free        int           // wrong PINs allowed without delay; 3 when 0
	Base        time.Duration // first delay; 30 s when 0
	Max         time.Duration // longest delay; 15 min when 0
	Forget      time.Duration // quiet time after which failures are forgotten; 24 h when 0
	ReaderPause time.Duration // per-reader pause once guessing is seen; 1 s when 0
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
		p.Forget = 24 * time.Hour
	}
	if p.ReaderPause <= 0 {
		p.ReaderPause = time.Second
	}
	return p
}

// Delay is how long a card with n failures, the last at last, must wait at
// now before its next attempt; 0 means it may try now.
func (p LockoutPolicy) Delay(n int, last, now time.Time) time.Duration {
	p = p.withDefaults()
	if n < p.Free || now.Sub(last) >= p.Forget {
		return 0
	}
	d := p.Base
	for i := p.Free; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if left := last.Add(d).Sub(now); left > 0 {
		return left
	}
	return 0
}

// Counters keep failure counts across restarts (the store).
type Counters interface {
	Failures(key string) (store.Failures, error)
	SetFailures(key string, f store.Failures) error
	ClearFailures(key string) error
}

// lockout applies a LockoutPolicy. Card counts live in the store, with an
// in-memory copy that also carries on when the store refuses writes (a
// damaged store served read-only from a backup). Reader counts are in
// memory only: they protect the minutes of an attack, not its history.
type lockout struct {
	policy LockoutPolicy
	st     Counters
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	cards   map[string]store.Failures // key -> failures, a cache of the store's
	readers map[string]int            // reader -> failures in a row
	warned  bool
}

func newLockout(p LockoutPolicy, st Counters, now func() time.Time, log *slog.Logger) *lockout {
	return &lockout{policy: p.withDefaults(), st: st, now: now, log: log,
		cards: map[string]store.Failures{}, readers: map[string]int{}}
}

// maxCached bounds the in-memory copy; the store keeps its own bound.
const maxCached = 4096

func cardKey(key string) string { return "card:" + key }

// load returns the card's failures; l.mu held.
func (l *lockout) load(key string) store.Failures {
	if f, ok := l.cards[key]; ok {
		return f
	}
	f, err := l.st.Failures(cardKey(key))
	if err != nil {
		l.warn("read", err)
		f = store.Failures{}
	}
	if len(l.cards) >= maxCached {
		clear(l.cards) // the store still has them
	}
	l.cards[key] = f
	return f
}

func (l *lockout) warn(what string, err error) {
	if !l.warned {
		l.warned = true
		l.log.Error("gate: lock-out counters: cannot "+what+" the store; counting in memory", "err", err)
	}
}

// wait is how long the card must wait before its next PIN.
func (l *lockout) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.load(key)
	return l.policy.Delay(f.N, f.Last, l.now())
}

// fail records a wrong PIN for the card (known is false for a card nobody
// holds: counted on the reader only) and on the reader.
func (l *lockout) fail(key, reader string, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readers[reader]++
	if !known {
		return
	}
	now := l.now()
	f := l.load(key)
	if now.Sub(f.Last) >= l.policy.Forget {
		f.N = 0
	}
	f.N++
	f.Last = now
	l.cards[key] = f
	if err := l.st.SetFailures(cardKey(key), f); err != nil && !errors.Is(err, store.ErrReadOnly) {
		l.warn("write", err)
	}
}

// succeed clears the card's and the reader's counts.
func (l *lockout) succeed(key, reader string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.readers, reader)
	f := l.load(key)
	if f.N == 0 {
		return
	}
	l.cards[key] = store.Failures{}
	if err := l.st.ClearFailures(cardKey(key)); err != nil && !errors.Is(err, store.ErrReadOnly) {
		l.warn("write", err)
	}
}

// pause waits before a PIN check on a reader that has seen guessing, and
// reports false if ctx ended first.
func (l *lockout) pause(ctx context.Context, reader string) bool {
	l.mu.Lock()
	n := l.readers[reader]
	l.mu.Unlock()
	if n < l.policy.Free {
		return true
	}
	t := time.NewTimer(l.policy.ReaderPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// LockedOutError says a card must wait before its next PIN.
type LockedOutError struct{ Wait time.Duration }

func (e *LockedOutError) Error() string {
	return fmt.Sprintf("gate: too many wrong PINs: try again in %s", e.Wait.Round(time.Second))
}
