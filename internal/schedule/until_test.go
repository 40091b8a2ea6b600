package schedule_test

import (
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/schedule"
)

// TestHoldsUntil: a market window on working days, one past midnight, and
// one that never ends; undefined profiles hold never.
func TestHoldsUntil(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	var ps []schedule.Profile
	for name, ws := range map[string][]string{
		"market": {"workdays 07:00-09:00"},
		"night":  {"daily 22:00-06:00"},
		"always": {"daily 00:00-24:00"},
		"joined": {"mon 20:00-24:00", "tue 00:00-02:00"},
	} {
		p, err := schedule.ParseProfile(name, ws)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	set, err := schedule.NewSet(ps, nil, calendar(t, loc), loc)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, at string
		holds    bool
		until    string // "" for the zero time
	}{
		{"market", "2026-09-30 07:00:00", true, "2026-09-30 09:00:00"}, // Wednesday
		{"market", "2026-09-30 08:59:59", true, "2026-09-30 09:00:00"},
		{"market", "2026-09-30 09:00:00", false, ""},
		{"market", "2026-09-30 06:59:59", false, ""},
		{"market", "2026-10-01 07:30:00", false, ""},                   // National Day: not a working day
		{"market", "2026-10-10 07:30:00", true, "2026-10-10 09:00:00"}, // a make-up working Saturday
		{"night", "2026-09-30 23:10:30", true, "2026-10-01 06:00:00"},
		{"night", "2026-10-01 05:59:00", true, "2026-10-01 06:00:00"},
		{"joined", "2026-09-28 21:00:00", true, "2026-09-29 02:00:00"}, // Monday evening into Tuesday
		{"always", "2026-09-30 12:00:00", true, ""},
		{"missing", "2026-09-30 08:00:00", false, ""},
	}
	for _, tt := range tests {
		now := at(tt.at)
		if got := set.Holds(tt.name, now); got != tt.holds {
			t.Errorf("Holds(%s, %s) = %v, want %v", tt.name, tt.at, got, tt.holds)
		}
		want := time.Time{}
		if tt.until != "" {
			want = at(tt.until)
		}
		if got := set.Until(tt.name, now); !got.Equal(want) {
			t.Errorf("Until(%s, %s) = %v, want %v", tt.name, tt.at, got, want)
		}
	}
	var none *schedule.Set
	if none.Holds("market", at("2026-09-30 08:00:00")) {
		t.Error("a nil set's Holds = true, want false")
	}
}
