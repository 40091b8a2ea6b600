package main

import (
	"os"
	"strings"
	"testing"
)

// Red team, issue 15 (unlock windows). A careless property manager names
// as the unlock window a profile that holds all the time ("daily
// 00:00-24:00", or "workdays" and "offdays" together), or writes a
// market's hours the wrong way round ("daily 09:00-07:00" runs past
// midnight: 22 h a day). gated check said "ok" and the door then stood
// unlocked day and night. It still starts (the windows are valid, and an
// office may mean it), but check warns with the hours a week.
func TestRedCheckUnlockProfileHoldsMostOfTheWeek(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := gated(t, nil, "keygen", "--out", dir+"/kek"); code != 0 {
		t.Fatalf("keygen = %d, %q", code, errs)
	}
	check := func(windows string) (int, string) {
		p := dir + "/gated.toml"
		os.WriteFile(p, []byte(`version = 1
[device]
data_dir = "`+dir+`/data"
key_file = "`+dir+`/kek"
[face]
enabled = false
[[reader]]
name = "front"
type = "ascii"
device = "/dev/ttyUSB0"
[relay]
type = "lcus"
device = "/dev/ttyUSB1"
[privacy]
controller = "PM"
contact = "office"
notice_version = "1"
time_zone = "UTC"
[schedule]
unlock_profile = "market"
[schedule.profiles]
market = `+windows+`
`), 0o600)
		code, _, errs := gated(t, nil, "check", "--config", p)
		return code, errs
	}
	for _, c := range []struct{ windows, want string }{
		{`["daily 00:00-24:00"]`, "at every minute of the next 7 days: gated will never lock the door"},
		{`["workdays 00:00-24:00", "offdays 00:00-24:00"]`, "at every minute of the next 7 days: gated will never lock the door"},
		{`["daily 09:00-07:00"]`, "154 h of the next 7 days"},
		{`["workdays 07:00-09:00"]`, ""},
	} {
		code, errs := check(c.windows)
		if code != 0 {
			t.Errorf("check with market = %s: exit %d, %q; want 0 (a warning at most)", c.windows, code, errs)
		}
		got := ""
		for _, l := range strings.Split(errs, "\n") {
			if strings.Contains(l, "warning: schedule.unlock_profile") {
				got = l
			}
		}
		switch {
		case c.want == "" && got != "":
			t.Errorf("check with market = %s warns %q, want no warning", c.windows, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("check with market = %s: warning %q, want one with %q", c.windows, got, c.want)
		}
	}
}
