package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// The door's inputs on the real binary. No GPIO chip exists here (no
// /dev/gpiochip*, no gpio-sim), and the binary requests GPIO lines from the
// kernel, so it cannot take relaytest's fake chip: these tests wire the
// contact (IN1), the exit button (IN2) and the buzzer (CH2) to a Modbus RTU
// input board, played by relaytest.ModbusBoard on a real pty pair. The
// gate's rules are the same for GPIO inputs (internal/door reads both into
// one Reading; internal/gate/door_test.go tests the rules).

func startDoorRig(t *testing.T) (*gateRig, *relaytest.ModbusBoard) {
	t.Helper()
	io := serialtest.New(t)
	board := &relaytest.ModbusBoard{Address: 1}
	board.SetInput(0, true) // the door is shut
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go board.Serve(io.OpenPeer(100*time.Millisecond), stop)
	r := startRigWith(t, map[string]string{
		"face.enabled":   "false",
		"door.held_open": `"2s"`,
		"door.board":     fmt.Sprintf(`{type = "modbus", device = %q}`, io.Device),
		"door.contact":   `{input = 1}`,
		"door.exit":      `{input = 2}`,
		"door.alarm":     `{coil = 2}`,
	})
	waitFor(t, "the daemon polls the input board", 5*time.Second, func() bool { return board.Polls() > 3 })
	return r, board
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchDoor runs gated watch and returns its output so far.
func (r *gateRig) watchDoor(t *testing.T) func() string {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(r.bin, "watch", "--socket", r.socket)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(300 * time.Millisecond) // subscribed
	return out.String
}

// TestDoorForcedOpenE2E replays a door levered open while locked: status
// and watch show the alarm, the buzzer sounds until the door is shut, and
// the audit log has the alarm's start and end.
func TestDoorForcedOpenE2E(t *testing.T) {
	r, board := startDoorRig(t)
	watched := r.watchDoor(t)
	if s := r.gated("status"); strings.Contains(s, "ALARM") {
		t.Fatalf("alarm with the door shut:\n%s", s)
	}
	board.SetInput(0, false) // forced
	waitFor(t, "status shows forced open", 5*time.Second, func() bool {
		return strings.Contains(r.gated("status"), "ALARM: door forced open")
	})
	waitFor(t, "the buzzer (CH2) sounds", 2*time.Second, func() bool { return board.Coil(1) })
	board.SetInput(0, true)
	waitFor(t, "the alarm clears", 5*time.Second, func() bool { return !strings.Contains(r.gated("status"), "ALARM") })
	waitFor(t, "the buzzer stops", 2*time.Second, func() bool { return !board.Coil(1) })
	select {
	case <-r.opens:
		t.Error("the relay was commanded open by a forced door")
	default:
	}
	w := watched()
	if !strings.Contains(w, "door     ALARM forced-open") || !strings.Contains(w, "ALARM-CLEARED") {
		t.Errorf("gated watch = %q, want the alarm and its end", w)
	}
	audit := r.gated("audit", "list", "--json")
	if !strings.Contains(audit, `alarm=forced-open: door forced open`) || !strings.Contains(audit, `alarm=forced-open lasted=`) {
		t.Errorf("the forced-open alarm's start and end are not in the audit log:\n%s", audit)
	}
	if !strings.Contains(r.log.String(), "ALARM: door forced open") {
		t.Errorf("the journal (daemon log) has no forced-open alarm")
	}
}

// TestDoorExitAndHeldOpenE2E: the exit button opens the door like a grant
// (audited as one); the door then propped open raises held open after
// door.held_open (2 s here) and clears when it is shut; neither a door
// opened by the button is forced open.
func TestDoorExitAndHeldOpenE2E(t *testing.T) {
	r, board := startDoorRig(t)
	board.SetInput(1, true) // pressed
	r.expectOpen("the exit button", 3*time.Second)
	board.SetInput(1, false)
	board.SetInput(0, false) // the door opens during the pulse
	time.Sleep(time.Second)
	if s := r.gated("status"); strings.Contains(s, "ALARM") || !strings.Contains(s, "granted exit 1") {
		t.Fatalf("status 1 s after the exit button opened the door:\n%s\nwant no alarm and one exit grant", s)
	}
	waitFor(t, "status shows held open", 5*time.Second, func() bool {
		return strings.Contains(r.gated("status"), "ALARM: door held open for longer than 2s: please close the door")
	})
	if s := r.gated("status"); strings.Contains(s, "forced") {
		t.Errorf("a door opened by the exit button shows forced open:\n%s", s)
	}
	waitFor(t, "the buzzer (CH2) sounds", 2*time.Second, func() bool { return board.Coil(1) })
	board.SetInput(0, true)
	waitFor(t, "the alarm clears", 5*time.Second, func() bool { return !strings.Contains(r.gated("status"), "ALARM") })
	audit := r.gated("audit", "list", "--json")
	for _, want := range []string{"method=exit reader=exit-button", "alarm=held-open: door held open", "alarm=held-open lasted="} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log has no %q:\n%s", want, audit)
		}
	}
	var b bytes.Buffer
	for _, w := range board.Writes() {
		fmt.Fprintf(&b, "%d:%v ", w.Coil, w.On)
	}
	if got := b.String(); got != "1:true 1:false " {
		t.Errorf("coil writes = %q, want CH2 on once and off once", got)
	}
}
