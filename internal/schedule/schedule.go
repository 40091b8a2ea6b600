// Package schedule decides whether a person's access holds at a moment:
// validity windows (valid from, valid until) and named weekly time
// profiles ("workdays 08:00-18:00"), the working days taken from the
// holiday calendar that also counts deletion deadlines (internal/retention).
//
// It only computes, from what it is given (a Validity, a time, a calendar);
// it reads no file, keeps no state and never opens a door. The gate asks it
// for every method (face, card, card+PIN, the kiosk's identification, a
// visitor's pass); anti-passback is in passback.go.
package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reason is what a person refused by a window or a profile is told.
const Reason = "your access is not valid at this time: ask the property office"

// ErrOutside is wrapped by every refusal of Check (an *OutsideError).
var ErrOutside = errors.New("schedule: access not valid at this time")

// ErrSyntax is wrapped by every error about a window's or a profile's text.
var ErrSyntax = errors.New("schedule: bad time window")

// OutsideError says which rule refused: its Cause is for the audit log
// and staff ("valid until 2026-06-30T00:00:00+08:00", "profile cleaners"),
// never for the person at the gate (they are told Reason).
type OutsideError struct{ Cause string }

func (e *OutsideError) Error() string { return "schedule: not valid at this time: " + e.Cause }
func (e *OutsideError) Unwrap() error { return ErrOutside }

// Calendar says which days are working days (retention.Calendar).
type Calendar interface {
	Working(t time.Time) bool
}

// day kinds a window may name, besides weekdays.
const (
	dayWorkdays = 1 << 7 // working days of the calendar
	dayOffdays  = 1 << 8 // the other days (weekends, holidays)
)

// Window is one weekly window: on the days it names, from From to Until
// (minutes after midnight, Until up to 24*60). A window whose Until is
// before its From runs past midnight into the next day: "daily
// 22:00-06:00" holds on Tuesday 03:00 because it started on Monday.
type Window struct {
	days        uint16 // bit i: time.Weekday(i); dayWorkdays, dayOffdays
	From, Until int
	text        string
}

func (w Window) String() string { return w.text }

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindow reads a window: days, a space, then HH:MM-HH:MM. Days are a
// comma-separated list of weekdays (mon ... sun), ranges of them
// (mon-fri, fri-mon), "daily", "workdays" (the calendar's working days:
// Monday to Friday except holidays, plus make-up working days) and
// "offdays" (the rest). "mon-fri" ignores the calendar; "workdays" obeys
// it. Examples: "workdays 08:00-18:00", "sat,sun 09:00-12:00", "daily
// 22:00-06:00", "daily 00:00-24:00".
func ParseWindow(s string) (Window, error) {
	w := Window{text: strings.Join(strings.Fields(s), " ")}
	f := strings.Fields(s)
	if len(f) != 2 {
		return Window{}, fmt.Errorf("%w: %q: want days and hours, as in \"workdays 08:00-18:00\"", ErrSyntax, s)
	}
	for _, item := range strings.Split(strings.ToLower(f[0]), ",") {
		switch item {
		case "daily":
			w.days |= 0x7f
			continue
		case "workdays":
			w.days |= dayWorkdays
			continue
		case "offdays":
			w.days |= dayOffdays
			continue
		}
		a, b, isRange := strings.Cut(item, "-")
		da, ok := weekdays[a]
		if !ok {
			return Window{}, fmt.Errorf("%w: %q: %q is not a day (mon ... sun, daily, workdays, offdays)", ErrSyntax, s, item)
		}
		db := da
		if isRange {
			if db, ok = weekdays[b]; !ok {
				return Window{}, fmt.Errorf("%w: %q: %q is not a range of days such as mon-fri", ErrSyntax, s, item)
			}
		}
		for d := da; ; d = (d + 1) % 7 {
			w.days |= 1 << d
			if d == db {
				break
			}
		}
	}
	from, until, ok := strings.Cut(f[1], "-")
	var err error
	if !ok {
		return Window{}, fmt.Errorf("%w: %q: want hours as HH:MM-HH:MM", ErrSyntax, s)
	}
	if w.From, err = clock(from, false); err != nil {
		return Window{}, fmt.Errorf("%w: %q: %v", ErrSyntax, s, err)
	}
	if w.Until, err = clock(until, true); err != nil {
		return Window{}, fmt.Errorf("%w: %q: %v", ErrSyntax, s, err)
	}
	if w.From == w.Until {
		return Window{}, fmt.Errorf("%w: %q: an empty window (for all day write 00:00-24:00)", ErrSyntax, s)
	}
	return w, nil
}

// clock reads HH:MM as minutes after midnight; 24:00 only for an end.
func clock(s string, end bool) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	for i, c := range s {
		if i != 2 && (c < '0' || c > '9') {
			return 0, fmt.Errorf("%q is not HH:MM", s)
		}
	}
	h = int(s[0]-'0')*10 + int(s[1]-'0')
	m = int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case h == 24 && m == 0 && end:
		return 24 * 60, nil
	case h > 23 || m > 59:
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59, or 24:00 to end a window)", s)
	}
	return h*60 + m, nil
}

// on reports whether the window names the day of t (t in the profile's
// location).
func (w Window) on(t time.Time, cal Calendar) bool {
	if w.days&(1<<t.Weekday()) != 0 {
		return true
	}
	if w.days&(dayWorkdays|dayOffdays) == 0 {
		return false
	}
	working := cal.Working(t)
	return (working && w.days&dayWorkdays != 0) || (!working && w.days&dayOffdays != 0)
}

