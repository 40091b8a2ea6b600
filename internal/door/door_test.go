package door_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/door"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay"
)

var (
	lcusOn  = []byte{0xA0, 0x01, 0x01, 0xA2}
	lcusOff = []byte{0xA0, 0x01, 0x00, 0xA1}
	// A Modbus-RTU style board driven by fixed bytes.
	coilOn  = []byte{0xFE, 0x05, 0x00, 0x00, 0xFF, 0x00}
	coilOff = []byte{0xFE, 0x05, 0x00, 0x00, 0x00, 0x00}
)

func relayConfig(typ, device, mode string) config.Relay {
	c := config.Default().Relay
	c.Type, c.Device, c.Mode = typ, device, mode
	c.Pulse = config.Duration{Duration: 150 * time.Millisecond}
	if typ == "bytes" {
		c.On, c.Off = fmt.Sprintf("% X", coilOn), fmt.Sprintf("% X", coilOff)
	}
	return c
}

// serialCases are the serial boards and modes: the command that locks and
// the one that opens.
var serialCases = []struct {
	typ, mode  string
	lock, open []byte
}{
	{"lcus", "fail-secure", lcusOff, lcusOn},
	{"lcus", "fail-safe", lcusOn, lcusOff}, // a maglock is locked while the relay is on
	{"bytes", "fail-secure", coilOff, coilOn},
	{"bytes", "fail-safe", coilOn, coilOff},
}

func expect(t *testing.T, peer *serialtest.Port, what string, want []byte) {
	t.Helper()
	got, err := peer.ReadFull(len(want), 2*time.Second)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: relay line got % X (%v), want % X", what, got, err, want)
	}
}

func expectNothing(t *testing.T, peer *serialtest.Port, what string) {
	t.Helper()
	if got := peer.Drain(); len(got) > 0 {
		t.Fatalf("%s: relay line got % X, want nothing", what, got)
	}
}

