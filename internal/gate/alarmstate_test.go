package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/liveness"
)

// TestGateAlarmsAcrossRestart (red team, 2026-12-02): a power cut while
// "every reader is down" or the presentation-attack alarm stands left its
// start in the audit log without an end, so the report listed it as
// standing for good. A new gate over the same store audits each as ended
// by the restart, once; readers still down raise the alarm afresh.
func TestGateAlarmsAcrossRestart(t *testing.T) {
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Liveness: liveness.Default, LivenessLayer: liveness.Model})
	a := fx.ids["a"]
	fx.g.Readers([]fallback.Health{{Reader: "front", LastErr: "read /dev/ttyUSB0: EOF"}})
	for range 3 { // three photos, three visits: the PAD alarm
		fx.padFrame(t, nil, nil)
		for range 3 {
			fx.padFrame(t, fx.people[a], &attackFrame)
		}
	}
	if al := fx.g.Alarms(); len(al) != 1 || !strings.Contains(al[0], "photos or screens") {
		t.Fatalf("Alarms() = %q, want the PAD alarm", al)
	}

	// The power goes; a new gate starts over the same store.
	fx.clock.advance(time.Minute)
	newGate := func() *gate.Gate {
		g, err := gate.New(gate.Config{Face: true, Mode: calibrate.Identify, Frames: 3, Policy: testPolicy, Now: fx.clock.now}, fx.st, fx.door, fx.gallery)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g2 := newGate()
	if al := g2.Alarms(); len(al) != 0 {
		t.Errorf("a new gate's alarms: %q, want none (the PAD alarm ended with the restart)", al)
	}
	ended := func() map[string]int {
		n := map[string]int{}
		for _, e := range fx.audit(t) {
			if e.Outcome == string(gate.AlarmCleared) && strings.Contains(e.Detail, "ended by a restart") {
				kind, _, _ := strings.Cut(strings.TrimPrefix(e.Detail, "alarm="), " ")
				n[kind]++
			}
		}
		return n
	}
	if n := ended(); n[gate.AlarmReadersDown] != 1 || n[gate.AlarmPresentation] != 1 {
		t.Errorf("alarms ended by the restart: %v, want readers-down and presentation-attack once each", n)
	}
	// Readers still down: raised again. Another restart ends it once more,
	// and nothing else.
	g2.Readers([]fallback.Health{{Reader: "front", LastErr: "read /dev/ttyUSB0: EOF"}})
	newGate()
	if n := ended(); n[gate.AlarmReadersDown] != 2 || n[gate.AlarmPresentation] != 1 {
		t.Errorf("after a second restart: %v, want readers-down twice, presentation-attack once", n)
	}
	newGate()
	if n := ended(); n[gate.AlarmReadersDown] != 2 || n[gate.AlarmPresentation] != 1 {
		t.Errorf("a third start with nothing standing: %v, want no new ends", n)
	}
}
