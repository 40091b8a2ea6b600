// Package relaytest has fakes for the hardware behind package relay that
// cannot exist on a build machine: a GPIO line (no gpiochip, and no gpio-sim
// or gpio-mockup module, in CI) and a whole Relay for the daemon's tests.
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
)

// ErrInjected is returned by a fake told to fail.
var ErrInjected = errors.New("relaytest: injected failure")

// Line is a fake GPIO line: it implements relay.Line and relay.Input.
type Line struct {
	mu     sync.Mutex
	value  int
	values []int
	fail   int
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
	l.value = v
	l.values = append(l.values, v)
	return nil
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
