package config_test

import (
	"github.com/gated-dev/gated/internal/config"
	"strings"
	"testing"
)

func TestSchedule(t *testing.T) {
	good := minimal + `
[schedule.profiles]
cleaners = ["workdays 08:00-18:00", "sat 09:00-12:00"]
[schedule.groups]
crew = "cleaners"
`
	c, err := config.Parse("gated.toml", []byte(good))
	if err != nil {
		t.Fatalf("Parse(profiles and a group) = %v, want nil", err)
	}
	if c.Schedule.UnlockProfile != "" {
		t.Errorf("schedule.unlock_profile = %q by default, want \"\" (off)", c.Schedule.UnlockProfile)
	}
	u, err := config.Parse("gated.toml", []byte(minimal+"[schedule]\nunlock_profile = \"market\"\n[schedule.profiles]\nmarket = [\"workdays 07:00-09:00\"]\n"))
	if err != nil || u.Schedule.UnlockProfile != "market" {
		t.Errorf("Parse(unlock_profile market, defined) = %v, %v; want market", u, err)
	}
	ps, err := c.ScheduleProfiles()
	if err != nil || len(ps) != 1 || ps[0].Name != "cleaners" || len(ps[0].Windows) != 2 {
		t.Errorf("ScheduleProfiles = %+v, %v; want cleaners with 2 windows", ps, err)
	}
	for _, tt := range []struct{ name, file, want string }{
		{"bad window", minimal + "[schedule.profiles]\ncleaners = [\"weekdays 8-18\"]\n", "schedule.profiles.cleaners"},
		{"group of nothing", minimal + "[schedule.groups]\ncrew = \"cleaners\"\n", `schedule.groups.crew: profile "cleaners" is not in [schedule.profiles]`},
		{"entry only", minimal + "[schedule.anti_passback]\nentry = [\"front\"]\n", "needs both entry and exit readers"},
		{"unknown reader", minimal + "[schedule.anti_passback]\nentry = [\"front\"]\nexit = [\"back\"]\n", `"back" is not a card reader`},
		{"unlock of nothing", minimal + "[schedule]\nunlock_profile = \"market\"\n", `schedule.unlock_profile: profile "market" is not in [schedule.profiles]`},
		{"misspelt", minimal + "[schedule]\nprofile = 1\n", "schedule.profile: unknown setting"},
	} {
		_, err := config.Parse("gated.toml", []byte(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