// TestOpenLocksBeforeReturning replays a daemon starting after one that died
// mid-pulse: the first bytes on the relay line are the lock, sent before
// Open returns, and nothing else.
func TestOpenLocksBeforeReturning(t *testing.T) {
	for _, tt := range serialCases {
		t.Run(tt.typ+"/"+tt.mode, func(t *testing.T) {
			p := serialtest.New(t)
			peer := p.OpenPeer(100 * time.Millisecond)
			var log bytes.Buffer
			d, err := door.Open(relayConfig(tt.typ, p.Device, tt.mode), slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			expect(t, peer, "Open", tt.lock)
			expectNothing(t, peer, "after Open")
			if !strings.Contains(log.String(), "door: locked at start") || !strings.Contains(log.String(), p.Device) {
				t.Errorf("log = %q, want it to say the door was locked at start, naming %s", log.String(), p.Device)
			}

			if err := d.Open(context.Background()); err != nil {
				t.Fatalf("door.Open (pulse) = %v", err)
			}
			expect(t, peer, "pulse opens", tt.open)
			expect(t, peer, "pulse locks", tt.lock)

			if err := d.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			expect(t, peer, "Close", tt.lock)
			if err := d.Open(context.Background()); !errors.Is(err, door.ErrClosed) {
				t.Errorf("door.Open after Close = %v, want ErrClosed", err)
			}
			expectNothing(t, peer, "a closed door asked to open")
			if held := openFDs(t, p.Device); held > 0 {
				t.Errorf("Close left %d descriptors on the relay's tty", held)
			}
		})
	}
}

func TestLockNow(t *testing.T) {
	for _, tt := range serialCases {
		t.Run(tt.typ+"/"+tt.mode, func(t *testing.T) {
			p := serialtest.New(t)
			peer := p.OpenPeer(100 * time.Millisecond)
			rep, err := door.LockNow(relayConfig(tt.typ, p.Device, tt.mode), nil)
			if err != nil {
				t.Fatalf("LockNow = %v", err)
			}
			expect(t, peer, "LockNow", tt.lock)
			expectNothing(t, peer, "after LockNow")
			if want := fmt.Sprintf("% X", tt.lock); rep.Sent != want || rep.Verified || !strings.Contains(rep.Relay, p.Device) || !strings.Contains(rep.Relay, tt.mode) {
				t.Errorf("LockNow report = %+v, want sent %s, not verified, naming %s and %s", rep, want, p.Device, tt.mode)
			}
			if !strings.Contains(rep.String(), "cannot report its state") {
				t.Errorf("report %q does not say a serial board cannot be read back", rep)
			}
			if held := openFDs(t, p.Device); held > 0 {
				t.Errorf("LockNow left %d descriptors on the relay's tty", held)
			}
		})
	}
}

// TestMissingDevice: a relay board unplugged at start is an alarm, not a
// crash loop: Open returns the door with a NotLockedError naming the
// device, and the next pulse finds the board once it is plugged back.
func TestMissingDevice(t *testing.T) {
	p := serialtest.New(t)
	p.Unplug()
	cfg := relayConfig("lcus", p.Device, "fail-secure")

	_, err := door.LockNow(cfg, nil)
	if !errors.Is(err, relay.ErrNotLocked) || !strings.Contains(err.Error(), p.Device) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("LockNow(missing device) = %v, want ErrNotLocked naming %s and why", err, p.Device)
	}

	d, err := door.Open(cfg, nil)
	var nl *door.NotLockedError
	if !errors.As(err, &nl) || !errors.Is(err, relay.ErrNotLocked) || !strings.Contains(err.Error(), p.Device) {
		t.Fatalf("Open(missing device) = %v, want a *NotLockedError naming %s", err, p.Device)
	}
	if d == nil {
		t.Fatal("Open(missing device) returned no door: the daemon could not go on")
	}
	if err := d.Halt(); !errors.As(err, &nl) {
		t.Errorf("Halt(missing device) = %v, want a *NotLockedError", err)
	}

	p.Plug()
	peer := p.OpenPeer(100 * time.Millisecond)
	if err := d.Open(context.Background()); err != nil {
		t.Fatalf("pulse after the board came back = %v", err)
	}
	expect(t, peer, "pulse opens", lcusOn)
	expect(t, peer, "pulse locks", lcusOff)
	if err := d.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	expect(t, peer, "Close", lcusOff)
}

func TestConfigErrors(t *testing.T) {
	bad := func(f func(*config.Relay)) config.Relay {
		c := relayConfig("lcus", "/dev/null", "fail-secure")
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  config.Relay
		want string
	}{
		{"no type", bad(func(c *config.Relay) { c.Type = "" }), "relay.type"},
		{"channel 0", bad(func(c *config.Relay) { c.Channel = 0 }), "LCUS channel 0"},
		{"bad hex", bad(func(c *config.Relay) { c.Type, c.On, c.Off = "bytes", "zz", "00" }), `on command "zz"`},
		{"same bytes", bad(func(c *config.Relay) { c.Type, c.On, c.Off = "bytes", "01", "01" }), "the same bytes"},
		{"bad mode", bad(func(c *config.Relay) { c.Mode = "open" }), "relay.mode"},
		{"gpio without chip", bad(func(c *config.Relay) { c.Type = "gpio" }), "chip and a line"},
		{"pulse of an hour", bad(func(c *config.Relay) { c.Pulse.Duration = time.Hour }), "pulse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := door.Open(tt.cfg, nil)
			var nl *door.NotLockedError
			if d != nil || err == nil || errors.As(err, &nl) || !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v, %v; want no door and a configuration error saying %q", d, err, tt.want)
			}
			if tt.name == "pulse of an hour" {
				return // LockNow does not pulse
			}
			if _, err := door.LockNow(tt.cfg, nil); !errors.Is(err, relay.ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LockNow = %v, want a configuration error saying %q", err, tt.want)
			}
		})
	}
}

