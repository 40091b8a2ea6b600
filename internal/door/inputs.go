package door

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/warthog618/go-gpiocdev"
)

// Reading is what the door's inputs read at one moment (the gate's
// DoorState has the same fields). An input not configured, or not readable
// this time, has its Has* false.
type Reading struct {
	HasContact, Closed bool
	HasExit, Exit      bool
	HasTamper, Tamper  bool
}

// Inputs are the door's own inputs ([door] and [relay.contact]): the door
// contact, the exit button, the tamper switch, each a GPIO line or an input
// of a Modbus board, and the alarm output. It reads and switches; what the
// readings mean is the gate's. Safe for concurrent use.
type Inputs struct {
	contact, exit, tamper input
	board                 *relay.Modbus
	alarm                 func(on bool) error
	closers               []func() error
	log                   *slog.Logger

	mu      sync.Mutex
	failing map[string]bool // inputs whose last read failed, for logging once
}

// input reads one input as active or not.
type input func(r *boardRead) (bool, error)

// boardRead is one poll of the board per Read, shared by its inputs.
type boardRead struct {
	once sync.Once
	in   []bool
	err  error
}

// inputHW is what OpenInputs opens; tests give a fake GPIO chip and serial
// boards over pty pairs.
type inputHW struct {
	gpioIn  func(chip string, offset int, activeLow, pullUp bool) (relay.Input, error)
	gpioOut func(chip string, offset, value int, activeLow bool) (relay.Line, error)
}

// OpenInputs opens the inputs and the alarm output configured in cfg. The
// door contact of [relay.contact], which d already reads, is read through
// d. Nothing is opened when nothing is configured (Read then reads
// nothing). A GPIO line that cannot be requested is an error; a board that
// does not answer is not (it is polled again at every Read).
func OpenInputs(cfg config.Door, d *Door, log *slog.Logger) (*Inputs, error) {
	return openInputs(cfg, d, log, inputHW{})
}

func openInputs(cfg config.Door, d *Door, log *slog.Logger, h inputHW) (in *Inputs, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if h.gpioIn == nil {
		h.gpioIn = requestInput
	}
	in = &Inputs{log: log, failing: map[string]bool{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, in.Close())
			in = nil
		}
	}()
	if b := cfg.Board; b != nil {
		in.board, err = relay.NewModbus(relay.ModbusConfig{Path: b.Device, Baud: b.Baud, Address: byte(b.BoardAddress()), Inputs: max(cfg.BoardInputs(), 1), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("door: door.board: %w", err)
		}
		in.closers = append(in.closers, in.board.Close)
	}
	open := func(name string, c *config.DoorInput) (input, error) {
		if c == nil {
			return nil, nil
		}
		if c.OnBoard() {
			i, inv := c.Input-1, c.ActiveLow
			return func(r *boardRead) (bool, error) {
				r.once.Do(func() { r.in, r.err = in.board.Inputs() })
				if r.err != nil {
					return false, r.err
				}
				return r.in[i] != inv, nil
			}, nil
		}
		l, err := h.gpioIn(c.Chip, c.Line, c.ActiveLow, c.PullUp)
		if err != nil {
			return nil, fmt.Errorf("door: %s: request %s line %d: %w", name, c.Chip, c.Line, err)
		}
		in.closers = append(in.closers, l.Close)
		return func(*boardRead) (bool, error) {
			v, err := l.Value()
			return v == 1, err
		}, nil
	}
	if in.contact, err = open("door.contact", cfg.Contact); err != nil {
		return nil, err
	}
	if in.contact == nil && d != nil && d.contact != nil {
		in.contact = func(*boardRead) (bool, error) { return d.Closed() }
	}
	if in.exit, err = open("door.exit", cfg.Exit); err != nil {
		return nil, err
	}
	if in.tamper, err = open("door.tamper", cfg.Tamper); err != nil {
		return nil, err
	}
	if a := cfg.Alarm; a != nil {
		if a.Coil > 0 {
			coil := a.Coil - 1
			in.alarm = func(on bool) error { return in.board.SetCoil(coil, on) }
		} else {
			g, err := relay.OpenGPIO(relay.GPIOConfig{Chip: a.Chip, Line: a.Line, ActiveLow: a.ActiveLow, Request: h.gpioOut})
			if err != nil {
				return nil, fmt.Errorf("door: door.alarm: %w", err)
			}
			in.closers = append(in.closers, g.Close)
			in.alarm = func(on bool) error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return g.Set(ctx, on)
			}
		}
	}
	return in, nil
}

func requestInput(chip string, offset int, activeLow, pullUp bool) (relay.Input, error) {
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer("gated-door"), gpiocdev.AsInput}
	if activeLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	if pullUp {
		opts = append(opts, gpiocdev.WithPullUp)
	}
	return gpiocdev.RequestLine(chip, offset, opts...)
}

// Any reports whether any input is configured.
func (in *Inputs) Any() bool { return in.contact != nil || in.exit != nil || in.tamper != nil }

// HasAlarm reports whether an alarm output is configured.
func (in *Inputs) HasAlarm() bool { return in.alarm != nil }

// Read reads every input once (the board is polled once for all of its
// inputs). A failed read leaves that input out of the reading and is
// logged when it starts failing and when it reads again.
func (in *Inputs) Read() Reading {
	var r Reading
	var b boardRead
	r.HasContact, r.Closed = in.read("door contact", in.contact, &b)
	r.HasExit, r.Exit = in.read("exit button", in.exit, &b)
	r.HasTamper, r.Tamper = in.read("tamper input", in.tamper, &b)
	return r
}

func (in *Inputs) read(name string, f input, b *boardRead) (ok, active bool) {
	if f == nil {
		return false, false
	}
	v, err := f(b)
	in.mu.Lock()
	was := in.failing[name]
	in.failing[name] = err != nil
	in.mu.Unlock()
	switch {
	case err != nil && !was:
		in.log.Error("door: input cannot be read", "input", name, "err", err)
	case err == nil && was:
		in.log.Info("door: input reads again", "input", name)
	}
	return err == nil, v
}

// Unreadable names the inputs whose last read failed, sorted ("door
// contact", "exit button", "tamper input"); nil when every input read.
func (in *Inputs) Unreadable() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for name, failing := range in.failing {
		if failing {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Sound switches the alarm output; without one it does nothing.
func (in *Inputs) Sound(on bool) error {
	if in.alarm == nil {
		return nil
	}
	if err := in.alarm(on); err != nil {
		return fmt.Errorf("door: alarm output on=%v: %w", on, err)
	}
	return nil
}

// Close switches the alarm output off and releases the lines and the
// board.
func (in *Inputs) Close() error {
	var err error
	if in.alarm != nil {
		err = in.Sound(false)
	}
	for _, c := range in.closers {
		err = errors.Join(err, c())
	}
	in.closers = nil
	return err
}
