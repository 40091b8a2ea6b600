package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// Reader takes one event from a card reader or keypad. It returns the
// decision made, or nil for events that decide nothing (key presses).
// It may be called from one goroutine per reader at once: a slow PIN check
// on one reader never holds up another.
func (g *Gate) Reader(ctx context.Context, ev fallback.Event) (*Decision, error) {
	switch ev.Kind {
	case fallback.KindCard:
		return g.card(ctx, ev)
	case fallback.KindPIN:
		return g.pin(ctx, ev)
	case fallback.KindCode:
		return g.code(ctx, ev)
	case fallback.KindScan:
		return g.scan(ctx, ev)
	}
	return nil, nil
}

// resident looks a card up; a card of nobody, or of a resident who may not
// enter, gives a denial reason. known says whether the card is assigned.
func (g *Gate) resident(card fallback.Card) (r store.Resident, why string, known bool, err error) {
	id, err := g.st.LookupCard(card.Key())
	if errors.Is(err, store.ErrNotFound) {
		return store.Resident{}, "unknown card", false, nil
	}
	if err != nil {
		return store.Resident{}, "", false, fmt.Errorf("gate: look up card: %w", err)
	}
	r, err = g.st.Resident(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Resident{}, "unknown card", false, nil
	}
	if err != nil {
		return store.Resident{}, "", false, fmt.Errorf("gate: resident %s: %w", id, err)
	}
	if r.Status != store.StatusActive {
		return r, "resident is " + r.Status.String(), true, nil
	}
	if why := g.outside(r, card.Key()); why != "" {
		return r, why, true, nil
	}
	return r, "", true, nil
}

func (g *Gate) card(ctx context.Context, ev fallback.Event) (*Decision, error) {
	reader := g.pairing.Reader(ev.Reader)
	if g.repeated(reader, ev) {
		return nil, nil // the same card read again at once (a reader repeating while it is held)
	}
	r, why, known, err := g.resident(ev.Card)
	if err != nil {
		return nil, err
	}
	d := Decision{Method: MethodCard, Reader: ev.Reader, Resident: r.ID, Name: r.Name}
	if g.cfg.CardNeedsPIN {
		d.Method = MethodCardPIN
	}
	switch {
	case !known:
		d.Outcome, d.Reason = Denied, why
		g.lockout.unknownCard(reader)
		g.probe(reader, ev.Card.Key())
	case why != "":
		d.Outcome, d.Reason = Denied, why
	case g.cfg.CardNeedsPIN:
		if w := g.lockout.wait(ev.Card.Key()); w > 0 {
			g.pairing.Forget(reader)
			d.Outcome, d.Wait = LockedOut, w
			d.Reason = lockedOutReason(w)
			break
		}
		// Remember the card for the PIN that follows.
		g.pairing.Card(ev)
		d.Outcome, d.Reason = NeedPIN, "enter your PIN and press #"
		g.mu.Lock()
		if g.mode == calibrate.Verify {
			// The holder's face may confirm the card instead of the PIN.
			g.pending = &pendingCard{resident: r.ID, name: r.Name, reader: ev.Reader, card: ev.Card, until: g.cfg.Now().Add(g.pinTimeout())}
			g.track.restart() // only frames seen since the card confirm it
			d.Reason = "look at the camera, or enter your PIN and press #"
		}
		g.mu.Unlock()
	default:
		g.lockout.cardOK(reader)
		d.Outcome = Granted
	}
	out := g.decide(d)
	return &out, nil
}

func lockedOutReason(w time.Duration) string {
	return fmt.Sprintf("too many wrong PINs: try again in %s", w.Round(time.Second))
}

