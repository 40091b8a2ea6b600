package relay

import (
	"context"
	"fmt"
	"sync"

	"github.com/warthog618/go-gpiocdev"
)

// Line is a GPIO output line; value 1 is active (relay coil on), after any
// active-low inversion done when the line was requested.
type Line interface {
	SetValue(value int) error
	Close() error
}

// GPIO drives a relay from a GPIO line. Safe for concurrent use.
type GPIO struct {
	mode Mode
	mu   sync.Mutex
	line Line
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
}

// OpenGPIO requests the line as an output, set to the locked state from the
// first instant, so requesting it never opens the door.
func OpenGPIO(cfg GPIOConfig) (*GPIO, error) {
	if cfg.Chip == "" || cfg.Line < 0 {
		return nil, fmt.Errorf("%w: gpio relay needs a chip and a line", ErrConfig)
	}
	locked := 0
	if cfg.Mode.energized(false) {
		locked = 1
	}
	opts := []gpiocdev.LineReqOption{gpiocdev.WithConsumer("gated-relay"), gpiocdev.AsOutput(locked)}
	if cfg.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	l, err := gpiocdev.RequestLine(cfg.Chip, cfg.Line, opts...)
	if err != nil {
		return nil, fmt.Errorf("relay: request %s line %d: %w", cfg.Chip, cfg.Line, err)
	}
	return NewGPIO(l, cfg.Mode), nil
}

// Set drives the line to open or lock the door.
func (g *GPIO) Set(ctx context.Context, open bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("relay gpio: %w", err)
	}
	v := 0
	if g.mode.energized(open) {
		v = 1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.line.SetValue(v); err != nil {
		return fmt.Errorf("relay gpio: set open=%v: %w", open, err)
	}
	return nil
}

// Halt locks the door, retrying; see Lock.
func (g *GPIO) Halt() error { return Lock(g) }

// Close releases the line. The kernel leaves a released line as it was on
// most drivers; call Halt first.
func (g *GPIO) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.line.Close()
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
