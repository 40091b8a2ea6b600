package kioskpass_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/kioskpass"
	"github.com/gated-dev/gated/internal/store"
)

// TestLimits: a resident issues passes within [visitor] (uses, validity,
// per day), the one over the day's limit is refused and audited, and a
// minor issues none, on a real store.
func TestLimits(t *testing.T) {
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	adult, err := st.AddResident("staff:test", store.Resident{Name: "A", Unit: "1"})
	if err != nil {
		t.Fatal(err)
	}
	minor, err := st.AddResident("staff:test", store.Resident{Name: "M", Unit: "1", Minor: true})
	if err != nil {
		t.Fatal(err)
	}
	var refused []store.Event
	p := kioskpass.New(st, config.Visitor{KioskPerDay: 2}, func(ev store.Event) { refused = append(refused, ev) }, kioskpass.Options{})
	ctx := context.Background()
	l := p.Limits()
	if l.PerDay != 2 || l.MaxUses != 5 || l.MaxValidity != 24*time.Hour {
		t.Fatalf("Limits = %+v, want 2 a day, default 5 uses and 24 h", l)
	}
	if _, err := p.IssuePass(ctx, adult.ID, 6, time.Hour); err == nil {
		t.Error("6 uses over the limit of 5 were issued")
	}
	for i := range 2 {
		ip, err := p.IssuePass(ctx, adult.ID, 1, time.Hour)
		if err != nil || len(ip.Code) != store.PassCodeDigits {
			t.Fatalf("pass %d: %+v, %v", i+1, ip, err)
		}
	}
	if _, err := p.IssuePass(ctx, adult.ID, 1, time.Hour); !errors.Is(err, kiosk.ErrPassLimit) {
		t.Errorf("the 3rd pass of the day: %v, want ErrPassLimit", err)
	}
	if err := p.MayIssue(ctx, minor.ID); !errors.Is(err, kiosk.ErrPassMinor) {
		t.Errorf("a minor: %v, want ErrPassMinor", err)
	}
	if len(refused) != 2 || refused[0].Subject != adult.ID || refused[1].Subject != minor.ID {
		t.Errorf("refusals audited: %+v, want the day's limit and the minor", refused)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestDayStartsInPrivacyZone: kiosk_per_day counts from midnight in
// privacy.time_zone, whatever the system's zone is. The same scenario
// runs in a zone east of UTC and one west of it, so that it fails for a
// count from the system's midnight in any system zone: a resident issues
// the day's 2 passes late in the evening, the 3rd is refused before
// midnight and issued just after it.
func TestDayStartsInPrivacyZone(t *testing.T) {
	for _, zone := range []string{"Asia/Shanghai", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			kek, err := store.GenerateKEK()
			if err != nil {
				t.Fatal(err)
			}
			clk := &clock{t: time.Date(2026, 11, 23, 22, 0, 0, 0, loc)}
			st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, err := st.AddResident("staff:test", store.Resident{Name: "A", Unit: "1"})
			if err != nil {
				t.Fatal(err)
			}
			p := kioskpass.New(st, config.Visitor{KioskPerDay: 2}, func(store.Event) {}, kioskpass.Options{Zone: loc, Now: clk.now})
			ctx := context.Background()
			for i := range 2 {
				ip, err := p.IssuePass(ctx, r.ID, 1, time.Hour)
				if err != nil {
					t.Fatalf("pass %d at 22:00 %s: %v", i+1, zone, err)
				}
				if !ip.Until.Equal(clk.now().Add(time.Hour)) {
					t.Errorf("pass %d valid until %s, want an hour from the clock's %s", i+1, ip.Until, clk.now())
				}
			}
			clk.set(time.Date(2026, 11, 23, 23, 59, 0, 0, loc))
			if err := p.MayIssue(ctx, r.ID); !errors.Is(err, kiosk.ErrPassLimit) {
				t.Errorf("MayIssue at 23:59 %s after 2 passes that day = %v, want ErrPassLimit", zone, err)
			}
			clk.set(time.Date(2026, 11, 24, 0, 1, 0, 0, loc))
			if _, err := p.IssuePass(ctx, r.ID, 1, time.Hour); err != nil {
				t.Errorf("IssuePass at 00:01 %s, a new day there = %v, want a pass", zone, err)
			}
		})
	}
}
