package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hhmm is the UTC time of day of now+d, as a window bound.
func hhmm(d time.Duration) string { return time.Now().UTC().Add(d).Format("15:04") }

// TestScheduleE2E runs the real binary with profiles built around the
// moment the test runs (UTC; windows may run past midnight) and a holiday
// calendar that makes today a holiday: a tenant after valid_until is
// refused at card+PIN and let in again when staff extend the lease; a
// cleaner outside their hours is refused, inside them let in; a
// working-days profile is refused on a holiday of configs' calendar. Each
// refusal is audited with the one reason.
func TestScheduleE2E(t *testing.T) {
	today := time.Now().UTC()
	holidays := filepath.Join(t.TempDir(), "holidays.txt")
	cal := fmt.Sprintf("%s holiday test day\n%s holiday test day\n", today.Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02"))
	if err := os.WriteFile(holidays, []byte(cal), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles := fmt.Sprintf(`{ day = ["daily %s-%s"], night = ["daily %s-%s"], office = ["workdays 00:00-24:00"] }`,
		hhmm(-time.Hour), hhmm(time.Hour), hhmm(2*time.Hour), hhmm(3*time.Hour))
	r := startRigWith(t, map[string]string{
		"privacy.time_zone": `"UTC"`,
		"privacy.holidays":  strconv.Quote(holidays),
		"schedule.profiles": profiles,
		"schedule.groups":   `{ cleaning-crew = "night" }`,
	})

	tenant := r.addResident("Tenant", "4001", "1357")
	r.gated("resident", "set", tenant, "--valid-until", time.Now().Add(-time.Minute).Format(time.RFC3339))
	r.swipe("4001", "1357")
	r.expectShut("tenant after valid_until", 2*time.Second)
	r.gated("resident", "set", tenant, "--valid-until", time.Now().AddDate(0, 1, 0).Format("2006-01-02"))
	if show := r.gated("resident", "show", tenant); !strings.Contains(show, "access: valid until") {
		t.Errorf("resident show = %q, want the access line", show)
	}
	r.swipe("4001", "1357")
	r.expectOpen("tenant with the lease extended", 5*time.Second)
	r.drainOpens()

	cleaner := r.addResident("Cleaner", "4002", "2468")
	r.gated("resident", "set", cleaner, "--group", "cleaning-crew") // the crew works at night
	r.swipe("4002", "2468")
	r.expectShut("cleaner outside hours (group's profile)", 2*time.Second)
	r.gated("resident", "set", cleaner, "--profile", "office") // working days only: today is a holiday
	r.swipe("4002", "2468")
	r.expectShut("cleaner on a holiday (workdays profile)", 2*time.Second)
	r.gated("resident", "set", cleaner, "--profile", "day") // inside hours
	r.swipe("4002", "2468")
	r.expectOpen("cleaner inside hours", 5*time.Second)
	r.drainOpens()

	// Staff can only assign what the file defines.
	if out, err := r.gatedErr("", "resident", "set", cleaner, "--profile", "weekend"); err == nil || !strings.Contains(out, `profile "weekend" is not in [schedule.profiles]`) {
		t.Errorf("resident set --profile weekend = %v %q, want refused naming the file's section", err, out)
	}

	audit := r.gated("audit", "list", "--limit", "1000")
	if n := strings.Count(audit, "your access is not valid at this time: ask the property office"); n != 3 {
		t.Errorf("audit entries with the schedule reason = %d, want 3 (tenant, crew at night, holiday)\n%s", n, audit)
	}
	for _, want := range []string{"access valid until", "access valid profile day", "access valid group cleaning-crew"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks staff's change %q", want)
		}
	}
}

// TestAntiPassbackE2E: front is the entry reader, back the exit. A card
// that entered is refused at the entry (passed back over the fence) until
// it leaves by the exit, also after a restart of the daemon; staff can
// clear it.
func TestAntiPassbackE2E(t *testing.T) {
	r := startRigWith(t, map[string]string{"schedule.anti_passback": `{ entry = ["front"], exit = ["back"] }`})
	id := r.addResident("Li", "5001", "1470")
	r.swipe("5001", "1470")
	r.expectOpen("first entry", 5*time.Second)
	r.drainOpens()
	r.swipe("5001", "1470")
	r.expectShut("second entry without leaving", 2*time.Second)
	r.swipeBack("5001", "1470")
	r.expectOpen("exit", 5*time.Second)
	r.drainOpens()
	r.swipe("5001", "1470")
	r.expectOpen("entry after the exit", 5*time.Second)
	r.drainOpens()

	r.stop()
	r.start()
	r.swipe("5001", "1470")
	r.expectShut("entry again after a restart", 2*time.Second)
	r.gated("resident", "set", id, "--clear-passback")
	r.swipe("5001", "1470")
	r.expectOpen("entry after staff cleared anti-passback", 5*time.Second)

	audit := r.gated("audit", "list", "--limit", "1000")
	if n := strings.Count(audit, "this card has already entered"); n != 2 {
		t.Errorf("audit entries refused by anti-passback = %d, want 2\n%s", n, audit)
	}
	if !strings.Contains(audit, "anti-passback cleared") {
		t.Errorf("audit lacks staff clearing anti-passback")
	}
}
