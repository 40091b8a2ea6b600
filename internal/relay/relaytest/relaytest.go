// Package relaytest has fakes for the hardware behind package relay that
// cannot exist on a build machine: a GPIO line and chip (no gpiochip, and no
// gpio-sim or gpio-mockup module, in CI) and a whole Relay for the daemon's
// tests.
// Serial relay boards need no fake: test them over serialtest pty pairs.
//
// It records what was asked of the hardware and can be told to fail. It must
// never be imported outside tests.
package relaytest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/relay"
)

// ErrInjected is returned by a fake told to fail.
var ErrInjected = errors.New("relaytest: injected failure")

// Line is a fake GPIO line: it implements relay.Line and relay.Input.
type Line struct {
	mu     sync.Mutex
	value  int
	values []int
	fail   int
	stuck  bool
	closed bool
}

// NewLine returns a line at value v.
func NewLine(v int) *Line { return &Line{value: v} }

// SetValue records v, unless a failure is pending.
func (l *Line) SetValue(v int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 {
		l.fail--
		return ErrInjected
	}
	if !l.stuck {
		l.value = v
	}
	l.values = append(l.values, v)
	return nil
}

// Stick holds the line at v whatever is set (a shorted output, a welded
// relay contact seen through a feedback line): Value reads v from now on.
func (l *Line) Stick(v int) {
	l.mu.Lock()
	l.value, l.stuck = v, true
	l.mu.Unlock()
}

// Value returns the line's value.
func (l *Line) Value() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value, nil
}

// Set forces the value seen by Value (an input changing level).
func (l *Line) Set(v int) {
	l.mu.Lock()
	l.value = v
	l.mu.Unlock()
}

// FailNext makes the next n SetValue calls fail.
func (l *Line) FailNext(n int) {
	l.mu.Lock()
	l.fail = n
	l.mu.Unlock()
}

// Values returns every value set, in order.
func (l *Line) Values() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.values...)
}

// Close marks the line released.
func (l *Line) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return nil
}

// Closed reports whether Close was called.
func (l *Line) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Request is how a line was requested from a Chip.
type Request struct {
	Chip      string
	Offset    int
	Value     int // the value it was driven to from the first instant
	ActiveLow bool
}

// Chip is a fake GPIO chip: its Request method stands in for the kernel's
// (relay.GPIOConfig.Request) and hands out Lines.
type Chip struct {
	mu       sync.Mutex
	fail     int
	requests []Request
	lines    map[int]*Line
}

// Request requests line offset, driven to value, unless a failure is
// pending. Requesting a line again returns the same Line.
func (c *Chip) Request(chip string, offset, value int, activeLow bool) (relay.Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return nil, ErrInjected
	}
	c.requests = append(c.requests, Request{chip, offset, value, activeLow})
	if c.lines == nil {
		c.lines = map[int]*Line{}
	}
	l, ok := c.lines[offset]
	if !ok {
		l = NewLine(value)
		c.lines[offset] = l
	}
	l.mu.Lock()
	if !l.stuck {
		l.value = value
	}
	l.closed = false
	l.mu.Unlock()
	return l, nil
}

// FailNext makes the next n requests fail (a chip not there yet).
func (c *Chip) FailNext(n int) { c.mu.Lock(); c.fail = n; c.mu.Unlock() }

// Requests returns every successful request, in order.
func (c *Chip) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Line returns the line at offset, creating it at value 0: a test may
// Stick it before the relay requests it.
func (c *Chip) Line(offset int) *Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lines == nil {
		c.lines = map[int]*Line{}
	}
	l, ok := c.lines[offset]
	if !ok {
		l = NewLine(0)
		c.lines[offset] = l
	}
	return l
}

// Op is one call recorded by Relay.
type Op struct {
	Open bool
	Time time.Time
	Err  error
}

// Relay is a fake relay.Relay that records every Set and Halt.
type Relay struct {
	mu       sync.Mutex
	open     bool
	ops      []Op
	failOpen int
	failLock int
}

// Set records the call; an injected failure leaves the state unchanged.
func (r *Relay) Set(ctx context.Context, open bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case open && r.failOpen > 0:
		r.failOpen--
		err = ErrInjected
	case !open && r.failLock > 0:
		r.failLock--
		err = ErrInjected
	default:
		r.open = open
	}
	r.ops = append(r.ops, Op{Open: open, Time: time.Now(), Err: err})
	return err
}

// Halt locks.
func (r *Relay) Halt() error { return r.Set(context.Background(), false) }

// FailOpens makes the next n opens fail; FailLocks the next n locks.
func (r *Relay) FailOpens(n int) { r.mu.Lock(); r.failOpen = n; r.mu.Unlock() }

// FailLocks makes the next n lock calls fail.
func (r *Relay) FailLocks(n int) { r.mu.Lock(); r.failLock = n; r.mu.Unlock() }

// Open reports the current state.
func (r *Relay) Open() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.open }

// Ops returns every recorded call.
func (r *Relay) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}
