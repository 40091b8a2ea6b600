package relay_test

import (
	"context"
	"errors"
	"fmt"
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

func TestRequestGPIOLocksFromTheFirstInstant(t *testing.T) {
	tests := []struct {
		mode      relay.Mode
		activeLow bool
		locked    int
	}{
		{relay.FailSecure, false, 0},
		{relay.FailSecure, true, 0}, // the inversion is the kernel's: the logical value is the same
		{relay.FailSafe, false, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/active_low=%v", tt.mode, tt.activeLow), func(t *testing.T) {
			chip := &relaytest.Chip{}
			chip.FailNext(1) // the GPIO driver is not loaded yet
			g, err := relay.RequestGPIO(relay.GPIOConfig{Chip: "gpiochip0", Line: 17, ActiveLow: tt.activeLow, Mode: tt.mode, Request: chip.Request})
			if err != nil {
				t.Fatalf("RequestGPIO: %v", err)
			}
			if n := len(chip.Requests()); n != 0 {
				t.Fatalf("RequestGPIO requested %d lines before the first Set, want 0", n)
			}
			if err := g.Set(context.Background(), false); !errors.Is(err, relaytest.ErrInjected) {
				t.Fatalf("Set with the chip missing = %v, want the request's error", err)
			}
			if err := g.Halt(); err != nil {
				t.Fatalf("Halt once the chip is there: %v", err)
			}
			want := []relaytest.Request{{Chip: "gpiochip0", Offset: 17, Value: tt.locked, ActiveLow: tt.activeLow}}
			if got := chip.Requests(); !slices.Equal(got, want) {
				t.Errorf("requests = %+v, want %+v (requested once, already locked)", got, want)
			}
			if got := chip.Line(17).Values(); !slices.Equal(got, []int{tt.locked}) {
				t.Errorf("line values = %v, want [%d]", got, tt.locked)
			}
			if locked, err := g.Locked(); err != nil || !locked {
				t.Errorf("Locked() = %v, %v, want true", locked, err)
			}
			if err := g.Close(); err != nil || !chip.Line(17).Closed() {
				t.Errorf("Close() = %v, line closed %v", err, chip.Line(17).Closed())
			}
			if err := g.Set(context.Background(), false); err == nil {
				t.Errorf("Set after Close requested the line again")
			}
		})
	}
	if _, err := relay.RequestGPIO(relay.GPIOConfig{Line: 3}); !errors.Is(err, relay.ErrConfig) {
		t.Errorf("RequestGPIO(no chip) = %v, want ErrConfig", err)
	}
}

func TestGPIOReadBack(t *testing.T) {
	chip := &relaytest.Chip{}
	g, err := relay.OpenGPIO(relay.GPIOConfig{Chip: "gpiochip0", Line: 4, Request: chip.Request})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string, want bool) {
		t.Helper()
		if got, err := g.Locked(); err != nil || got != want {
			t.Errorf("%s: Locked() = %v, %v, want %v", what, got, err, want)
		}
	}
	check("after open", true)
	if err := g.Set(ctx, true); err != nil {
		t.Fatal(err)
	}
	check("door open", false)
	chip.Line(4).Stick(1) // the output is held high: a short, another driver
	if err := g.Halt(); err != nil {
		t.Fatal(err)
	}
	check("lock sent to a line stuck at 1", false)

	// A line without Value cannot be read back.
	var _ relay.StateReader = g
	blind := relay.NewGPIO(writeOnlyLine{}, relay.FailSecure)
	if _, err := blind.Locked(); !errors.Is(err, relay.ErrNoReadback) {
		t.Errorf("Locked() on a write-only line = %v, want ErrNoReadback", err)
	}
}

type writeOnlyLine struct{}

func (writeOnlyLine) SetValue(int) error { return nil }
func (writeOnlyLine) Close() error       { return nil }