// TestGPIOChipMissing uses the real GPIO character device code: no GPIO
// chip exists on a build machine, which is a missing chip.
func TestGPIOChipMissing(t *testing.T) {
	cfg := relayConfig("gpio", "", "fail-secure")
	cfg.Chip, cfg.Line = "/nonexistent/gpiochip9", 17
	d, err := door.Open(cfg, nil)
	var nl *door.NotLockedError
	if d == nil || !errors.As(err, &nl) || !strings.Contains(err.Error(), cfg.Chip) {
		t.Errorf("Open(missing chip) = %v, %v; want the door and a *NotLockedError naming %s", d, err, cfg.Chip)
	}
	if _, err := door.LockNow(cfg, nil); !errors.Is(err, relay.ErrNotLocked) || !strings.Contains(err.Error(), cfg.Chip+" line 17") {
		t.Errorf("LockNow(missing chip) = %v, want ErrNotLocked naming %s line 17", err, cfg.Chip)
	}
}

// TestContactMissing: a door contact that cannot be read costs the early
// relock, not the door.
func TestContactMissing(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	cfg := relayConfig("lcus", p.Device, "fail-secure")
	cfg.Contact = &config.Contact{Chip: "/nonexistent/gpiochip9", Line: 27}
	var log bytes.Buffer
	d, err := door.Open(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatalf("Open with a missing contact = %v, want the door", err)
	}
	defer d.Close()
	expect(t, peer, "Open", lcusOff)
	if _, err := d.Closed(); err == nil || !strings.Contains(err.Error(), "relay.contact") || !strings.Contains(err.Error(), cfg.Contact.Chip) {
		t.Errorf("Closed() = %v, want an error naming relay.contact and %s", err, cfg.Contact.Chip)
	}
	if !strings.Contains(log.String(), "door contact cannot be read") {
		t.Errorf("log = %q, want it to say the contact cannot be read", log.String())
	}
	if err := d.Open(context.Background()); err != nil {
		t.Fatalf("pulse = %v", err)
	}
	expect(t, peer, "pulse opens", lcusOn)
	expect(t, peer, "pulse locks", lcusOff)
}

// openFDs counts this process's descriptors on the tty behind path.
func openFDs(t *testing.T, path string) int {
	t.Helper()
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("resolve %s: %v", path, err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && l == target {
			n++
		}
	}
	return n
}

// BenchmarkLockNow measures what `gated relay lock` spends on the relay:
// open the tty, send the lock, close it (pty pair; the board's own 9600
// baud adds about 4 ms for 4 bytes).
func BenchmarkLockNow(b *testing.B) {
	p := serialtest.New(b)
	peer := p.OpenPeer(100 * time.Millisecond)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := peer.Read(buf); err != nil && !errors.Is(err, io.EOF) {
				return
			}
		}
	}()
	cfg := relayConfig("lcus", p.Device, "fail-secure")
	for b.Loop() {
		if _, err := door.LockNow(cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCloseDuringPulse: shutting down while the door is open locks it at
// once, not at the end of the pulse, and no pulse reopens the port after.
func TestCloseDuringPulse(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	cfg := relayConfig("lcus", p.Device, "fail-secure")
	cfg.Pulse = config.Duration{Duration: 30 * time.Second}
	d, err := door.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Open", lcusOff)
	pulse := make(chan error, 2)
	go func() { pulse <- d.Open(context.Background()) }()
	expect(t, peer, "pulse opens", lcusOn)
	go func() { pulse <- d.Open(context.Background()) }() // queued behind the first
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Close took %v: it waited for the 30 s pulse instead of ending it", took)
	}
	for range 2 {
		select {
		case <-pulse:
		default:
			t.Fatal("Close returned before the pulses did")
		}
	}
	// The pulse's own lock, the queued pulse's lock (it never opened), and
	// Close's: nothing but locks.
	got := peer.Drain()
	if len(got) == 0 || len(got)%4 != 0 || !bytes.Equal(got, bytes.Repeat(lcusOff, len(got)/4)) {
		t.Errorf("after Close the relay line got % X, want only locks (% X)", got, lcusOff)
	}
	if held := openFDs(t, p.Device); held > 0 {
		t.Errorf("Close left %d descriptors on the relay's tty", held)
	}
}
