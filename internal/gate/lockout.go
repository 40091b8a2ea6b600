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
// them, and one card's PIN is checked at one reader at a time, so readers
// side by side do not multiply a guesser's attempts. For each reader: after
// Free failures in a row (wrong PINs, PINs after unknown cards), PIN checks
// there come at most one per ReaderPause, the next waiting at most that
// long; a success on the reader clears it. Card swipes never wait. A
// guesser is thus slowed everywhere, yet no card holder can lock a reader
// for the next resident, who waits at most ReaderPause.
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

	mu       sync.Mutex
	cards    map[string]store.Failures // key -> failures, a cache of the store's
	readers  map[string]*readerState
	checking map[string]bool // cards whose PIN is being checked now
	warned   bool
}

// readerState is what a reader has seen lately.
type readerState struct {
	failures  int       // in a row, of any card
	nextCheck time.Time // a hot reader's next PIN check, at the earliest
}

func newLockout(p LockoutPolicy, st Counters, now func() time.Time, log *slog.Logger) *lockout {
	return &lockout{policy: p.withDefaults(), st: st, now: now, log: log,
		cards: map[string]store.Failures{}, readers: map[string]*readerState{}, checking: map[string]bool{}}
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

// reader returns a reader's state; l.mu held. Readers are configured, so
// the map stays small.
func (l *lockout) reader(name string) *readerState {
	r := l.readers[name]
	if r == nil {
		r = &readerState{}
		l.readers[name] = r
	}
	return r
}

// begin reserves a PIN check of the card at the reader: it returns how long
// the card must wait (locked out, or checked at another reader right now),
// or 0 and a release to call with the check's result. On a reader that has
// seen guessing it first waits its turn (at most ReaderPause).
func (l *lockout) begin(ctx context.Context, key, reader string) (wait time.Duration, release func(checkResult), err error) {
	l.mu.Lock()
	f := l.load(key)
	if w := l.policy.Delay(f.N, f.Last, l.now()); w > 0 {
		l.mu.Unlock()
		return w, nil, nil
	}
	if l.checking[key] {
		l.mu.Unlock()
		return time.Second, nil, nil // being checked at another reader: one at a time
	}
	l.checking[key] = true
	r := l.reader(reader)
	var sleep time.Duration
	if r.failures >= l.policy.Free {
		now := l.now()
		sleep = min(max(r.nextCheck.Sub(now), 0), l.policy.ReaderPause)
		r.nextCheck = now.Add(sleep + l.policy.ReaderPause)
	}
	l.mu.Unlock()
	release = func(res checkResult) { l.end(key, reader, res) }
	if sleep > 0 {
		t := time.NewTimer(sleep)
		defer t.Stop()
		select {
		case <-ctx.Done():
			l.mu.Lock()
			delete(l.checking, key)
			l.mu.Unlock()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
	}
	return 0, release, nil
}

// checkResult is how a reserved PIN check ended.
type checkResult int

const (
	checkAborted checkResult = iota // not checked (the store failed): counts nothing
	checkPassed
	checkFailed
)

// end records a check's result and releases the card.
func (l *lockout) end(key, reader string, res checkResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.checking, key)
	if res == checkAborted {
		return
	}
	r := l.reader(reader)
	if res == checkPassed {
		r.failures, r.nextCheck = 0, time.Time{}
		f := l.load(key)
		if f.N == 0 {
			return
		}
		l.cards[key] = store.Failures{}
		if err := l.st.ClearFailures(cardKey(key)); err != nil && !errors.Is(err, store.ErrReadOnly) {
			l.warn("write", err)
		}
		return
	}
	r.failures++
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

// unknownCard counts a swipe of a card nobody holds at a reader (it pauses
// nothing: card swipes never wait).
func (l *lockout) unknownCard(reader string) {
	l.mu.Lock()
	l.reader(reader).failures++
	l.mu.Unlock()
}

// cardOK clears a reader's failures after a good card in card-only mode.
func (l *lockout) cardOK(reader string) {
	l.mu.Lock()
	r := l.reader(reader)
	r.failures, r.nextCheck = 0, time.Time{}
	l.mu.Unlock()
}

// LockedOutError says a card must wait before its next PIN.
type LockedOutError struct{ Wait time.Duration }

func (e *LockedOutError) Error() string {
	return fmt.Sprintf("gate: too many wrong PINs: try again in %s", e.Wait.Round(time.Second))
}
