package fallback_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// runReader starts r.Run and returns its events; the reader stops at the end
// of the test.
func runReader(t testing.TB, r interface {
	Run(context.Context, chan<- fallback.Event) error
}) <-chan fallback.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan fallback.Event, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Run(ctx, events); !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return events
}

func next(t testing.TB, events <-chan fallback.Event, d time.Duration) fallback.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return fallback.Event{}
}

func noEvent(t testing.TB, events <-chan fallback.Event, d time.Duration) {
	t.Helper()
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %v", ev)
	case <-time.After(d):
	}
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func write(t testing.TB, p *serialtest.Port, s string) {
	t.Helper()
	if _, err := p.Write([]byte(s)); err != nil {
		t.Fatalf("write to reader line: %v", err)
	}
}

func TestASCIIReaderOverPTY(t *testing.T) {
	tests := []struct {
		name  string
		line  fallback.LineConfig
		input string
		want  []string // Card.Key of each card event
	}{
		{"decimal crlf", fallback.LineConfig{}, "0004215673\r\nbad\r\n0000000042\r\n", []string{"4215673", "42"}},
		{"hex cr prefix", fallback.LineConfig{Ending: "\r", Prefix: "UID:", Base: 16}, "UID:DEADBEEF\rUID:zz\r", []string{"3735928559"}},
		{"stx etx", fallback.LineConfig{Prefix: "\x02", Ending: "\x03"}, "\x0212\x03\x0234\x03", []string{"12", "34"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := serialtest.New(t)
			peer := p.OpenPeer(100 * time.Millisecond)
			r, err := fallback.NewASCIIReader(fallback.SerialConfig{Name: "gate", Path: p.Device}, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			events := runReader(t, r)
			waitFor(t, "reader up", 2*time.Second, func() bool { return r.Health().Up })
			write(t, peer, tt.input)
			for _, want := range tt.want {
				ev := next(t, events, 2*time.Second)
				if ev.Kind != fallback.KindCard || ev.Card.Key() != want || ev.Reader != "gate" {
					t.Errorf("event = %v, want card %s from gate", ev, want)
				}
			}
			noEvent(t, events, 200*time.Millisecond)
			h := r.Health()
			if h.Frames != uint64(len(tt.want)) {
				t.Errorf("Frames = %d, want %d", h.Frames, len(tt.want))
			}
		})
	}
}

func TestWiegandReaderOverPTY(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	r, err := fallback.NewWiegandReader(fallback.SerialConfig{Name: "w", Path: p.Device}, fallback.WiegandConfig{})
	if err != nil {
		t.Fatal(err)
	}
	events := runReader(t, r)
	waitFor(t, "reader up", 2*time.Second, func() bool { return r.Health().Up })
	good, _ := fallback.EncodeWiegand(1, 12345, 26)
	good34, _ := fallback.EncodeWiegand(4660, 22136, 34)
	bad := good ^ 1<<7
	write(t, peer, fmtHex(bad, 7)+"\r\n"+fmtHex(good, 7)+"\r\n"+fmtHex(good34, 9)+"\r\n")
	for _, want := range []string{"1:12345", "4660:22136"} {
		ev := next(t, events, 2*time.Second)
		if ev.Card.Key() != want {
			t.Errorf("event = %v, want card %s", ev, want)
		}
	}
	noEvent(t, events, 200*time.Millisecond)
	if h := r.Health(); h.Dropped != 1 || h.Frames != 2 {
		t.Errorf("health = %+v, want 2 frames, 1 dropped (bad parity)", h)
	}
}

func fmtHex(v uint64, digits int) string {
	const hexd = "0123456789ABCDEF"
	b := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		b[i] = hexd[v&15]
		v >>= 4
	}
	return string(b)
}

