package gate_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
	"github.com/gated-dev/gated/internal/store"
)

// A power cut inside an unlock window leaves its start without an end;
// the next start closes it ("ended by a restart") before judging the
// window again, here after the window ended.
func TestUnlockCrashInsideWindow(t *testing.T) {
	// The gates here run no Run loop: the test makes every check, and the
	// first gate is never stopped (a power cut), so nothing else audits.
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	clk := &syncClock{t: day(8, 0)}
	st := openStore(t, filepath.Join(t.TempDir(), "gated.db"), kek, clk)
	t.Cleanup(func() { st.Close() })
	fx := &unlockFixture{st: st, clock: clk, relay: &relaytest.Relay{}}
	first, err := relay.NewDoor(fx.relay, relay.DoorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g1, err := gate.New(gate.Config{Now: clk.now, Schedule: marketSet(t), Unlock: "market"}, st, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g1.CheckUnlock(ctx)
	if !fx.relay.Open() {
		t.Fatal("the window did not hold the door")
	}
	// The power goes (no stop, no release); it comes back at 09:30,
	// after the window.
	fx.set(day(9, 30))
	door, err := relay.NewDoor(&relaytest.Relay{}, relay.DoorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := gate.New(gate.Config{Now: fx.clock.now, Schedule: marketSet(t), Unlock: "market"}, fx.st, door, nil)
	if err != nil {
		t.Fatal(err)
	}
	g2.CheckUnlock(ctx)
	audit := fx.scheduleAudit(t)
	want := []string{
		"unlocked unlock profile=market until=2026-11-23T09:00:00Z: door unlocked by schedule until 09:00 (gated started inside the window)",
		"locked unlock profile=market started=2026-11-23T08:00:00Z: ended by a restart (gated stopped inside the window: a power cut or a crash?)",
	}
	if strings.Join(audit, "\n") != strings.Join(want, "\n") {
		t.Fatalf("schedule audit =\n%s\nwant\n%s", strings.Join(audit, "\n"), strings.Join(want, "\n"))
	}
	// A third start has nothing to close.
	g3, _ := gate.New(gate.Config{Now: fx.clock.now, Schedule: marketSet(t), Unlock: "market"}, fx.st, door, nil)
	g3.CheckUnlock(ctx)
	if got := fx.scheduleAudit(t); len(got) != 2 {
		t.Fatalf("a clean start added schedule entries: %q", got)
	}
}
