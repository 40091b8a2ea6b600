package relay_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay"
)

var (
	lcusOn  = []byte{0xA0, 0x01, 0x01, 0xA2}
	lcusOff = []byte{0xA0, 0x01, 0x00, 0xA1}
)

func newSerial(t *testing.T, p *serialtest.Pair, cmds relay.Commands, mode relay.Mode) *relay.Serial {
	t.Helper()
	s, err := relay.NewSerial(relay.SerialConfig{Path: p.Device, Commands: cmds, Mode: mode})
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func expect(t *testing.T, peer *serialtest.Port, want []byte) {
	t.Helper()
	got, err := peer.ReadFull(len(want), 2*time.Second)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("relay line got % X (%v), want % X", got, err, want)
	}
}

func TestSerialLCUSOverPTY(t *testing.T) {
	lcus, err := relay.LCUS(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode        relay.Mode
		open, close []byte
	}{
		{relay.FailSecure, lcusOn, lcusOff},
		{relay.FailSafe, lcusOff, lcusOn},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			p := serialtest.New(t)
			peer := p.OpenPeer(100 * time.Millisecond)
			s := newSerial(t, p, lcus, tt.mode)
			ctx := context.Background()
			if err := s.Set(ctx, true); err != nil {
				t.Fatalf("Set(open): %v", err)
			}
			expect(t, peer, tt.open)
			if err := s.Set(ctx, false); err != nil {
				t.Fatalf("Set(lock): %v", err)
			}
			expect(t, peer, tt.close)
			if err := s.Halt(); err != nil {
				t.Fatalf("Halt: %v", err)
			}
			expect(t, peer, tt.close)
		})
	}
}

func TestSerialByteCommandsPulseOverPTY(t *testing.T) {
	cmds, err := relay.ParseCommands("FE 05 00 00 FF 00", "FE 05 00 00 00 00")
	if err != nil {
		t.Fatal(err)
	}
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	s := newSerial(t, p, cmds, relay.FailSecure)

	// A cancelled pulse still locks.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if err := relay.Pulse(ctx, s, 5*time.Second); err != nil {
		t.Fatalf("Pulse: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled Pulse took %v", took)
	}
	expect(t, peer, append(append([]byte{}, cmds.On...), cmds.Off...))
}

func TestSerialUnplugReplug(t *testing.T) {
	lcus, _ := relay.LCUS(1)
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	s := newSerial(t, p, lcus, relay.FailSecure)
	ctx := context.Background()
	if err := s.Set(ctx, false); err != nil {
		t.Fatalf("Set: %v", err)
	}
	expect(t, peer, lcusOff)
	peer.Close()

	p.Unplug()
	if err := s.Set(ctx, false); err == nil {
		t.Fatalf("Set on an unplugged board succeeded")
	}
	if err := relay.Pulse(ctx, s, time.Millisecond); err == nil {
		t.Fatalf("Pulse on an unplugged board succeeded")
	}

	p.Plug()
	peer = p.OpenPeer(100 * time.Millisecond)
	if err := relay.Pulse(ctx, s, 10*time.Millisecond); err != nil {
		t.Fatalf("Pulse after replug: %v", err)
	}
	expect(t, peer, append(append([]byte{}, lcusOn...), lcusOff...))
}

func TestNewSerialErrors(t *testing.T) {
	lcus, _ := relay.LCUS(1)
	if _, err := relay.NewSerial(relay.SerialConfig{Commands: lcus}); err == nil {
		t.Error("NewSerial without a path succeeded")
	}
	if _, err := relay.NewSerial(relay.SerialConfig{Path: "/dev/null"}); err == nil {
		t.Error("NewSerial without commands succeeded")
	}
}

func BenchmarkSerialSetOverPTY(b *testing.B) {
	lcus, _ := relay.LCUS(1)
	p := serialtest.New(b)
	peer := p.OpenPeer(100 * time.Millisecond)
	s, err := relay.NewSerial(relay.SerialConfig{Path: p.Device, Commands: lcus})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b.Loop() {
		if err := s.Set(ctx, true); err != nil {
			b.Fatal(err)
		}
		if _, err := peer.ReadFull(4, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
