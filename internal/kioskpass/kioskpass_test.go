package kioskpass_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

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
	p := kioskpass.New(st, config.Visitor{KioskPerDay: 2}, func(ev store.Event) { refused = append(refused, ev) })
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
