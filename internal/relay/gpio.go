package relay

import (
	"context"
	"fmt"
	"sync"

	"github.com/warthog618/go-gpiocdev"
)

// Line is a GPIO output line; value 1 is active (relay coil on), after any
// active-low inversion done when the line was requested. A line that also
// has Value() (int, error), as the kernel's lines do, can be read back (see
// StateReader).
type Line interface {
	SetValue(value int) error
	Close() error
}

// valuer is a line that can say which value it is at.
type valuer interface {
	Value() (int, error)
}

// GPIO drives a relay from a GPIO line. Safe for concurrent use.
type GPIO struct {
	mode    Mode
	request func() (Line, error) // nil: the line was given, not requested
	mu      sync.Mutex
	line    Line
}

// NewGPIO returns a relay on an output line already requested. Prefer
// OpenGPIO; this is for lines requested elsewhere and for tests.
func NewGPIO(l Line, mode Mode) *GPIO { return &GPIO{line: l, mode: mode} }

// GPIOConfig names a relay's GPIO line.
type GPIOConfig struct {
	Chip      string // "gpiochip0" or "/dev/gpiochip0"
	Line      int    // line offset on the chip
	ActiveLow bool   // the relay board switches on a low level
	Mode      Mode
	// Request requests the line as an output driven to value from the
	// first instant (value after any active-low inversion). Nil requests
	// it from the kernel's GPIO character device (go-gpiocdev, uAPI v2).
	Request func(chip string, offset, value int, activeLow bool) (Line, error)
}

// RequestGPIO checks cfg and returns a relay whose line is requested on its
// first Set, as an output already in the locked state, so requesting it
// never opens the door. A request that fails is tried again on the next Set
// (a GPIO driver that loads late), as Serial reopens its port. Only a bad
// configuration is an error.
func RequestGPIO(cfg GPIOConfig) (*GPIO, error) {
	if cfg.Chip == "" || cfg.Line < 0 {
		return nil, fmt.Errorf("%w: gpio relay needs a chip and a line", ErrConfig)
	}
	req := cfg.Request
	if req == nil {
		req = requestLine
	}
	g := &GPIO{mode: cfg.Mode}
	g.request = func() (Line, error) {
		l, err := req(cfg.Chip, cfg.Line, g.value(false), cfg.ActiveLow)
		if err != nil {
			return nil, fmt.Errorf("relay: request %s line %d: %w", cfg.Chip, cfg.Line, err)
		}
		return l, nil
	}
	return g, nil
}

// OpenGPIO requests the line now, as an output set to the locked state from
// the first instant, so requesting it never opens the door.
func OpenGPIO(cfg GPIOConfig) (*GPIO, error) {
	g, err := RequestGPIO(cfg)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.ensureLine(); err != nil {
		return nil, err
	}
	return g, nil
}

func requestLine(chip string, offset, value int, activeLow bool) (Line, error) {
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer("gated-relay"), gpiocdev.AsOutput(value)}
	if activeLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	return gpiocdev.RequestLine(chip, offset, opts...)
}

// value is the line value that puts the door in state open.
func (g *GPIO) value(open bool) int {
	if g.mode.energized(open) {
		return 1
	}
	return 0
}

// ensureLine requests the line if it is not held; g.mu is held.
func (g *GPIO) ensureLine() error {
	if g.line != nil {
		return nil
	}
	if g.request == nil {
		return fmt.Errorf("relay gpio: the line was closed")
	}
	l, err := g.request()
	if err != nil {
		return err
	}
	g.line = l
	return nil
}

// Set drives the line to open or lock the door.
func (g *GPIO) Set(ctx context.Context, open bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("relay gpio: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.ensureLine(); err != nil {
		return err
	}
	if err := g.line.SetValue(g.value(open)); err != nil {
		return fmt.Errorf("relay gpio: set open=%v: %w", open, err)
	}
	return nil
}

// Locked reads the line back: true when it is at the locked value. The
// kernel reads an output line's level from the GPIO controller, so a line
// held at another level (a short, another driver) shows here. A line that
// cannot be read back gives ErrNoReadback.
func (g *GPIO) Locked() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.line == nil {
		return false, fmt.Errorf("relay gpio: read back: the line is not requested")
	}
	v, ok := g.line.(valuer)
	if !ok {
		return false, ErrNoReadback
	}
	val, err := v.Value()
	if err != nil {
		return false, fmt.Errorf("relay gpio: read back: %w", err)
	}
	return val == g.value(false), nil
}

// Halt locks the door, retrying; see Lock.
func (g *GPIO) Halt() error { return Lock(g) }

// Close releases the line. After release the kernel leaves the line in a
// state its driver defines (often as it was, sometimes an input with its
// default pull): call Halt first, and wire the relay so that an undriven
// line locks (see the package doc).
func (g *GPIO) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.line == nil {
		return nil
	}
	err := g.line.Close()
	g.line = nil
	g.request = nil // a closed relay stays closed
	return err
}

// Input is a GPIO input line; value 1 is active after any inversion.
type Input interface {
	Value() (int, error)
	Close() error
}

// Contact reports whether the door is closed.
type Contact interface {
	Closed() (bool, error)
}

// GPIOContact is a door contact on a GPIO input: active means closed.
type GPIOContact struct {
	in Input
}

// NewGPIOContact returns a contact on an input already requested.
func NewGPIOContact(in Input) *GPIOContact { return &GPIOContact{in: in} }

// ContactConfig names a door contact's GPIO line.
type ContactConfig struct {
	Chip      string
	Line      int
	ActiveLow bool // the contact pulls the line low when the door is closed
	PullUp    bool // enable the internal pull-up (contacts switching to ground)
}

// OpenGPIOContact requests the contact line as an input.
func OpenGPIOContact(cfg ContactConfig) (*GPIOContact, error) {
	if cfg.Chip == "" || cfg.Line < 0 {
		return nil, fmt.Errorf("%w: door contact needs a chip and a line", ErrConfig)
	}
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer("gated-door"), gpiocdev.AsInput}
	if cfg.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	if cfg.PullUp {
		opts = append(opts, gpiocdev.WithPullUp)
	}
	l, err := gpiocdev.RequestLine(cfg.Chip, cfg.Line, opts...)
	if err != nil {
		return nil, fmt.Errorf("relay: request door contact %s line %d: %w", cfg.Chip, cfg.Line, err)
	}
	return NewGPIOContact(l), nil
}

// Closed reads the contact.
func (c *GPIOContact) Closed() (bool, error) {
	v, err := c.in.Value()
	if err != nil {
		return false, fmt.Errorf("relay: read door contact: %w", err)
	}
	return v == 1, nil
}

// Close releases the line.
func (c *GPIOContact) Close() error { return c.in.Close() }
