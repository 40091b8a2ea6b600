package door_test

import (
	"context"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/door"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// TestHoldOnSerialBoard drives an LCUS board over a real pty: a hold
// unlocks, a grant's pulse during the hold sends no lock at its end,
// Release locks; a door closed while held locks (a daemon stopping inside
// an unlock window), and a closed door is not held again.
func TestHoldOnSerialBoard(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	cfg := relayConfig("lcus", p.Device, "fail-secure")
	cfg.Pulse = config.Duration{Duration: 100 * time.Millisecond}
	d, err := door.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Open", lcusOff)
	ctx := context.Background()
	if err := d.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Hold", lcusOn)
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "a pulse during the hold", lcusOn)
	time.Sleep(150 * time.Millisecond)
	expectNothing(t, peer, "the pulse's end during the hold")
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Release", lcusOff)

	if err := d.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Hold again", lcusOn)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, peer, "Close while held", lcusOff)
	peer.Drain() // Close's read-back lock may follow the hold's end
	if err := d.Hold(ctx); err == nil {
		t.Error("Hold on a closed door = nil, want ErrClosed")
	}
	expectNothing(t, peer, "Hold after Close")
}
