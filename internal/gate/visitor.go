package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// Passes is what the gate needs of the store for visitor passes: find a
// pass by its code or its QR payload, and spend one use of it (refused
// with an error wrapping store.ErrPassRefused that says why).
type Passes interface {
	FindPassCode(code string) (string, error)
	CheckPassQR(payload string) (string, error)
	UsePass(id, reader string) (store.Pass, error)
}

// Visitor methods.
const (
	MethodCode Method = "visitor-code" // a visitor code typed at a keypad: '#', the code, '#'
	MethodQR   Method = "visitor-qr"   // a pass's QR code shown to a scanner
)

// visitorCodeKey is the lock-out key every visitor code counts against:
// a code is typed without a card, so guesses at any keypad are counted
// together (and per reader), and the count outlives a restart.
const visitorCodeKey = "visitor-code"

// passReason is what the visitor is told when a pass is refused.
func passReason(err error) string {
	switch {
	case errors.Is(err, store.ErrPassExpired):
		return "this pass has expired: ask your host for a new one"
	case errors.Is(err, store.ErrPassNotYet):
		return "this pass is not valid yet"
	case errors.Is(err, store.ErrPassRevoked):
		return "this pass was cancelled: ask your host"
	case errors.Is(err, store.ErrPassUsedUp):
		return "this pass has been used: ask your host for a new one"
	case errors.Is(err, store.ErrPassWrongReader):
		return "this pass is not for this door"
	}
	return "not a pass of this gate"
}

// code decides on a visitor code typed at a keypad. It counts against the
// lock-out like a PIN (one shared key for all codes, and the reader's), so
// guessing is slowed everywhere; the pass it opens is audited, no person.
func (g *Gate) code(ctx context.Context, ev fallback.Event) (*Decision, error) {
	reader := g.pairing.Reader(ev.Reader)
	d := Decision{Method: MethodCode, Reader: reader}
	if g.cfg.Passes == nil {
		d.Outcome, d.Reason = Denied, "visitor codes are not used at this gate"
		out := g.decide(d)
		return &out, nil
	}
	wait, release, err := g.lockout.begin(ctx, visitorCodeKey, reader)
	switch {
	case err != nil:
		return nil, err
	case wait > 0:
		d.Outcome, d.Wait = LockedOut, wait
		d.Reason = fmt.Sprintf("too many wrong codes: try again in %s", wait.Round(1e9))
		out := g.decide(d)
		return &out, nil
	}
	id, err := g.cfg.Passes.FindPassCode(ev.PIN.Reveal())
	switch {
	case errors.Is(err, store.ErrNotFound):
		release(checkFailed)
		d.Outcome, d.Reason = Denied, "wrong code"
		out := g.decide(d)
		return &out, nil
	case err != nil:
		release(checkAborted)
		return nil, fmt.Errorf("gate: visitor code: %w", err)
	}
	// The right code of a pass: only a use that opens the door clears
	// the count. The code of a used, expired or revoked pass is no guess,
	// but a guesser may hold one (their own, from last week): were it to
	// clear the count, typing it after each wait would give 3 more free
	// guesses, for ever.
	d.Pass = id
	_, err = g.cfg.Passes.UsePass(id, d.Reader)
	if err == nil {
		release(checkPassed)
	} else {
		release(checkAborted)
	}
	return g.passDecision(d, err)
}

// scan decides on a QR payload from a scanner. A forged payload cannot be
// guessed (a 128-bit signature), so scans do not count against the
// lock-out; each refusal is audited.
func (g *Gate) scan(ctx context.Context, ev fallback.Event) (*Decision, error) {
	if g.repeatedScan(ev) {
		return nil, nil // the same QR read again while held in view
	}
	reader := g.pairing.Reader(ev.Reader)
	d := Decision{Method: MethodQR, Reader: reader}
	if g.cfg.Passes == nil {
		d.Outcome, d.Reason = Denied, "visitor passes are not used at this gate"
		out := g.decide(d)
		return &out, nil
	}
	id, err := g.cfg.Passes.CheckPassQR(ev.PIN.Reveal())
	switch {
	case errors.Is(err, store.ErrPassRefused), errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrNotFound):
		d.Outcome, d.Reason = Denied, passReason(err)
		out := g.decide(d)
		return &out, nil
	case err != nil:
		return nil, fmt.Errorf("gate: visitor QR: %w", err)
	}
	return g.usePass(d, id)
}

// usePass spends a use of the pass before the door opens: a pass is never
// used twice, also when the gate restarts between two scans.
func (g *Gate) usePass(d Decision, id string) (*Decision, error) {
	d.Pass = id
	_, err := g.cfg.Passes.UsePass(id, d.Reader)
	return g.passDecision(d, err)
}

// passDecision decides on a pass whose use UsePass answered with err.
func (g *Gate) passDecision(d Decision, err error) (*Decision, error) {
	switch {
	case err == nil:
		d.Outcome = Granted
	case errors.Is(err, store.ErrPassRefused), errors.Is(err, store.ErrNotFound):
		d.Outcome, d.Reason = Denied, passReason(err)
	case errors.Is(err, store.ErrReadOnly):
		// Served from a backup: a use could not be counted, so the pass
		// could be replayed. Fail closed.
		d.Outcome, d.Reason = Denied, "visitor passes cannot be used now: ask your host or the property office"
	default:
		return nil, fmt.Errorf("gate: use pass %s: %w", d.Pass, err)
	}
	out := g.decide(d)
	return &out, nil
}

// scanRepeatWindow: a QR read again at the same scanner within this long of
// its last read is the same presentation. Scanners in continuous mode
// re-read a code left in view every few hundred ms (some every 1-2 s);
// each read must not spend a use of the pass.
const scanRepeatWindow = 3 * time.Second

// repeatedScan reports whether ev repeats the text last scanned at its
// scanner within scanRepeatWindow (by the scanner's times; an event
// without one repeats nothing). It shares lastCard, keyed by the scanner's
// own name and a hash of the text (the text is a bearer credential).
func (g *Gate) repeatedScan(ev fallback.Event) bool {
	if ev.Time.IsZero() {
		return false
	}
	sum := sha256.Sum256([]byte(ev.PIN.Reveal()))
	key := "scan:" + hex.EncodeToString(sum[:16])
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.lastCard[ev.Reader]
	g.lastCard[ev.Reader] = seenCard{key: key, at: ev.Time}
	return ok && last.key == key && !ev.Time.Before(last.at) && ev.Time.Sub(last.at) < scanRepeatWindow
}
