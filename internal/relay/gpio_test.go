package relay_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

func TestGPIOModes(t *testing.T) {
	tests := []struct {
		mode       relay.Mode
		wantValues []int // after open, lock, Halt
	}{
		{relay.FailSecure, []int{1, 0, 0}},
		{relay.FailSafe, []int{0, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			l := relaytest.NewLine(0)
			g := relay.NewGPIO(l, tt.mode)
			ctx := context.Background()
			if err := g.Set(ctx, true); err != nil {
				t.Fatal(err)
			}
			if err := g.Set(ctx, false); err != nil {
				t.Fatal(err)
			}
			if err := g.Halt(); err != nil {
				t.Fatal(err)
			}
			if got := l.Values(); !slices.Equal(got, tt.wantValues) {
				t.Errorf("line values = %v, want %v", got, tt.wantValues)
			}
			if err := g.Close(); err != nil || !l.Closed() {
				t.Errorf("Close() = %v, closed %v", err, l.Closed())
			}
		})
	}
}

func TestGPIOPulseRetriesLock(t *testing.T) {
	l := relaytest.NewLine(0)
	g := relay.NewGPIO(l, relay.FailSecure)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // cancelled before the pulse: nothing opens, the lock still goes out
	err := relay.Pulse(ctx, g, time.Second)
	if err == nil {
		t.Fatalf("Pulse with a cancelled context opened")
	}
	if got := l.Values(); !slices.Equal(got, []int{0}) {
		t.Errorf("values = %v, want [0]", got)
	}
	l.FailNext(2)
	if err := g.Halt(); err != nil {
		t.Errorf("Halt with two failures: %v", err)
	}
	l.FailNext(5)
	if err := g.Halt(); !errors.Is(err, relay.ErrNotLocked) {
		t.Errorf("Halt with endless failures = %v, want ErrNotLocked", err)
	}
}

func TestOpenGPIONoChip(t *testing.T) {
	// No gpiochip exists on a build machine, and gpio-sim cannot be loaded
	// there: requesting a line must fail cleanly, never panic.
	_, err := relay.OpenGPIO(relay.GPIOConfig{Chip: "/nonexistent/gpiochip9", Line: 3})
	if err == nil {
		t.Fatal("OpenGPIO on a missing chip succeeded")
	}
	if _, err := relay.OpenGPIO(relay.GPIOConfig{}); !errors.Is(err, relay.ErrConfig) {
		t.Errorf("OpenGPIO(zero config) = %v, want ErrConfig", err)
	}
	if _, err := relay.OpenGPIOContact(relay.ContactConfig{Chip: "/nonexistent/gpiochip9"}); err == nil {
		t.Error("OpenGPIOContact on a missing chip succeeded")
	}
}

func TestDoorContactLocksEarly(t *testing.T) {
	contactLine := relaytest.NewLine(1) // closed
	r := &relaytest.Relay{}
	d, err := relay.NewDoor(r, relay.DoorConfig{Pulse: 5 * time.Second, Contact: relay.NewGPIOContact(contactLine)})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(120 * time.Millisecond)
		contactLine.Set(0) // someone walks through
		time.Sleep(120 * time.Millisecond)
		contactLine.Set(1) // and the door shuts
	}()
	start := time.Now()
	if err := d.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("door stayed unlocked %v after it closed again", took)
	}
	if r.Open() {
		t.Error("door left open")
	}
	closed, err := d.Closed()
	if err != nil || !closed {
		t.Errorf("Closed() = %v, %v, want true", closed, err)
	}
}

func TestDoorWithoutContact(t *testing.T) {
	r := &relaytest.Relay{}
	d, err := relay.NewDoor(r, relay.DoorConfig{Pulse: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ops := r.Ops()
	if len(ops) != 2 || !ops[0].Open || ops[1].Open {
		t.Errorf("ops = %+v, want open then lock", ops)
	}
	if gap := ops[1].Time.Sub(ops[0].Time); gap < 30*time.Millisecond {
		t.Errorf("pulse lasted %v, want >= 30ms", gap)
	}
	if _, err := d.Closed(); !errors.Is(err, relay.ErrNoContact) {
		t.Errorf("Closed() without contact = %v, want ErrNoContact", err)
	}
	if _, err := relay.NewDoor(r, relay.DoorConfig{Pulse: time.Hour}); !errors.Is(err, relay.ErrConfig) {
		t.Errorf("NewDoor(1h pulse) = %v, want ErrConfig", err)
	}
}
