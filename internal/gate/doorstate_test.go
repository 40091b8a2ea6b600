package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
)

// A power cut while the door stands forced open: the restarted gate
// audits the old alarm as ended by the restart and, the door still open,
// raises held open at once instead of after a fresh door.held_open.
func TestDoorAlarmAcrossRestart(t *testing.T) {
	fx := setupDoor(t)
	fx.contact(true)
	fx.clock.advance(5 * time.Second)
	fx.contact(false) // forced open: no grant
	if got := fx.g.DoorAlarms(); len(got) != 1 || !strings.Contains(got[0], "forced") {
		t.Fatalf("DoorAlarms() = %q, want forced open", got)
	}
	// The power goes; a new gate starts over the same store 10 s later.
	fx.clock.advance(10 * time.Second)
	g2, err := gate.New(gate.Config{Now: fx.clock.now, Door: gate.DoorConfig{HeldOpen: 30 * time.Second}}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	g2.DoorInputs(gate.DoorState{HasContact: true, Closed: false})
	alarms := g2.DoorAlarms()
	if len(alarms) != 1 || !strings.Contains(alarms[0], "held open") {
		t.Fatalf("after the restart with the door open: DoorAlarms() = %q, want held open at once", alarms)
	}
	var ended bool
	for _, a := range fx.audit(t) {
		ended = ended || (strings.HasPrefix(a, "alarm-cleared alarm=forced-open") && strings.Contains(a, "ended by a restart"))
	}
	if !ended {
		t.Fatalf("audit lacks the forced-open alarm ended by the restart:\n%s", strings.Join(fx.audit(t), "\n"))
	}
	// A second restart with the door now closed: held open is closed out
	// by that restart too, and nothing stands.
	g3, err := gate.New(gate.Config{Now: fx.clock.now, Door: gate.DoorConfig{HeldOpen: 30 * time.Second}}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	g3.DoorInputs(gate.DoorState{HasContact: true, Closed: true})
	if got := g3.DoorAlarms(); len(got) != 0 {
		t.Fatalf("door closed after a restart: DoorAlarms() = %q, want none", got)
	}
	n := 0
	for _, a := range fx.audit(t) {
		if strings.Contains(a, "ended by a restart") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d alarms ended by a restart, want 2 (forced open, then held open):\n%s", n, strings.Join(fx.audit(t), "\n"))
	}
	// And a third start finds nothing left to close.
	g4, _ := gate.New(gate.Config{Now: fx.clock.now}, fx.st, fx.door, nil)
	g4.DoorInputs(gate.DoorState{HasContact: true, Closed: true})
	m := 0
	for _, a := range fx.audit(t) {
		if strings.Contains(a, "ended by a restart") {
			m++
		}
	}
	if m != n {
		t.Fatalf("a clean start closed %d more alarms, want 0", m-n)
	}
}
