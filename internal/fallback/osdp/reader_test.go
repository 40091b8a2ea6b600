package osdp_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/fallback/osdp/osdptest"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

var testKey = bytes.Repeat([]byte{0x42}, 16)

func startReader(t *testing.T, cfg osdp.Config) (*osdp.Reader, <-chan fallback.Event) {
	t.Helper()
	r, err := osdp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan fallback.Event, 64)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
	})
	return r, events
}

func noCard(t *testing.T, events <-chan fallback.Event, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-events:
			if ev.Kind != fallback.KindKey {
				t.Fatalf("unexpected event %v", ev)
			}
		case <-timeout:
			return
		}
	}
}

// TestForgedRepliesInSecureSession splices forged replies into an
// established secure channel: none may become a card or a PIN, and the
// reader recovers for the next genuine card.
func TestForgedRepliesInSecureSession(t *testing.T) {
	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	card := osdp.EncodeRaw(0, 1, w, 26)
	otherKey := bytes.Repeat([]byte{0x99}, 16)
	tests := []struct {
		name  string
		forge func(cmd osdp.Packet, sess *osdp.Session) []byte
	}{
		{"plaintext RAW, valid CRC", func(cmd osdp.Packet, _ *osdp.Session) []byte {
			b, _ := osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyRaw, Data: card}, nil)
			return b
		}},
		{"plaintext KEYPAD", func(cmd osdp.Packet, _ *osdp.Session) []byte {
			b, _ := osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyKeypad, Data: []byte{0, 3, '1', '2', 0x0D}}, nil)
			return b
		}},
		{"SCS_16 with a zero MAC", func(cmd osdp.Packet, _ *osdp.Session) []byte {
			b, _ := osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, SCB: []byte{2, osdp.SCS16}, Code: osdp.ReplyRaw, Data: card},
				func([]byte) []byte { return make([]byte, 16) })
			return b
		}},
		{"sealed with another key", func(cmd osdp.Packet, _ *osdp.Session) []byte {
			s, _ := osdp.NewSession(otherKey, [8]byte{1})
			s.ClientCryptogram([8]byte{2})
			rm := s.InitialRMAC()
			s.Activate(rm[:])
			b, _ := s.SealReply(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyRaw, Data: card})
			return b
		}},
		{"genuine reply with one ciphertext bit flipped", func(cmd osdp.Packet, sess *osdp.Session) []byte {
			c := *sess
			b, _ := c.SealReply(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyRaw, Data: card})
			b[9] ^= 1
			crc := osdp.CRC16(b[:len(b)-2])
			b[len(b)-2], b[len(b)-1] = byte(crc), byte(crc>>8)
			return b
		}},
		{"replayed reply of an earlier poll", nil}, // filled below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair := serialtest.New(t)
			pd := osdptest.Start(t, pair.OpenPeer(100*time.Millisecond), testKey)
			r, events := startReader(t, osdp.Config{Name: "r", Path: pair.Device, Address: 3, SCBK: testKey})
			waitUp(t, r, 3*time.Second)
			forge := tt.forge
			if forge == nil {
				// Record a genuine sealed card reply, then send it again later.
				var old []byte
				pd.Forge(func(cmd osdp.Packet, sess *osdp.Session) []byte {
					c := *sess
					old, _ = c.SealReply(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyACK})
					return old
				})
				time.Sleep(200 * time.Millisecond)
				forge = func(osdp.Packet, *osdp.Session) []byte { return old }
			}
			dropped := r.Health().Dropped
			pd.Forge(forge)
			noCard(t, events, 400*time.Millisecond)
			if r.Health().Dropped == dropped {
				t.Errorf("forged reply not counted as dropped")
			}
			// The reader re-establishes the channel and takes a genuine card.
			waitUp(t, r, 3*time.Second)
			pd.Card(card)
			expectCard(t, events, "1:4242", fallback.FormatWiegand26, "r")
		})
	}
}

