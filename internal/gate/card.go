package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// Reader takes one event from a card reader or keypad. It returns the
// decision made, or nil for events that decide nothing (key presses).
func (g *Gate) Reader(ctx context.Context, ev fallback.Event) (*Decision, error) {
	switch ev.Kind {
	case fallback.KindCard:
		return g.card(ctx, ev)
	case fallback.KindPIN:
		return g.pin(ctx, ev)
	}
	return nil, nil
}

// resident looks a card up; a card of nobody, or of a resident who may not
// enter, gives a denial reason.
func (g *Gate) resident(card fallback.Card) (store.Resident, string, error) {
	id, err := g.st.LookupCard(card.Key())
	if errors.Is(err, store.ErrNotFound) {
		return store.Resident{}, "unknown card", nil
	}
	if err != nil {
		return store.Resident{}, "", fmt.Errorf("gate: look up card: %w", err)
	}
	r, err := g.st.Resident(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Resident{}, "unknown card", nil
	}
	if err != nil {
		return store.Resident{}, "", fmt.Errorf("gate: resident %s: %w", id, err)
	}
	if r.Status != store.StatusActive {
		return r, "resident is " + r.Status.String(), nil
	}
	return r, "", nil
}

func (g *Gate) card(ctx context.Context, ev fallback.Event) (*Decision, error) {
	r, why, err := g.resident(ev.Card)
	if err != nil {
		return nil, err
	}
	d := Decision{Method: MethodCard, Reader: ev.Reader, Resident: r.ID, Name: r.Name}
	switch {
	case why != "":
		d.Outcome, d.Reason = Denied, why
		if g.cfg.CardNeedsPIN {
			d.Method = MethodCardPIN
		}
	case g.cfg.CardNeedsPIN:
		// Remember the card for the PIN that follows.
		if _, err := g.auth.Handle(ctx, ev); err != nil {
			return nil, err
		}
		d.Method, d.Outcome, d.Reason = MethodCardPIN, NeedPIN, "enter your PIN and press #"
		g.mu.Lock()
		if g.mode == FaceVerify {
			// The holder's face may confirm the card instead of the PIN.
			g.pending = &pendingCard{resident: r.ID, name: r.Name, reader: ev.Reader, card: ev.Card, until: g.cfg.Now().Add(g.pinTimeout())}
			d.Reason = "look at the camera, or enter your PIN and press #"
		}
		g.mu.Unlock()
	default:
		d.Outcome = Granted
	}
	out := g.decide(d)
	return &out, nil
}

func (g *Gate) pin(ctx context.Context, ev fallback.Event) (*Decision, error) {
	if !g.cfg.CardNeedsPIN {
		out := g.decide(Decision{Method: MethodCardPIN, Reader: ev.Reader, Outcome: Denied, Reason: "PINs are not used at this gate: show your card"})
		return &out, nil
	}
	a, err := g.auth.Handle(ctx, ev)
	if err != nil {
		return nil, err
	}
	d := Decision{Method: MethodCardPIN, Reader: a.Reader}
	switch a.Outcome {
	case fallback.OutcomeGranted:
		r, why, err := g.resident(a.Card)
		if err != nil {
			return nil, err
		}
		d.Resident, d.Name = r.ID, r.Name
		if why != "" {
			d.Outcome, d.Reason = Denied, why
		} else {
			d.Outcome = Granted
		}
	case fallback.OutcomeLockedOut:
		d.Outcome, d.Wait = LockedOut, a.Wait
		d.Reason = fmt.Sprintf("too many wrong PINs: try again in %s", a.Wait.Round(1e9))
	default:
		d.Outcome, d.Reason = Denied, a.Reason
	}
	if d.Resident == "" && a.Card.Number != "" {
		// Name the card's holder in the record of a wrong or locked-out PIN.
		if r, _, err := g.resident(a.Card); err == nil {
			d.Resident, d.Name = r.ID, r.Name
		}
	}
	out := g.decide(d)
	return &out, nil
}

// CheckPIN verifies a PIN for the resident holding a card, for the
// fallback Authenticator. An unknown card or a resident without a PIN never
// matches.
func (g *Gate) CheckPIN(ctx context.Context, card fallback.Card, pin string) (bool, error) {
	id, err := g.st.LookupCard(card.Key())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok, err := g.st.VerifyPIN(id, pin)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return ok, err
}

func (g *Gate) pinTimeout() time.Duration {
	if g.cfg.CardTimeout > 0 {
		return g.cfg.CardTimeout
	}
	return 20 * time.Second
}
