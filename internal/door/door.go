// Package door turns the configured relay ([relay] of gated.toml) into the
// gate's door: it opens the serial relay board or the GPIO line, commands it
// locked before anything else can happen, reads the state back where the
// hardware can say, and hands out a Door that pulses, halts and closes it.
// LockNow does the same lock on its own, for gated-lock, which systemd
// runs before every start and after every stop of the daemon, a crash
// included, and `gated relay lock`, the same by hand: it needs no store, no
// key and no models.
//
// It owns the order "lock first": no Door leaves Open before the lock
// command was sent (the previous process may have died mid-pulse, and a
// latching board stays where it was left; see package relay). It must never
// decide who may enter, never open the door except through Door.Open (a
// pulse) and Door.Hold (a scheduled unlock window, which the gate ends with
// Door.Release; Close ends it too), and never read more of the
// configuration than [relay].
package door

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/relay"
)

// NotLockedError says the relay could not be locked, or a read-back showed
// it is not locked, when the door was opened or locked on its own: the
// door may be open. It wraps relay.ErrNotLocked.
type NotLockedError struct {
	Relay string // the relay, as Door.String names it
	Err   error
}

func (e *NotLockedError) Error() string {
	return fmt.Sprintf("door: %s: NOT CONFIRMED LOCKED: %v", e.Relay, e.Err)
}

func (e *NotLockedError) Unwrap() error { return e.Err }

// ErrClosed: the door was closed.
var ErrClosed = errors.New("door: closed")

// Report says what a lock did, for people: which relay, what was sent, and
// whether the hardware confirmed it.
type Report struct {
	Relay    string // "lcus board /dev/gate-relay channel 1, fail-secure"
	Sent     string // "A0 01 00 A1", or "line value 0"
	Verified bool   // the hardware read back the locked state
	Readback string // what the read-back showed, or why there is none
}

func (r Report) String() string {
	return fmt.Sprintf("%s: sent %s; %s", r.Relay, r.Sent, r.Readback)
}

// Door is the gate's door on the configured relay. Safe for concurrent use.
type Door struct {
	hw      *hw
	door    *relay.Door
	contact *relay.GPIOContact // nil: none configured, or it could not be opened
	noCont  error              // why a configured contact is missing
	log     *slog.Logger
	stop    context.CancelFunc // ends pulses in progress (Close)
	stopped context.Context

	mu     sync.RWMutex // held for reading by each pulse, for writing by Close
	closed bool
	pulse  sync.Mutex // one pulse at a time; a queued one checks stopped first
}

// Open opens the relay named by cfg and commands it locked, retrying as
// relay.Lock does, before it returns; where the driver can (GPIO), it reads
// the state back. A relay that cannot be locked now is not fatal: Open
// returns the door together with a *NotLockedError, so that the daemon
// raises the alarm and keeps serving (a serial port is opened again, and a
// GPIO line requested again, on the next pulse). A door contact that cannot
// be opened is logged, and the door relocks at the end of each pulse
// instead. Only a bad configuration is an error without a door.
func Open(cfg config.Relay, log *slog.Logger) (*Door, error) {
	return open(cfg, log, hardware{})
}

// LockNow opens the relay named by cfg, commands it locked, reads it back
// where the driver can, and closes it. Nothing else is opened. A GPIO line
// is released on return, after which its driver decides its level: there
// the wiring must hold the lock (see package relay).
func LockNow(cfg config.Relay, log *slog.Logger) (Report, error) {
	return lockNow(cfg, log, hardware{})
}

// hardware is what the package opens; the zero value is the real thing.
// Tests give a fake GPIO chip (no GPIO chip exists on a build machine);
// serial boards are tested over pty pairs.
type hardware struct {
	request func(chip string, offset, value int, activeLow bool) (relay.Line, error)
}

func open(cfg config.Relay, log *slog.Logger, h hardware) (*Door, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := newHW(cfg, log, h)
	if err != nil {
		return nil, err
	}
	rep, lockErr := r.lock()
	d := &Door{hw: r, log: log}
	d.stopped, d.stop = context.WithCancel(context.Background())
	if cfg.Contact != nil {
		c, err := relay.OpenGPIOContact(relay.ContactConfig{Chip: cfg.Contact.Chip, Line: cfg.Contact.Line, ActiveLow: cfg.Contact.ActiveLow, PullUp: cfg.Contact.PullUp})
		if err != nil {
			d.noCont = fmt.Errorf("door: relay.contact: %w", err)
			log.Error("door: the door contact cannot be read: the door relocks at the end of each pulse", "err", err)
		} else {
			d.contact = c
		}
	}
	dc := relay.DoorConfig{Pulse: cfg.Pulse.Duration, Logger: log}
	if d.contact != nil {
		dc.Contact = d.contact
	}
	if d.door, err = relay.NewDoor(r.relay, dc); err != nil {
		return nil, errors.Join(fmt.Errorf("door: %w", err), d.closeHW())
	}
	if lockErr != nil {
		log.Error("door: DOOR NOT CONFIRMED LOCKED at start", "relay", rep.Relay, "sent", rep.Sent, "err", lockErr)
		return d, lockErr
	}
	log.Info("door: locked at start", "relay", rep.Relay, "sent", rep.Sent, "readback", rep.Readback)
	return d, nil
}

func lockNow(cfg config.Relay, log *slog.Logger, h hardware) (Report, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := newHW(cfg, log, h)
	if err != nil {
		return Report{}, err
	}
	rep, err := r.lock()
	if cerr := r.close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("door: %s: close: %w", r.name, cerr))
	}
	return rep, err
}

