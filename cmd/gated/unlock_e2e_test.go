package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// drainLocks empties the relay's lock commands seen so far.
func (r *gateRig) drainLocks() {
	for {
		select {
		case <-r.locks:
		default:
			return
		}
	}
}

// TestUnlockWindowE2E runs the real binary with schedule.unlock_profile
// naming a window that began an hour ago and ends at the next whole
// minute at least 30 s away (the binary has no test clock: the window is
// built around the moment the test runs, in UTC). The LCUS relay on its pty
// goes on at start and stays on through a card+PIN grant's pulse; a clean
// stop locks it, a restart inside the window and a restart after a crash
// unlock it again; gated status says until when; at the window's end the
// relay goes off and gated watch and the audit log show the end.
func TestUnlockWindowE2E(t *testing.T) {
	now := time.Now().UTC()
	end := now.Truncate(time.Minute).Add(time.Minute)
	if end.Sub(now) < 30*time.Second {
		end = end.Add(time.Minute)
	}
	r := startRigWith(t, map[string]string{
		"face.enabled":            "false",
		"privacy.time_zone":       `"UTC"`,
		"schedule.unlock_profile": `"market"`,
		"schedule.profiles":       fmt.Sprintf(`{ market = ["daily %s-%s"] }`, hhmm(-time.Hour), end.Format("15:04")),
	})
	r.expectOpen("the relay at the start of a daemon inside the window", 5*time.Second)
	until := "door unlocked by schedule until " + end.Format("15:04")
	if s := r.gated("status"); !strings.Contains(s, until) || strings.Contains(s, "ALARM") {
		t.Errorf("gated status inside the window:\n%s\nwant %q and no alarm", s, until)
	}

	// A resident's card+PIN during the window: a pulse, and no lock at its
	// end (the relay pulse is 300 ms).
	r.addResident("Vendor", "6001", "2580")
	r.drainLocks()
	r.swipe("6001", "2580")
	r.expectOpen("card+PIN during the window", 5*time.Second)
	select {
	case <-r.locks:
		t.Fatal("the relay was locked after a grant's pulse during the window")
	case <-time.After(1500 * time.Millisecond):
	}

	// A clean stop inside the window locks; the daemon started again
	// unlocks. A crash (SIGKILL): the next start locks first, then unlocks.
	r.stop()
	select {
	case <-r.locks:
	case <-time.After(5 * time.Second):
		t.Fatal("no lock command when the daemon stopped inside the window")
	}
	r.start()
	r.expectOpen("the relay after a restart inside the window", 5*time.Second)
	r.kill()
	r.drainLocks()
	r.start()
	select {
	case <-r.locks:
	default:
		t.Error("the daemon started after a crash did not lock before anything else")
	}
	r.expectOpen("the relay after a crash and a restart inside the window", 5*time.Second)
	if time.Until(end) < 5*time.Second {
		t.Fatalf("the restarts took until %s, too close to the window's end (%s) to watch it", time.Now().UTC().Format(time.TimeOnly), end.Format(time.TimeOnly))
	}

	watched := r.watchDoor(t)
	r.drainLocks()
	select {
	case <-r.locks:
	case <-time.After(time.Until(end) + 5*time.Second):
		t.Fatalf("the relay was not locked by %s, 5 s after the window's end", end.Add(5*time.Second).Format(time.TimeOnly))
	}
	waitFor(t, "status no longer shows the window", 3*time.Second, func() bool {
		return !strings.Contains(r.gated("status"), "unlocked by schedule")
	})
	select {
	case <-r.opens:
		t.Error("the relay went on again after the window's end")
	case <-time.After(1500 * time.Millisecond):
	}
	if w := watched(); !strings.Contains(w, "door     LOCKED schedule: door locked by schedule: the window ended") {
		t.Errorf("gated watch = %q, want the window's end", w)
	}
	audit := r.gated("audit", "list", "--json", "--limit", "1000")
	for _, want := range []string{
		"unlock profile=market until=" + end.Format(time.RFC3339) + ": " + until + " (gated started inside the window)",
		"door locked: gated stopping",
		"door locked: the window ended",
	} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log has no %q:\n%s", want, audit)
		}
	}
	if n := strings.Count(audit, "(gated started inside the window)"); n != 3 {
		t.Errorf("audit entries of a start inside the window = %d, want 3 (start, restart, restart after the crash)", n)
	}
}
