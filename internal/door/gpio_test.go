package door

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// No GPIO chip exists on a build machine (and gpio-sim cannot be loaded
// there): these tests put relaytest's fake chip behind relay.Line.

func gpioConfig(mode string) config.Relay {
	c := config.Default().Relay
	c.Type, c.Chip, c.Line, c.Mode = "gpio", "gpiochip0", 17, mode
	c.Pulse = config.Duration{Duration: 50 * time.Millisecond}
	return c
}

func TestGPIOOpenLocksAndReadsBack(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		locked int
	}{{"fail-secure", 0}, {"fail-safe", 1}} {
		t.Run(tt.mode, func(t *testing.T) {
			chip := &relaytest.Chip{}
			var log bytes.Buffer
			d, err := open(gpioConfig(tt.mode), slog.New(slog.NewTextHandler(&log, nil)), hardware{request: chip.Request})
			if err != nil {
				t.Fatalf("open = %v", err)
			}
			want := []relaytest.Request{{Chip: "gpiochip0", Offset: 17, Value: tt.locked}}
			if got := chip.Requests(); !slices.Equal(got, want) {
				t.Errorf("requests = %+v, want %+v: requested once, driven locked from the first instant", got, want)
			}
			line := chip.Line(17)
			if got := line.Values(); !slices.Equal(got, []int{tt.locked}) {
				t.Errorf("line values after open = %v, want [%d]", got, tt.locked)
			}
			if !strings.Contains(log.String(), "read back: locked") {
				t.Errorf("log = %q, want the read-back", log.String())
			}
			if err := d.Open(context.Background()); err != nil {
				t.Fatalf("pulse = %v", err)
			}
			if got, want := line.Values(), []int{tt.locked, 1 - tt.locked, tt.locked}; !slices.Equal(got, want) {
				t.Errorf("line values after a pulse = %v, want %v", got, want)
			}
			if err := d.Close(); err != nil || !line.Closed() {
				t.Errorf("Close = %v, line released %v", err, line.Closed())
			}
		})
	}
}

// TestGPIOStuckOpen: the lock is sent but the line reads back open (a
// shorted output): that is an alarm, not a locked door.
func TestGPIOStuckOpen(t *testing.T) {
	chip := &relaytest.Chip{}
	chip.Line(17).Stick(1)
	d, err := open(gpioConfig("fail-secure"), nil, hardware{request: chip.Request})
	var nl *NotLockedError
	if d == nil || !errors.As(err, &nl) || !errors.Is(err, relay.ErrNotLocked) || !strings.Contains(err.Error(), "reads back open") {
		t.Fatalf("open with the line stuck open = %v, %v; want the door and a *NotLockedError saying it reads back open", d, err)
	}
	if err := d.Halt(); !errors.As(err, &nl) {
		t.Errorf("Halt with the line stuck open = %v, want a *NotLockedError", err)
	}
	rep, err := lockNow(gpioConfig("fail-secure"), nil, hardware{request: chip.Request})
	if !errors.As(err, &nl) || rep.Verified || rep.Readback != "read back OPEN" {
		t.Errorf("lockNow with the line stuck open = %+v, %v; want a *NotLockedError and an unverified report", rep, err)
	}
}

// TestGPIOChipLate: the GPIO driver is not there at start; the door comes
// up with the alarm and requests the line again on the next pulse.
func TestGPIOChipLate(t *testing.T) {
	chip := &relaytest.Chip{}
	chip.FailNext(3) // every attempt of the start lock
	d, err := open(gpioConfig("fail-secure"), nil, hardware{request: chip.Request})
	var nl *NotLockedError
	if d == nil || !errors.As(err, &nl) || !errors.Is(err, relaytest.ErrInjected) {
		t.Fatalf("open with the chip missing = %v, %v; want the door and a *NotLockedError", d, err)
	}
	if err := d.Open(context.Background()); err != nil {
		t.Fatalf("pulse once the chip is there = %v", err)
	}
	if got := chip.Line(17).Values(); !slices.Equal(got, []int{1, 0}) {
		t.Errorf("line values = %v, want [1 0] (open, lock)", got)
	}
	if got := chip.Requests(); len(got) != 1 || got[0].Value != 0 {
		t.Errorf("requests = %+v, want one, driven locked", got)
	}
}

func TestGPIOLockNow(t *testing.T) {
	chip := &relaytest.Chip{}
	rep, err := lockNow(gpioConfig("fail-safe"), nil, hardware{request: chip.Request})
	if err != nil {
		t.Fatalf("lockNow = %v", err)
	}
	if !rep.Verified || rep.Sent != "line value 1" || rep.Relay != "gpio gpiochip0 line 17, fail-safe" {
		t.Errorf("report = %+v, want verified, line value 1, naming the line and mode", rep)
	}
	line := chip.Line(17)
	if got := line.Values(); !slices.Equal(got, []int{1}) || !line.Closed() {
		t.Errorf("line values = %v, released %v; want [1], released", got, line.Closed())
	}
}
