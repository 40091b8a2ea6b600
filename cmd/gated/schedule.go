package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/api"
)

// residentSet is `gated resident set ID [--valid-from D] [--valid-until D]
// [--profile P] [--group G] [--card N] [--clear-passback]`: when a
// resident (or one of their cards, with --card) may pass. Flags not given
// are left as they are; "none" clears one.
func residentSet(e *env, args []string) error {
	fs := newFlags(e, "resident set", "ID [--valid-from DATE] [--valid-until DATE] [--profile NAME] [--group NAME] [--card NUMBER] [--clear-passback]")
	cf := addClientFlags(e, fs)
	var from, until, profile, group optString
	fs.Var(&from, "valid-from", `first day (YYYY-MM-DD, from 00:00) or moment (RFC 3339) the access holds; "none" clears`)
	fs.Var(&until, "valid-until", `last day (YYYY-MM-DD, to 24:00) or the moment (RFC 3339) it ends; "none" clears`)
	fs.Var(&profile, "profile", `time profile of [schedule.profiles]; "none" clears`)
	fs.Var(&group, "group", `group of [schedule.groups] (its profile applies when no --profile); "none" clears`)
	card := fs.String("card", "", "set the dates of this card of the resident instead (a card has no profile of its own)")
	clearPB := fs.Bool("clear-passback", false, "forget which side of an anti-passback gate the resident is on")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	in := api.Access{Card: *card, ClearPassback: *clearPB}
	if in.ValidFrom, err = dateFlag(from.v, false); err != nil {
		return usageError{"--valid-from: " + err.Error()}
	}
	if in.ValidUntil, err = dateFlag(until.v, true); err != nil {
		return usageError{"--valid-until: " + err.Error()}
	}
	in.Profile, in.Group = noneFlag(profile.v), noneFlag(group.v)
	if in.ValidFrom == nil && in.ValidUntil == nil && in.Profile == nil && in.Group == nil && !in.ClearPassback {
		return usageError{"nothing to set: give --valid-from, --valid-until, --profile, --group or --clear-passback"}
	}
	out, err := cf.client().SetAccess(e.ctx, pos[0], in)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, out)
	}
	who := pos[0]
	if out.Card != "" {
		who += " card " + out.Card
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", who, describeAccess(out))
	return nil
}

// dateFlag reads a date flag: nil when not given, a zero time for "none".
// A bare date is local midnight, or for an end the midnight after it (the
// whole day is included).
func dateFlag(v *string, end bool) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	var t time.Time
	switch s := strings.TrimSpace(*v); {
	case s == "none":
	case len(s) == len("2006-01-02"):
		d, err := time.ParseInLocation("2006-01-02", s, time.Local)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		t = d
	default:
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC 3339 (2026-06-30T18:00:00+08:00)", s)
		}
		t = d
	}
	return &t, nil
}

func noneFlag(v *string) *string {
	if v != nil && *v == "none" {
		empty := ""
		return &empty
	}
	return v
}

func describeAccess(a api.AccessState) string {
	var parts []string
	if !a.ValidFrom.IsZero() {
		parts = append(parts, "valid from "+a.ValidFrom.Local().Format("2006-01-02 15:04"))
	}
	if !a.ValidUntil.IsZero() {
		parts = append(parts, "valid until "+a.ValidUntil.Local().Format("2006-01-02 15:04"))
	}
	if a.Profile != "" {
		parts = append(parts, "profile "+a.Profile)
	}
	if a.Group != "" {
		parts = append(parts, "group "+a.Group)
	}
	if len(parts) == 0 {
		return "valid at all times"
	}
	return strings.Join(parts, ", ")
}