func (g *Gate) pin(ctx context.Context, ev fallback.Event) (*Decision, error) {
	if len(ev.PIN.Reveal()) < store.MinPINLen {
		// A code (the kiosk's 1#, 2#, a number shown), typed at a keypad
		// where it means nothing: never a PIN, so it neither counts as a
		// wrong one nor uses up the card shown.
		return nil, nil
	}
	if !g.cfg.CardNeedsPIN {
		out := g.decide(Decision{Method: MethodCardPIN, Reader: ev.Reader, Outcome: Denied, Reason: "PINs are not used at this gate: show your card"})
		return &out, nil
	}
	card, reader, ok := g.pairing.PIN(ev)
	g.presented(reader)
	if !ok {
		out := g.decide(Decision{Method: MethodCardPIN, Reader: reader, Outcome: Denied, Reason: "no card shown before the PIN"})
		return &out, nil
	}
	g.mu.Lock()
	if g.pending != nil && g.pending.card == card {
		g.pending = nil // the PIN answered the card: no face needed now
	}
	g.mu.Unlock()
	r, err := g.check(ctx, reader, card, ev.PIN.Reveal())
	d := Decision{Method: MethodCardPIN, Reader: reader, Resident: r.ID, Name: r.Name}
	var lo *LockedOutError
	switch {
	case err == nil:
		d.Outcome = Granted
	case errors.As(err, &lo):
		d.Outcome, d.Wait, d.Reason = LockedOut, lo.Wait, lockedOutReason(lo.Wait)
	case errors.Is(err, errDenied):
		d.Outcome, d.Reason = Denied, denialReason(err)
	default:
		return nil, err
	}
	out := g.decide(d)
	return &out, nil
}

// errDenied marks a card and PIN that do not let their holder in; its
// message after "gate: " is the reason shown.
var errDenied = errors.New("gate: denied")

type denial struct{ reason string }

func (d denial) Error() string { return "gate: " + d.reason }
func (d denial) Unwrap() error { return errDenied }

func denialReason(err error) string {
	var d denial
	if errors.As(err, &d) {
		return d.reason
	}
	return err.Error()
}

// ErrNotIdentified is returned by Identify when a card and PIN do not
// identify an active resident: an unknown card, a wrong PIN, a disabled
// resident. Its message says which.
var ErrNotIdentified = errDenied

// check verifies a card and PIN at a reader under the lock-out, and
// returns the holder. The resident is filled in whenever the card is
// known, also on a denial, so that the record names whose card it was.
func (g *Gate) check(ctx context.Context, reader string, card fallback.Card, pin string) (store.Resident, error) {
	r, why, known, err := g.resident(card)
	if err != nil {
		return store.Resident{}, err
	}
	if !known {
		g.lockout.unknownCard(reader) // nothing to check; the reader counts it
		return r, denial{why}
	}
	wait, release, err := g.lockout.begin(ctx, card.Key(), reader)
	switch {
	case err != nil:
		return r, err
	case wait > 0:
		return r, &LockedOutError{Wait: wait}
	}
	ok, err := g.st.VerifyPIN(r.ID, pin)
	if errors.Is(err, store.ErrNotFound) {
		ok, err = false, nil // no PIN set: nothing matches
	}
	if err != nil {
		release(checkAborted)
		return r, fmt.Errorf("gate: check PIN of %s: %w", r.ID, err)
	}
	if !ok {
		release(checkFailed)
		return r, denial{"wrong PIN"}
	}
	release(checkPassed)
	if why != "" {
		return r, denial{why}
	}
	return r, nil
}

// Identify checks a card and its PIN shown at reader (the resident
// screen's), under the same lock-out as every other PIN, and returns the
// active resident who holds it. It opens nothing. A wrong PIN or an
// unknown card is ErrNotIdentified, a card locked out a *LockedOutError;
// the attempt is audited with the actor ("kiosk").
func (g *Gate) Identify(ctx context.Context, actor, reader string, card fallback.Card, pin string) (store.Resident, error) {
	r, err := g.check(ctx, reader, card, pin)
	var lo *LockedOutError
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &lo):
		g.audit(store.Event{Kind: store.KindAccess, Actor: actor, Subject: r.ID, Outcome: string(LockedOut), Detail: store.Detail("reader=" + reader + " reason=" + lockedOutReason(lo.Wait))})
	case errors.Is(err, errDenied):
		g.audit(store.Event{Kind: store.KindAccess, Actor: actor, Subject: r.ID, Outcome: string(Denied), Detail: store.Detail("reader=" + reader + " reason=" + denialReason(err))})
	}
	return store.Resident{}, err
}

func (g *Gate) pinTimeout() time.Duration {
	if g.cfg.CardTimeout > 0 {
		return g.cfg.CardTimeout
	}
	return 20 * time.Second
}
