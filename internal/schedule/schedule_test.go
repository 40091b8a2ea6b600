package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/schedule"
)

func calendar(t *testing.T, loc *time.Location) *retention.Calendar {
	t.Helper()
	// 2026-10-01 (Thursday) a holiday; 2026-10-10 (Saturday) a make-up working day.
	c, err := retention.ParseCalendar("test", strings.NewReader("2026-10-01 holiday National Day\n2026-10-10 workday\n"), loc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheck(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("time zone data: %v (install tzdata)", err)
	}
	cleaners, err := schedule.ParseProfile("cleaners", []string{"workdays 08:00-18:00"})
	if err != nil {
		t.Fatal(err)
	}
	night, err := schedule.ParseProfile("night", []string{"fri-sun 22:00-06:00"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := schedule.NewSet([]schedule.Profile{cleaners, night}, map[string]string{"crew": "cleaners"}, calendar(t, loc), loc)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tenant := schedule.Validity{From: at("2026-03-01 00:00"), Until: at("2026-09-01 00:00")}
	tests := []struct {
		now   string
		v     schedule.Validity
		cause string // "" = allowed
	}{
		{"2026-05-05 12:00", tenant, ""},
		{"2026-02-28 23:59", tenant, "valid from"},
		{"2026-09-01 00:00", tenant, "valid until"}, // until is exclusive
		{"2026-08-31 23:59", tenant, ""},
		{"2026-09-29 08:00", schedule.Validity{Profile: "cleaners"}, ""}, // Tuesday
		{"2026-09-29 07:59", schedule.Validity{Profile: "cleaners"}, "profile cleaners"},
		{"2026-09-29 18:00", schedule.Validity{Profile: "cleaners"}, "profile cleaners"},
		{"2026-10-01 10:00", schedule.Validity{Profile: "cleaners"}, "profile cleaners"}, // a holiday Thursday
		{"2026-10-04 10:00", schedule.Validity{Profile: "cleaners"}, "profile cleaners"}, // Sunday
		{"2026-10-10 10:00", schedule.Validity{Profile: "cleaners"}, ""},                 // make-up Saturday
		{"2026-09-29 10:00", schedule.Validity{Group: "crew"}, ""},
		{"2026-10-04 10:00", schedule.Validity{Group: "crew"}, "profile cleaners"},
		{"2026-09-29 10:00", schedule.Validity{Group: "nobody"}, "group nobody has no profile"},
		{"2026-09-29 10:00", schedule.Validity{Profile: "gone"}, "profile gone is not defined"},
		{"2026-10-02 23:00", schedule.Validity{Profile: "night"}, ""},                // Friday night
		{"2026-10-05 05:59", schedule.Validity{Profile: "night"}, ""},                // Monday morning after Sunday night
		{"2026-10-05 06:00", schedule.Validity{Profile: "night"}, "profile night"},   // window over
		{"2026-10-05 23:00", schedule.Validity{Profile: "night"}, "profile night"},   // Monday night: not a night of the profile
		{"2026-10-02 05:00", schedule.Validity{Profile: "night"}, "profile night"},   // Friday morning: Thursday did not start one
		{"2026-09-29 10:00", schedule.Validity{Profile: "cleaners", Group: "x"}, ""}, // a profile wins over the group
	}
	for _, tt := range tests {
		err := set.Check(at(tt.now), tt.v)
		var oe *schedule.OutsideError
		switch {
		case tt.cause == "" && err != nil:
			t.Errorf("Check(%s, %+v) = %v, want allowed", tt.now, tt.v, err)
		case tt.cause != "" && (!errors.As(err, &oe) || !errors.Is(err, schedule.ErrOutside) || !strings.HasPrefix(oe.Cause, tt.cause)):
			t.Errorf("Check(%s, %+v) = %v, want refused, cause %q", tt.now, tt.v, err, tt.cause)
		}
	}
	// No profiles configured: dates still count, a profile fails closed.
	var none *schedule.Set
	if err := none.Check(at("2026-10-01 12:00"), tenant); !errors.Is(err, schedule.ErrOutside) {
		t.Errorf("nil Set: Check(after until) = %v, want ErrOutside", err)
	}
	if err := none.Check(at("2026-05-01 12:00"), schedule.Validity{Profile: "cleaners"}); !errors.Is(err, schedule.ErrOutside) {
		t.Errorf("nil Set: Check(profile) = %v, want ErrOutside", err)
	}
	if err := none.Check(at("2026-05-01 12:00"), schedule.Validity{}, tenant); err != nil {
		t.Errorf("nil Set: Check(no limits, tenant in window) = %v, want nil", err)
	}
}

func TestParseWindowErrors(t *testing.T) {
	for _, s := range []string{"", "workdays", "workdays 8:00-18:00", "holidays 08:00-18:00", "mon-xyz 08:00-09:00",
		"daily 08:00-08:00", "daily 24:00-06:00", "daily 08:00-25:00", "daily 08:60-09:00", "daily 08:00", "mon tue 08:00-09:00"} {
		if _, err := schedule.ParseWindow(s); !errors.Is(err, schedule.ErrSyntax) {
			t.Errorf("ParseWindow(%q) = %v, want ErrSyntax", s, err)
		}
	}
	for _, s := range []string{"daily 00:00-24:00", "sat,sun 09:00-12:00", "fri-mon 22:00-06:00", "workdays,sat 08:00-12:00", "offdays 10:00-16:00"} {
		if _, err := schedule.ParseWindow(s); err != nil {
			t.Errorf("ParseWindow(%q) = %v, want nil", s, err)
		}
	}
	if _, err := schedule.NewSet(nil, map[string]string{"crew": "missing"}, retention.Weekdays(time.UTC), time.UTC); !errors.Is(err, schedule.ErrSyntax) {
		t.Errorf("NewSet(group of an undefined profile) = %v, want ErrSyntax", err)
	}
}

// FuzzParseWindow: the parser never panics, and what it accepts is a
// window that holds at some minute of a week or none, without panicking.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"workdays 08:00-18:00", "fri-mon 22:00-06:00", "daily 00:00-24:00", "sat,sun 09:00-12:00"} {
		f.Add(s)
	}
	cal := retention.Weekdays(time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		w, err := schedule.ParseWindow(s)
		if err != nil {
			return
		}
		if w.From < 0 || w.From >= 24*60 || w.Until <= 0 || w.Until > 24*60 || w.From == w.Until {
			t.Fatalf("ParseWindow(%q) = from %d until %d, want minutes of a day, not empty", s, w.From, w.Until)
		}
		p := schedule.Profile{Name: "p", Windows: []schedule.Window{w}}
		set, err := schedule.NewSet([]schedule.Profile{p}, nil, cal, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		_ = set.Check(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC), schedule.Validity{Profile: "p"})
	})
}
