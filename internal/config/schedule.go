package config

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gated-dev/gated/internal/schedule"
)

// Schedule is [schedule]: the named weekly time profiles staff may assign
// to residents, the groups that stand for a profile, and anti-passback.
// Profiles live here, not in the store: they are the property's rules,
// few and rarely changed, reviewed with the rest of the file and checked
// by gated check; which resident has which is staff's daily work and is
// in the store (gated resident set).
//
//	[schedule.profiles]
//	cleaners = ["workdays 08:00-18:00"]
//	[schedule.groups]
//	cleaning-crew = "cleaners"
//	[schedule.anti_passback]
//	entry = ["front-in"]
//	exit = ["front-out"]
//
// UnlockProfile names a profile during which the door is held unlocked
// (a scheduled unlock window: a market gate open 07:00-09:00); "" is off,
// the default.
type Schedule struct {
	UnlockProfile string              `toml:"unlock_profile"`
	Profiles      map[string][]string `toml:"profiles"`
	Groups        map[string]string   `toml:"groups"`
	AntiPassback  AntiPassback        `toml:"anti_passback"`
}

// AntiPassback names the entry and exit card readers; both empty: off.
type AntiPassback struct {
	Entry []string `toml:"entry"`
	Exit  []string `toml:"exit"`
}

// ScheduleProfiles parses the profiles, sorted by name (checked by Load).
func (c *Config) ScheduleProfiles() ([]schedule.Profile, error) {
	names := make([]string, 0, len(c.Schedule.Profiles))
	for n := range c.Schedule.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []schedule.Profile
	for _, n := range names {
		p, err := schedule.ParseProfile(n, c.Schedule.Profiles[n])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Config) checkSchedule() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	s := c.Schedule
	for n, ws := range s.Profiles {
		if !nameRE.MatchString(n) {
			bad("schedule.profiles."+n, "not a short name", "use lower-case letters, digits, - and _ (up to 32)")
		}
		if _, err := schedule.ParseProfile(n, ws); err != nil {
			bad("schedule.profiles."+n, err.Error(), `write windows as "workdays 08:00-18:00", "sat,sun 09:00-12:00" or "daily 22:00-06:00"`)
		}
	}
	for g, p := range s.Groups {
		if !nameRE.MatchString(g) {
			bad("schedule.groups."+g, "not a short name", "use lower-case letters, digits, - and _ (up to 32)")
		}
		if _, ok := s.Profiles[p]; !ok {
			bad("schedule.groups."+g, fmt.Sprintf("profile %q is not in [schedule.profiles]", p), "define it, or name one that is")
		}
	}
	if u := s.UnlockProfile; u != "" {
		if _, ok := s.Profiles[u]; !ok {
			bad("schedule.unlock_profile", fmt.Sprintf("profile %q is not in [schedule.profiles]", u), `define it (e.g. market = ["workdays 07:00-09:00"]), or leave unlock_profile out (off)`)
		}
	}
	ap := s.AntiPassback
	if len(ap.Entry) == 0 && len(ap.Exit) == 0 {
		return errs
	}
	if len(ap.Entry) == 0 || len(ap.Exit) == 0 {
		bad("schedule.anti_passback", "needs both entry and exit readers", "name the card readers on each side, or leave both out (off)")
	}
	for _, side := range []struct {
		field string
		names []string
	}{{"entry", ap.Entry}, {"exit", ap.Exit}} {
		for _, n := range side.names {
			i := slices.IndexFunc(c.Readers, func(r Reader) bool { return r.Name == n })
			switch {
			case i < 0 || c.Readers[i].Type == "keypad":
				bad("schedule.anti_passback."+side.field, fmt.Sprintf("%q is not a card reader of this file", n), "name an ascii, wiegand or osdp reader")
			case side.field == "exit" && slices.Contains(ap.Entry, n):
				bad("schedule.anti_passback.exit", fmt.Sprintf("%q is also an entry reader", n), "a reader is on one side of the door")
			}
		}
	}
	return errs
}
