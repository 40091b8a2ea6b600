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

// Door unlocks a door for a pulse through a Relay, one pulse at a time.
type Door struct {
	relay Relay
	cfg   DoorConfig
	log   *slog.Logger
	mu    sync.Mutex
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
		return Pulse(ctx, d.relay, d.cfg.Pulse)
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
	return Pulse(pctx, d.relay, d.cfg.Pulse)
}

// Closed reads the door contact.
func (d *Door) Closed() (bool, error) {
	if d.cfg.Contact == nil {
		return false, ErrNoContact
	}
	return d.cfg.Contact.Closed()
}

// Halt locks the door now (it does not wait for a pulse in progress, whose
// own lock follows).
func (d *Door) Halt() error { return d.relay.Halt() }
