package retention

import (
	"os"
	"path/filepath"

	"errors"
	"github.com/gated-dev/gated/internal/testenv"
	"strings"
	"testing"
	"time"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

// The October 2026 Golden Week, as an example of a calendar with make-up
// working days: 1-7 October off, Saturday 10 October worked.
const golden = `# example
2026-10-01 holiday National Day
2026-10-02 holiday
2026-10-03 holiday
2026-10-04 holiday
2026-10-05 holiday
2026-10-06 holiday
2026-10-07 holiday
2026-10-10 workday make-up (Saturday)
`

func TestDeadline(t *testing.T) {
	cal, err := ParseCalendar("holidays.txt", strings.NewReader(golden), shanghai)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		req  string
		n    int
		want string // the last day (deadline is its end)
	}{
		{"2026-11-23 10:00", 1, "2026-11-24"},  // Monday -> Tuesday
		{"2026-11-27 18:00", 1, "2026-11-30"},  // Friday -> Monday
		{"2026-11-23 10:00", 15, "2026-12-14"}, // three weeks of weekdays
		{"2026-09-30 09:00", 1, "2026-10-08"},  // over the holiday week
		{"2026-09-30 09:00", 2, "2026-10-09"},
		{"2026-09-30 09:00", 3, "2026-10-10"}, // the make-up Saturday counts
		{"2026-09-30 09:00", 15, "2026-10-27"},
	}
	for _, tt := range tests {
		got := cal.Deadline(day(tt.req), tt.n)
		want := day(tt.want+" 00:00").AddDate(0, 0, 1).Add(-time.Nanosecond)
		if !got.Equal(want) {
			t.Errorf("Deadline(%s, %d) = %v, want end of %s", tt.req, tt.n, got, tt.want)
		}
	}
	if !cal.Working(day("2026-10-10 12:00")) || cal.Working(day("2026-10-05 12:00")) || cal.Working(day("2026-11-28 12:00")) {
		t.Errorf("Working() wrong for the make-up Saturday, a holiday or a plain Saturday")
	}
}

func TestParseCalendarErrors(t *testing.T) {
	for _, in := range []string{
		"2026-13-01 holiday",
		"2026-10-01",
		"2026-10-01 vacation",
		"2026-10-01 holiday\n2026-10-01 workday",
		"yesterday holiday",
	} {
		if _, err := ParseCalendar("h.txt", strings.NewReader(in), shanghai); !errors.Is(err, ErrCalendar) {
			t.Errorf("ParseCalendar(%q) = %v, want ErrCalendar", in, err)
		}
	}
}

func TestDue(t *testing.T) {
	now := day("2026-11-23 10:00")
	year := 365 * 24 * time.Hour
	tests := []struct {
		name     string
		consents []Consent
		due      bool
		since    time.Time
	}{
		{"fresh consent", []Consent{{GivenAt: now.AddDate(0, -1, 0)}}, false, time.Time{}},
		{"expired", []Consent{{GivenAt: now.Add(-year - time.Hour)}}, true, now.Add(-time.Hour)},
		{"renewed in time", []Consent{{GivenAt: now.Add(-year - time.Hour)}, {GivenAt: now.AddDate(0, 0, -10)}}, false, time.Time{}},
		{"withdrawn", []Consent{{GivenAt: now.AddDate(0, -2, 0), WithdrawnAt: now.AddDate(0, 0, -1)}}, true, now.AddDate(0, 0, -1)},
		{"never", nil, true, now},
	}
	for _, tt := range tests {
		since, why, due := Due(now, year, tt.consents)
		if due != tt.due || !since.Equal(tt.since) || (due && why == "") {
			t.Errorf("%s: Due = %v, %q, %v; want %v since %v", tt.name, since, why, due, tt.due, tt.since)
		}
	}
	if exp, ok := Expires(year, []Consent{{GivenAt: now}}); !ok || !exp.Equal(now.Add(year)) {
		t.Errorf("Expires = %v, %v", exp, ok)
	}
}

func FuzzParseCalendar(f *testing.F) {
	f.Add(golden)
	f.Add("2026-01-01 holiday # New Year\n\n# only a comment\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseCalendar("fuzz.txt", strings.NewReader(in), shanghai)
		if err != nil {
			if !errors.Is(err, ErrCalendar) {
				t.Fatalf("error %v is not ErrCalendar", err)
			}
			return
		}
		// Any calendar that parses still has deadlines after the request.
		req := day("2026-06-01 12:00")
		if d := c.Deadline(req, LegalWorkingDays); !d.After(req) {
			t.Fatalf("deadline %v is not after the request %v", d, req)
		}
	})
}

func TestExampleCalendarParses(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.Root(t), "configs", "holidays.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseCalendar("configs/holidays.txt", f, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	if c.Working(day("2026-10-01 12:00")) {
		t.Errorf("National Day is a working day in the example calendar")
	}
}
