package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DoorConfig configures a Door.
type DoorConfig struct {
	// Pulse is how long the door stays unlocked; 3 s when 0.
	Pulse time.Duration
	// Contact, when set, lets the door lock as soon as it has been opened
	// and closed again, instead of waiting out the pulse.
	Contact Contact
	Logger  *slog.Logger // nil discards
}

// ErrNoContact: the door has no contact configured.
var ErrNoContact = errors.New("relay: no door contact configured")

// Door unlocks a door for a pulse through a Relay, one pulse at a time,
// or holds it unlocked (Hold, Release: a scheduled unlock window).
type Door struct {
	relay Relay
	cfg   DoorConfig
	log   *slog.Logger
	mu    sync.Mutex // one pulse at a time

	hmu     sync.Mutex // guards held and pulsing, and the writes that depend on them
	held    bool       // Hold: the door stays unlocked until Release or Halt
	pulsing bool       // a pulse has the relay open
}

// NewDoor returns a door on r.
func NewDoor(r Relay, cfg DoorConfig) (*Door, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: door needs a relay", ErrConfig)
	}
	if cfg.Pulse < 0 || cfg.Pulse > time.Minute {
		return nil, fmt.Errorf("%w: pulse %v: use 0 (3 s) to 1 min", ErrConfig, cfg.Pulse)
	}
	if cfg.Pulse == 0 {
		cfg.Pulse = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Door{relay: r, cfg: cfg, log: log}, nil
}

// contactPoll is how often the contact is read during a pulse.
const contactPoll = 50 * time.Millisecond

// Open unlocks the door for the pulse time and locks it again, returning
// when it is locked. Concurrent calls queue. It locks early when ctx is done
// or when the contact saw the door open and close again.
func (d *Door) Open(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.Contact == nil {
		return d.pulse(ctx)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(contactPoll)
		defer t.Stop()
		opened := false
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			closed, err := d.cfg.Contact.Closed()
			if err != nil {
				continue // the pulse ends on time anyway
			}
			if !closed {
				opened = true
			} else if opened {
				cancel() // opened and shut again: lock now
				return
			}
		}
	}()
	return d.pulse(pctx)
}

// pulse is Pulse, except that a pulse ending while the door is held leaves
// it unlocked: the hold's Release (or Halt) locks it.
func (d *Door) pulse(ctx context.Context) (err error) {
	d.hmu.Lock()
	d.pulsing = true
	d.hmu.Unlock()
	defer func() {
		d.hmu.Lock()
		defer d.hmu.Unlock()
		d.pulsing = false
		if d.held {
			return
		}
		if lerr := Lock(d.relay); lerr != nil {
			err = errors.Join(err, lerr)
		}
	}()
	if err := d.relay.Set(ctx, true); err != nil {
		return fmt.Errorf("relay: open: %w", err)
	}
	t := time.NewTimer(d.cfg.Pulse)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// Hold unlocks the door until Release or Halt: pulses that end meanwhile
// leave it unlocked. A failed unlock is locked again (it may have partly
// reached the board) and the door is not held.
func (d *Door) Hold(ctx context.Context) error {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if err := d.relay.Set(ctx, true); err != nil {
		if !d.pulsing {
			err = errors.Join(err, Lock(d.relay))
		}
		return fmt.Errorf("relay: hold open: %w", err)
	}
	d.held = true
	return nil
}

// Release ends a hold: the door locks now, or, while a pulse runs, at the
// pulse's own end. A lock that fails after retries returns ErrNotLocked.
func (d *Door) Release() error {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	d.held = false
	if d.pulsing {
		return nil
	}
	return Lock(d.relay)
}

// Held reports whether the door is held unlocked.
func (d *Door) Held() bool {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	return d.held
}

// Closed reads the door contact.
func (d *Door) Closed() (bool, error) {
	if d.cfg.Contact == nil {
		return false, ErrNoContact
	}
	return d.cfg.Contact.Closed()
}

// Halt ends any hold and locks the door now (it does not wait for a pulse
// in progress, whose own lock follows).
func (d *Door) Halt() error {
	d.hmu.Lock()
	d.held = false
	d.hmu.Unlock()
	return d.relay.Halt()
}