// String names the relay: type, device or line, and mode.
func (d *Door) String() string { return d.hw.name }

// Open unlocks the door for the configured pulse and returns once it is
// locked again (see relay.Door.Open). Close ends it early.
func (d *Door) Open(ctx context.Context) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	d.pulse.Lock()
	defer d.pulse.Unlock()
	if d.stopped.Err() != nil {
		return ErrClosed // queued behind a pulse that Close ended
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.stopped, cancel)()
	return d.door.Open(ctx)
}

// Hold unlocks the door until Release (a scheduled unlock window): pulses
// that end meanwhile leave it unlocked. See relay.Door.Hold.
func (d *Door) Hold(ctx context.Context) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	return d.door.Hold(ctx)
}

// Release ends a hold: the door locks now (retried as relay.Lock does),
// or at the end of a pulse in progress; a *NotLockedError says it may be
// open.
func (d *Door) Release() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil // Close locked it
	}
	if err := d.door.Release(); err != nil {
		return &NotLockedError{Relay: d.hw.name, Err: err}
	}
	return nil
}

// Halt ends any hold and locks the door now, retrying, and reads it back
// where the hardware can; a *NotLockedError says it may be open.
func (d *Door) Halt() error {
	if d.door.Held() {
		d.door.Halt() // ends the hold; the lock below retries and reads back
	}
	_, err := d.hw.lock()
	return err
}

// Close ends any pulse in progress (it locks early), locks the door (Halt),
// then closes the relay's port or line and the contact. A closed door does
// not open again.
func (d *Door) Close() error {
	d.stop()
	d.mu.Lock() // the pulses have locked and returned
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	return errors.Join(d.Halt(), d.closeHW())
}

func (d *Door) closeHW() error {
	err := d.hw.close()
	if d.contact != nil {
		err = errors.Join(err, d.contact.Close())
	}
	return err
}

// Closed reads the door contact: true when the door is shut.
func (d *Door) Closed() (bool, error) {
	if d.noCont != nil {
		return false, d.noCont
	}
	return d.door.Closed()
}

// hw is one opened relay and how to lock, read back and close it.
type hw struct {
	name  string // for people and errors
	relay relay.Relay
	sent  string // the lock command, for people
	close func() error
}

func newHW(cfg config.Relay, log *slog.Logger, h hardware) (*hw, error) {
	mode, err := relay.ParseMode(cfg.Mode)
	if err != nil {
		return nil, fmt.Errorf("door: relay.mode: %w", err)
	}
	switch cfg.Type {
	case "lcus", "bytes":
		var cmds relay.Commands
		name := fmt.Sprintf("%s board %s", cfg.Type, cfg.Device)
		if cfg.Type == "lcus" {
			cmds, err = relay.LCUS(cfg.Channel)
			name += fmt.Sprintf(" channel %d", cfg.Channel)
		} else {
			cmds, err = relay.ParseCommands(cfg.On, cfg.Off)
		}
		if err != nil {
			return nil, fmt.Errorf("door: relay: %w", err)
		}
		s, err := relay.NewSerial(relay.SerialConfig{Path: cfg.Device, Baud: cfg.Baud, Commands: cmds, Mode: mode, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("door: relay: %w", err)
		}
		lock := cmds.Off
		if mode == relay.FailSafe {
			lock = cmds.On
		}
		return &hw{name: name + ", " + mode.String(), relay: s, sent: fmt.Sprintf("% X", lock), close: s.Close}, nil
	case "gpio":
		g, err := relay.RequestGPIO(relay.GPIOConfig{Chip: cfg.Chip, Line: cfg.Line, ActiveLow: cfg.ActiveLow, Mode: mode, Request: h.request})
		if err != nil {
			return nil, fmt.Errorf("door: relay: %w", err)
		}
		locked := 0
		if mode == relay.FailSafe {
			locked = 1
		}
		al := ""
		if cfg.ActiveLow {
			al = " active-low"
		}
		return &hw{name: fmt.Sprintf("gpio %s line %d%s, %s", cfg.Chip, cfg.Line, al, mode), relay: g,
			sent: fmt.Sprintf("line value %d", locked), close: g.Close}, nil
	}
	return nil, fmt.Errorf("door: %w: relay.type %q: use lcus, bytes or gpio", relay.ErrConfig, cfg.Type)
}

// lock commands the relay locked (relay.Lock: retried, whatever any caller's
// context) and reads it back where the driver can.
func (h *hw) lock() (Report, error) {
	rep := Report{Relay: h.name, Sent: h.sent}
	if err := relay.Lock(h.relay); err != nil {
		rep.Readback = "not sent"
		return rep, &NotLockedError{Relay: h.name, Err: err}
	}
	sr, ok := h.relay.(relay.StateReader)
	if !ok {
		rep.Readback = "not read back: the board cannot report its state"
		return rep, nil
	}
	locked, err := sr.Locked()
	switch {
	case errors.Is(err, relay.ErrNoReadback):
		rep.Readback = "not read back: the line cannot report its state"
		return rep, nil
	case err != nil:
		rep.Readback = "read-back failed"
		return rep, &NotLockedError{Relay: h.name, Err: fmt.Errorf("%w: %w", relay.ErrNotLocked, err)}
	case !locked:
		rep.Readback = "read back OPEN"
		return rep, &NotLockedError{Relay: h.name, Err: fmt.Errorf("%w: the lock was sent but the line reads back open (a short, or another driver holds it)", relay.ErrNotLocked)}
	}
	rep.Verified = true
	rep.Readback = "read back: locked"
	return rep, nil
}
