// Package retention decides when face data must go: when a resident's
// consent has run out (the configured retention period), when no consent
// stands any more, and by when a requested deletion is due (15 working days,
// counted on a holiday calendar).
//
// It only computes; the daemon acts on its answers. It reads the holiday
// calendar file and nothing else.
package retention

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// LegalWorkingDays is how long the law allows between a request to delete
// face data and its deletion (the 2025 Facial Recognition Measures: 15
// working days). gated deletes at once; the limit is what reports check.
const LegalWorkingDays = 15

// Calendar says which days are working days: Monday to Friday, except
// listed holidays, plus listed make-up working days on weekends (China moves
// weekends around public holidays). Dates are civil dates in Location.
type Calendar struct {
	Location *time.Location
	holidays map[civil]string
	workdays map[civil]string
}

type civil struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil{y, m, d}
}

// Weekdays is a calendar with no holidays: Monday to Friday in loc.
func Weekdays(loc *time.Location) *Calendar {
	return &Calendar{Location: loc, holidays: map[civil]string{}, workdays: map[civil]string{}}
}

// ErrCalendar is wrapped by every error about a calendar file.
var ErrCalendar = errors.New("retention: bad holiday calendar")

// ParseCalendar reads a holiday calendar: one date per line,
//
//	2026-10-01 holiday National Day
//	2026-10-10 workday make-up working day (a Saturday)
//
// with "#" comments and blank lines allowed. name is the file's name for
// errors.
func ParseCalendar(name string, r io.Reader, loc *time.Location) (*Calendar, error) {
	c := Weekdays(loc)
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: %s:%d: want \"YYYY-MM-DD holiday|workday [name]\"", ErrCalendar, name, n)
		}
		t, err := time.ParseInLocation("2006-01-02", f[0], loc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %q is not a date YYYY-MM-DD", ErrCalendar, name, n, f[0])
		}
		label := strings.Join(f[2:], " ")
		d := dateOf(t)
		if _, dup := c.holidays[d]; dup {
			return nil, fmt.Errorf("%w: %s:%d: %s is listed twice", ErrCalendar, name, n, f[0])
		}
		if _, dup := c.workdays[d]; dup {
			return nil, fmt.Errorf("%w: %s:%d: %s is listed twice", ErrCalendar, name, n, f[0])
		}
		switch f[1] {
		case "holiday":
			c.holidays[d] = label
		case "workday":
			c.workdays[d] = label
		default:
			return nil, fmt.Errorf("%w: %s:%d: %q: say holiday or workday", ErrCalendar, name, n, f[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCalendar, name, err)
	}
	return c, nil
}

// Working reports whether the day of t (in the calendar's location) is a
// working day.
func (c *Calendar) Working(t time.Time) bool {
	d := dateOf(t.In(c.Location))
	if _, ok := c.workdays[d]; ok {
		return true
	}
	if _, ok := c.holidays[d]; ok {
		return false
	}
	wd := t.In(c.Location).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// Deadline is the end of the n-th working day after the day of t: a request
// made on a Friday with n = 1 is due by the end of Monday (if Monday works).
func (c *Calendar) Deadline(t time.Time, n int) time.Time {
	t = t.In(c.Location)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.Location)
	for left := n; left > 0; {
		day = day.AddDate(0, 0, 1)
		if c.Working(day) {
			left--
		}
	}
	return day.AddDate(0, 0, 1).Add(-time.Nanosecond)
}

// Consent is what Due needs to know of a consent record.
type Consent struct {
	GivenAt     time.Time
	WithdrawnAt time.Time // zero while it stands
}

// Due says whether a resident's face data must be destroyed at now, why,
// and since when: when the latest standing consent is older than the
// retention period (since its end), or when no consent stands (since the
// last withdrawal, or now when there was never one). It returns ok = false
// while a consent stands and is within the retention period.
func Due(now time.Time, retention time.Duration, consents []Consent) (since time.Time, reason string, ok bool) {
	var latest, lastWithdrawn time.Time
	standing := false
	for _, c := range consents {
		if c.WithdrawnAt.IsZero() {
			standing = true
			if c.GivenAt.After(latest) {
				latest = c.GivenAt
			}
		} else if c.WithdrawnAt.After(lastWithdrawn) {
			lastWithdrawn = c.WithdrawnAt
		}
	}
	switch {
	case !standing && !lastWithdrawn.IsZero():
		return lastWithdrawn, "consent withdrawn", true
	case !standing:
		return now, "no consent on record", true
	case !now.Before(latest.Add(retention)):
		return latest.Add(retention), fmt.Sprintf("retention period of %d days ended", int(retention/(24*time.Hour))), true
	}
	return time.Time{}, "", false
}

// Expires returns when the face data of a resident with these consents is
// due to go, and false if it is due already or there is no standing consent.
func Expires(retention time.Duration, consents []Consent) (time.Time, bool) {
	var latest time.Time
	for _, c := range consents {
		if c.WithdrawnAt.IsZero() && c.GivenAt.After(latest) {
			latest = c.GivenAt
		}
	}
	if latest.IsZero() {
		return time.Time{}, false
	}
	return latest.Add(retention), true
}

// LoadCalendar reads the holiday calendar file at path in the IANA time
// zone (the system's when empty); with no path, Monday to Friday are the
// working days.
func LoadCalendar(path, zone string) (*Calendar, error) {
	loc := time.Local
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("retention: time zone: %w", err)
		}
		loc = l
	}
	if path == "" {
		return Weekdays(loc), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCalendar, err)
	}
	defer f.Close()
	return ParseCalendar(path, f, loc)
}