func TestReaderNAKAndOffline(t *testing.T) {
	pair := serialtest.New(t)
	pd := osdptest.Start(t, pair.OpenPeer(100*time.Millisecond), testKey)
	r, _ := startReader(t, osdp.Config{Name: "r", Path: pair.Device, Address: 3, SCBK: testKey})
	waitUp(t, r, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Buzz(ctx, osdp.Buzz{On: time.Second}); err != nil {
		t.Fatalf("Buzz: %v", err)
	}
	pd.NAK(osdp.CmdLED, osdp.NAKUnknown)
	if err := r.LED(ctx, osdp.LED{Color: osdp.Red}); !errors.Is(err, osdp.ErrNAK) {
		t.Errorf("LED refused = %v, want ErrNAK", err)
	}
	if !r.Health().Up {
		t.Error("a refused command took the reader down")
	}
	id, ok := r.ID()
	if !ok || id.Serial != 0x12345678 {
		t.Errorf("ID() = %v, %v", id, ok)
	}

	// Unplug the line: down at once; plug it back: up again.
	pair.Unplug()
	took := waitFor(t, "down after unplug", 2*time.Second, func() bool { return !r.Health().Up })
	t.Logf("down %v after unplug: %s", took, r.Health().LastErr)
	pair.Plug()
	osdptest.Start(t, pair.OpenPeer(100*time.Millisecond), testKey)
	took = waitUp(t, r, 4*time.Second)
	t.Logf("up %v after replug", took)
}

func TestReaderKeypad(t *testing.T) {
	pair := serialtest.New(t)
	pd := osdptest.Start(t, pair.OpenPeer(100*time.Millisecond), testKey)
	r, events := startReader(t, osdp.Config{Name: "r", Path: pair.Device, Address: 3, SCBK: testKey})
	waitUp(t, r, 3*time.Second)
	pd.Keys([]byte("98"))
	pd.Keys([]byte{0x7F, '4', '7', 0x0D})
	if pin := expectPIN(t, events); pin != "47" {
		t.Errorf("PIN = %q, want 47", pin)
	}
}

func TestNewErrors(t *testing.T) {
	save := func([]byte) error { return nil }
	tests := []struct {
		name string
		cfg  osdp.Config
	}{
		{"no path", osdp.Config{Name: "r", SCBK: testKey}},
		{"broadcast address", osdp.Config{Name: "r", Path: "/dev/x", Address: 0x7F, SCBK: testKey}},
		{"short key", osdp.Config{Name: "r", Path: "/dev/x", SCBK: []byte{1}}},
		{"no key, no install", osdp.Config{Name: "r", Path: "/dev/x"}},
		{"install without SaveKey", osdp.Config{Name: "r", Path: "/dev/x", Install: true}},
		{"insecure with key", osdp.Config{Name: "r", Path: "/dev/x", Insecure: true, SCBK: testKey}},
		{"insecure with install", osdp.Config{Name: "r", Path: "/dev/x", Insecure: true, Install: true, SaveKey: save}},
	}
	for _, tt := range tests {
		if _, err := osdp.New(tt.cfg); !errors.Is(err, fallback.ErrConfig) {
			t.Errorf("%s: New() = %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestInsecureReaderTakesPlainCards(t *testing.T) {
	pair := serialtest.New(t)
	pd := osdptest.Start(t, pair.OpenPeer(100*time.Millisecond), testKey)
	r, events := startReader(t, osdp.Config{Name: "r", Path: pair.Device, Address: 3, Insecure: true})
	waitUp(t, r, 3*time.Second)
	if r.Secured() {
		t.Error("insecure reader reports a secure channel")
	}
	pd.Card(osdp.EncodeRaw(0, 0, rand.Uint64N(1<<40)|1<<41, 42))
	timeout := time.After(3 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == fallback.KindCard && ev.Card.Format == fallback.FormatRaw && ev.Card.Bits == 42 {
				return
			}
		case <-timeout:
			t.Fatal("no card from the insecure reader")
		}
	}
}