func TestKeypadReaderOverPTY(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	r, err := fallback.NewKeypadReader(fallback.SerialConfig{Name: "pad", Path: p.Device}, fallback.KeypadConfig{InterKey: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	events := runReader(t, r)
	waitFor(t, "reader up", 2*time.Second, func() bool { return r.Health().Up })
	write(t, peer, "12*34#")
	var digits []int
	for range 5 {
		ev := next(t, events, 2*time.Second)
		if ev.Kind != fallback.KindKey {
			t.Fatalf("event = %v, want a key", ev)
		}
		digits = append(digits, ev.Digits)
	}
	if want := []int{1, 2, 0, 1, 2}; !equalInts(digits, want) {
		t.Errorf("digits after each key = %v, want %v", digits, want)
	}
	ev := next(t, events, 2*time.Second)
	if ev.Kind != fallback.KindPIN || ev.PIN.Reveal() != "34" {
		t.Errorf("event = %v, want PIN of 2 digits", ev)
	}
	// The inter-key timeout clears a half-entered PIN.
	write(t, peer, "9")
	if ev := next(t, events, time.Second); ev.Digits != 1 {
		t.Errorf("event = %v, want 1 digit", ev)
	}
	if ev := next(t, events, 2*time.Second); ev.Kind != fallback.KindKey || ev.Digits != 0 {
		t.Errorf("event = %v, want the entry cleared by timeout", ev)
	}
	// '#' first: a visitor code, never a PIN.
	write(t, peer, "#0123456789#")
	for range 11 {
		if ev := next(t, events, 2*time.Second); ev.Kind != fallback.KindKey {
			t.Fatalf("event = %v, want a key", ev)
		}
	}
	ev = next(t, events, 2*time.Second)
	if ev.Kind != fallback.KindCode || ev.PIN.Reveal() != "0123456789" {
		t.Errorf("event = %v, want a visitor code of 10 digits", ev)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderUnplugReplug(t *testing.T) {
	p := serialtest.New(t)
	r, err := fallback.NewASCIIReader(fallback.SerialConfig{Name: "gate", Path: p.Device}, fallback.LineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	events := runReader(t, r)
	waitFor(t, "reader up", 2*time.Second, func() bool { return r.Health().Up })

	for round := range 2 {
		p.Unplug()
		took := waitFor(t, "reader down after unplug", 2*time.Second, func() bool { return !r.Health().Up })
		t.Logf("round %d: down %v after unplug (%s)", round, took, r.Health().LastErr)

		p.Plug()
		took = waitFor(t, "reader up after replug", 4*time.Second, func() bool { return r.Health().Up })
		t.Logf("round %d: up %v after replug", round, took)

		peer := p.OpenPeer(100 * time.Millisecond)
		write(t, peer, "77\r\n")
		if ev := next(t, events, 2*time.Second); ev.Card.Key() != "77" {
			t.Errorf("event after replug = %v, want card 77", ev)
		}
		peer.Close()
	}
	if h := r.Health(); h.Reconnects != 2 {
		t.Errorf("Reconnects = %d, want 2", h.Reconnects)
	}
}

func TestReaderStartsWithoutDevice(t *testing.T) {
	p := serialtest.New(t)
	p.Unplug()
	r, err := fallback.NewKeypadReader(fallback.SerialConfig{Name: "pad", Path: p.Device}, fallback.KeypadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	runReader(t, r)
	time.Sleep(300 * time.Millisecond)
	if h := r.Health(); h.Up || h.LastErr == "" {
		t.Errorf("health without device = %+v, want down with an error", h)
	}
	p.Plug()
	waitFor(t, "reader up after plug", 4*time.Second, func() bool { return r.Health().Up })
}

func TestNewReaderErrors(t *testing.T) {
	if _, err := fallback.NewASCIIReader(fallback.SerialConfig{Name: "x"}, fallback.LineConfig{}); !errors.Is(err, fallback.ErrConfig) {
		t.Errorf("no path: %v, want ErrConfig", err)
	}
	if _, err := fallback.NewASCIIReader(fallback.SerialConfig{Name: "x", Path: "/dev/x"}, fallback.LineConfig{Base: 8}); !errors.Is(err, fallback.ErrConfig) {
		t.Errorf("base 8: %v, want ErrConfig", err)
	}
	if _, err := fallback.NewWiegandReader(fallback.SerialConfig{Name: "x", Path: "/dev/x"}, fallback.WiegandConfig{Bits: 37}); !errors.Is(err, fallback.ErrConfig) {
		t.Errorf("37 bits: %v, want ErrConfig", err)
	}
}