// holds reports whether the window holds at t, in t's location.
func (w Window) holds(t time.Time, cal Calendar) bool {
	min := t.Hour()*60 + t.Minute()
	if w.From < w.Until {
		return min >= w.From && min < w.Until && w.on(t, cal)
	}
	// Past midnight: the evening of t's day, or the morning after a day
	// the window started on.
	if min >= w.From && w.on(t, cal) {
		return true
	}
	y, m, d := t.Date()
	yesterday := time.Date(y, m, d-1, 12, 0, 0, 0, t.Location())
	return min < w.Until && w.on(yesterday, cal)
}

// Profile is a named set of weekly windows; it holds when any does.
type Profile struct {
	Name    string
	Windows []Window
}

// ParseProfile reads a profile's windows (ParseWindow, one a string).
func ParseProfile(name string, windows []string) (Profile, error) {
	if len(windows) == 0 {
		return Profile{}, fmt.Errorf("%w: profile %q has no windows", ErrSyntax, name)
	}
	p := Profile{Name: name}
	for _, s := range windows {
		w, err := ParseWindow(s)
		if err != nil {
			return Profile{}, fmt.Errorf("profile %q: %w", name, err)
		}
		p.Windows = append(p.Windows, w)
	}
	return p, nil
}

// Set is the gate's profiles and the groups they are assigned to, on a
// calendar in a time zone. The zero of a *Set (nil) has no profiles: a
// person with a profile or a group is then refused (fail closed).
type Set struct {
	profiles map[string]Profile
	groups   map[string]string // group -> profile
	cal      Calendar
	loc      *time.Location
}

// NewSet checks that every group names a profile of profiles; cal says
// which days work and loc is the time zone windows are read in.
func NewSet(profiles []Profile, groups map[string]string, cal Calendar, loc *time.Location) (*Set, error) {
	if cal == nil || loc == nil {
		return nil, errors.New("schedule: a calendar and a time zone are required")
	}
	s := &Set{profiles: map[string]Profile{}, groups: map[string]string{}, cal: cal, loc: loc}
	for _, p := range profiles {
		if _, dup := s.profiles[p.Name]; dup {
			return nil, fmt.Errorf("%w: profile %q is defined twice", ErrSyntax, p.Name)
		}
		s.profiles[p.Name] = p
	}
	for g, p := range groups {
		if _, ok := s.profiles[p]; !ok {
			return nil, fmt.Errorf("%w: group %q names profile %q, which is not defined", ErrSyntax, g, p)
		}
		s.groups[g] = p
	}
	return s, nil
}

// HasProfile and HasGroup say whether a name is defined (staff may only
// assign those).
func (s *Set) HasProfile(name string) bool { _, ok := s.lookup(name); return ok }

// HasGroup: see HasProfile.
func (s *Set) HasGroup(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.groups[name]
	return ok
}

// Profiles lists the profile names, sorted.
func (s *Set) Profiles() []string {
	if s == nil {
		return nil
	}
	var out []string
	for n := range s.profiles {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *Set) lookup(name string) (Profile, bool) {
	if s == nil {
		return Profile{}, false
	}
	p, ok := s.profiles[name]
	return p, ok
}

// Validity is what limits one person's, card's or pass's access: a window
// of dates (From inclusive, Until exclusive; zero: open) and a profile,
// named directly or through a group (Profile wins; neither: any time).
type Validity struct {
	From, Until time.Time
	Profile     string
	Group       string
}

// Zero reports whether v limits nothing.
func (v Validity) Zero() bool {
	return v.From.IsZero() && v.Until.IsZero() && v.Profile == "" && v.Group == ""
}

// Check returns nil when every Validity holds at now, else an
// *OutsideError (wrapping ErrOutside) naming the first that does not. A
// profile or group the set does not define refuses (it was removed from
// the configuration: fail closed). s may be nil when no profiles are
// configured; windows of dates are then still checked.
func (s *Set) Check(now time.Time, vs ...Validity) error {
	for _, v := range vs {
		if !v.From.IsZero() && now.Before(v.From) {
			return &OutsideError{Cause: "valid from " + v.From.In(s.location()).Format(time.RFC3339)}
		}
		if !v.Until.IsZero() && !now.Before(v.Until) {
			return &OutsideError{Cause: "valid until " + v.Until.In(s.location()).Format(time.RFC3339)}
		}
		name := v.Profile
		if name == "" && v.Group != "" {
			if s == nil || s.groups[v.Group] == "" {
				return &OutsideError{Cause: "group " + v.Group + " has no profile"}
			}
			name = s.groups[v.Group]
		}
		if name == "" {
			continue
		}
		p, ok := s.lookup(name)
		if !ok {
			return &OutsideError{Cause: "profile " + name + " is not defined"}
		}
		if !p.holds(now.In(s.loc), s.cal) {
			return &OutsideError{Cause: "profile " + name}
		}
	}
	return nil
}

func (s *Set) location() *time.Location {
	if s == nil {
		return time.UTC
	}
	return s.loc
}

func (p Profile) holds(t time.Time, cal Calendar) bool {
	for _, w := range p.Windows {
		if w.holds(t, cal) {
			return true
		}
	}
	return false
}
