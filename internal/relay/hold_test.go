package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// TestDoorHold: a held door stays unlocked through a pulse that ends
// during the hold; Release locks it; Release during a pulse leaves the lock
// to the pulse's own end; Halt ends a hold at once.
func TestDoorHold(t *testing.T) {
	r := &relaytest.Relay{}
	d, err := relay.NewDoor(r, relay.DoorConfig{Pulse: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.Open() || !d.Held() {
		t.Fatalf("after Hold: open %v held %v, want both", r.Open(), d.Held())
	}
	if err := d.Open(ctx); err != nil { // a grant during the hold
		t.Fatal(err)
	}
	if !r.Open() {
		t.Fatal("a pulse that ended during the hold locked the door")
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if r.Open() || d.Held() {
		t.Fatalf("after Release: open %v held %v, want locked", r.Open(), d.Held())
	}

	// Release while a pulse runs: the door stays open until the pulse ends,
	// then locks.
	if err := d.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- d.Open(ctx) }()
	time.Sleep(30 * time.Millisecond)
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if !r.Open() {
		t.Error("Release during a pulse cut the pulse short")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Open() {
		t.Error("the pulse's end after a Release did not lock")
	}

	// Halt ends a hold; a later pulse locks at its end again.
	if err := d.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if r.Open() || d.Held() {
		t.Fatalf("after Halt: open %v held %v, want locked", r.Open(), d.Held())
	}
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Open() {
		t.Error("a pulse after Halt left the door open")
	}
}

// TestDoorHoldFails: an unlock that fails leaves the door locked and not
// held.
func TestDoorHoldFails(t *testing.T) {
	r := &relaytest.Relay{}
	d, _ := relay.NewDoor(r, relay.DoorConfig{})
	r.FailOpens(1)
	if err := d.Hold(context.Background()); err == nil {
		t.Fatal("Hold with a failing relay = nil, want an error")
	}
	if r.Open() || d.Held() {
		t.Errorf("after a failed Hold: open %v held %v, want locked and not held", r.Open(), d.Held())
	}
	ops := r.Ops()
	if last := ops[len(ops)-1]; last.Open || last.Err != nil {
		t.Errorf("last relay op = %+v, want a lock that worked", last)
	}
}
