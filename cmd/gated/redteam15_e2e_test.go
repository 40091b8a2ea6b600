package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// Red team, issue 15: attacks on the real binary.

// TestRedDoorBoardSilencedE2E: a passer-by cuts the RS-485 cable of the
// door's input board (or it loses power) and then forces the door: with
// the contact unreadable, no forced-open or held-open alarm can be raised.
// That must itself be a standing alarm (status, audit), not only a line in
// the journal, or the door is silently unguarded.
func TestRedDoorBoardSilencedE2E(t *testing.T) {
	io := serialtest.New(t)
	board := &relaytest.ModbusBoard{Address: 1}
	board.SetInput(0, true) // the door is shut
	stop := make(chan struct{})
	served := make(chan struct{})
	peer := io.OpenPeer(100 * time.Millisecond)
	go func() { board.Serve(peer, stop); close(served) }()
	r := startRigWith(t, map[string]string{
		"face.enabled": "false",
		"door.board":   fmt.Sprintf(`{type = "modbus", device = %q}`, io.Device),
		"door.contact": `{input = 1}`,
		"door.exit":    `{input = 2}`,
	})
	waitFor(t, "the daemon polls the input board", 5*time.Second, func() bool { return board.Polls() > 3 })
	if s := r.gated("status"); strings.Contains(s, "ALARM") {
		t.Fatalf("an alarm with the board answering:\n%s", s)
	}

	close(stop) // the cable is cut: the board answers no more
	<-served
	waitFor(t, "status shows that the door's inputs cannot be read", 5*time.Second, func() bool {
		return strings.Contains(r.gated("status"), "cannot be read")
	})

	again := make(chan struct{})
	t.Cleanup(func() { close(again) })
	go board.Serve(peer, again) // mended
	waitFor(t, "the alarm clears when the board answers again", 5*time.Second, func() bool {
		return !strings.Contains(r.gated("status"), "cannot be read")
	})
	audit := r.gated("audit", "list", "--json", "--limit", "1000")
	if strings.Count(audit, "cannot be read") < 2 || !strings.Contains(audit, `"alarm-cleared"`) {
		t.Errorf("the audit log lacks the unreadable inputs' alarm and its end:\n%s", audit)
	}
}

// TestRedScheduleZoneSurvivesDamagedHolidaysE2E: the holiday calendar file
// is damaged (a bad line; a full disk, an editor's half-saved file). The
// gate then counts working days Monday to Friday, as its alarm says, but it
// must still read time profiles in privacy.time_zone: falling back to the
// system zone (UTC on most images) shifted a cleaner's 08:00-18:00 by the
// zone's offset (8 hours for Asia/Shanghai: in at 01:00, out at 10:00).
func TestRedScheduleZoneSurvivesDamagedHolidaysE2E(t *testing.T) {
	t.Setenv("TZ", "UTC") // the device's system zone
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("time zone data: %v (install tzdata)", err)
	}
	at := func(d time.Duration) string { return time.Now().In(sh).Add(d).Format("15:04") }
	holidays := filepath.Join(t.TempDir(), "holidays.txt")
	if err := os.WriteFile(holidays, []byte("2026-10-01 holiday National Day\n2026-10-0\x00 holid"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRigWith(t, map[string]string{
		"privacy.time_zone": `"Asia/Shanghai"`,
		"privacy.holidays":  strconv.Quote(holidays),
		// Shanghai's working hours now; in UTC these hours are 8 hours away.
		"schedule.profiles": fmt.Sprintf(`{ day = ["daily %s-%s"] }`, at(-time.Hour), at(time.Hour)),
	})
	if s := r.gated("status"); !strings.Contains(s, "holidays") {
		t.Errorf("status does not say the holiday calendar cannot be read:\n%s", s)
	}
	id := r.addResident("Cleaner", "4101", "2468")
	r.gated("resident", "set", id, "--profile", "day")
	r.swipe("4101", "2468")
	r.expectOpen("a cleaner inside their Shanghai hours, with the holiday file damaged", 5*time.Second)
}
