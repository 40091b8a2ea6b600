package schedule

import "time"

// Holds reports whether the profile called name holds at t (read in the
// set's time zone, on its calendar). An undefined profile, or a nil set,
// holds never: a door unlock window that is not defined keeps the door
// locked.
func (s *Set) Holds(name string, t time.Time) bool {
	p, ok := s.lookup(name)
	return ok && p.holds(t.In(s.loc), s.cal)
}

// untilHorizon is how far ahead Until looks for a profile's end.
const untilHorizon = 8 * 24 * time.Hour

// Until returns when a profile that holds at t stops holding: the first
// whole minute after t at which it does not hold, in the set's time zone
// (windows end at whole minutes). It returns the zero time when the
// profile does not hold at t, or holds for every minute of the next eight
// days (a profile such as "daily 00:00-24:00").
func (s *Set) Until(name string, t time.Time) time.Time {
	if !s.Holds(name, t) {
		return time.Time{}
	}
	t = t.In(s.loc)
	m := t.Truncate(time.Minute).Add(time.Minute)
	for end := t.Add(untilHorizon); m.Before(end); m = m.Add(time.Minute) {
		if !s.Holds(name, m) {
			return m
		}
	}
	return time.Time{}
}

// Location is the time zone windows are read in (UTC for a nil set).
func (s *Set) Location() *time.Location { return s.location() }
