package relay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Relay is a door lock output.
type Relay interface {
	// Set opens (true) or locks (false) the door.
	Set(ctx context.Context, open bool) error
	// Halt locks the door; it must work even after ctx-bound calls were
	// cancelled, and is what shutdown always reaches.
	Halt() error
}

// StateReader is a Relay whose hardware can say which state it is in, to
// confirm a lock. GPIO implements it (an output line reads back its level).
// Serial does not: the LCUS boards and the byte-command boards it drives
// send nothing back, so a lock sent to them is delivered, not confirmed.
type StateReader interface {
	// Locked reports whether the relay is in its locked state now.
	Locked() (bool, error)
}

// Mode says which relay state locks the door.
type Mode uint8

const (
	// FailSecure: relay off = locked (electric strikes, bolts). Default.
	FailSecure Mode = iota
	// FailSafe: relay on = locked (maglocks that must release on power loss).
	FailSafe
)

func (m Mode) String() string {
	if m == FailSafe {
		return "fail-safe"
	}
	return "fail-secure"
}

// ParseMode parses "fail-secure" (or "") and "fail-safe".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "fail-secure":
		return FailSecure, nil
	case "fail-safe":
		return FailSafe, nil
	}
	return 0, fmt.Errorf("%w: mode %q: use fail-secure or fail-safe", ErrConfig, s)
}

// energized returns the relay coil state that puts the door in state open.
func (m Mode) energized(open bool) bool {
	if m == FailSafe {
		return !open
	}
	return open
}

// Errors callers branch on.
var (
	// ErrConfig: a relay's configuration is invalid.
	ErrConfig = errors.New("relay: bad configuration")
	// ErrNotLocked: the lock command could not be delivered after retries;
	// the door may be open. Raise an alarm.
	ErrNotLocked = errors.New("relay: door may be open: lock failed")
	// ErrNoReadback: this relay cannot report its state (StateReader).
	ErrNoReadback = errors.New("relay: this relay cannot report its state")
)

// Lock timing used by Pulse and Halt implementations.
const (
	lockAttempts = 3
	lockTimeout  = 2 * time.Second
	lockRetry    = 50 * time.Millisecond
)

// Lock locks r, retrying with fresh contexts (it ignores any caller's
// cancellation: a door must not stay open because a request was cancelled).
// It returns ErrNotLocked wrapping the last error when every attempt failed.
func Lock(r Relay) error {
	var err error
	for i := range lockAttempts {
		if i > 0 {
			time.Sleep(lockRetry << (i - 1))
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
		err = r.Set(ctx, false)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %d attempts: %w", ErrNotLocked, lockAttempts, err)
}

// Pulse opens r for d, then locks it. The lock happens however Pulse ends:
// after d, when ctx is done (early), or when the open write fails (it may
// have partly reached the board). A lock that fails after retries returns
// ErrNotLocked.
func Pulse(ctx context.Context, r Relay, d time.Duration) (err error) {
	defer func() {
		if lerr := Lock(r); lerr != nil {
			err = errors.Join(err, lerr)
		}
	}()
	if err := r.Set(ctx, true); err != nil {
		return fmt.Errorf("relay: open: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
