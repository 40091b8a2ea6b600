package store

import (
	"errors"
	"testing"
	"time"
)

// TestClockSetBackDoesNotRevivePasses (red team, issue 15): a pass refused
// as expired stays refused when the clock is set back (an RTC-less board
// after a power cut, a spoofed NTP server), because its end is judged at
// the latest audit entry's time; the floor survives a restart; staff who
// know the clock is right lower it with ResetClockFloor, audited.
func TestClockSetBackDoesNotRevivePasses(t *testing.T) {
	db, clk, path, kek := passDB(t)
	now := clk.Now()
	p, err := db.AddPass("staff:0", NewPass{Name: "courier", From: now, Until: now.Add(time.Hour), Uses: 3})
	if err != nil {
		t.Fatal(err)
	}
	clk.set(now.Add(2 * time.Hour))
	if _, err := db.AppendAudit(Event{Kind: KindAccess, Actor: "gate", Outcome: "denied", Detail: "method=visitor-code"}); err != nil {
		t.Fatal(err)
	}
	if floor, err := db.ClockFloor(); err != nil || floor.Sub(now.Add(2*time.Hour)).Abs() > time.Second {
		t.Fatalf("ClockFloor = %v, %v; want the last entry's time %v", floor, err, now.Add(2*time.Hour))
	}
	clk.set(now.Add(30 * time.Minute)) // set back 90 minutes
	if _, err := db.UsePass(p.ID, "front"); !errors.Is(err, ErrPassExpired) {
		t.Fatalf("UsePass with the clock set back = %v, want ErrPassExpired", err)
	}
	// A restart keeps the floor.
	db.Close()
	opts := testOptions(t)
	opts.Now = clk.Now
	db, err = Open(path, kek, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.UsePass(p.ID, "front"); !errors.Is(err, ErrPassExpired) {
		t.Fatalf("UsePass with the clock set back, after a restart = %v, want ErrPassExpired", err)
	}
	// Staff lower the floor: the clock is judged alone again.
	old, err := db.ResetClockFloor("staff:admin")
	if err != nil || old.Sub(now.Add(2*time.Hour)).Abs() > time.Second {
		t.Fatalf("ResetClockFloor = %v, %v", old, err)
	}
	if floor, _ := db.ClockFloor(); floor.Sub(now.Add(30*time.Minute)).Abs() > time.Second {
		t.Errorf("ClockFloor after the reset = %v, want the clock's %v", floor, now.Add(30*time.Minute))
	}
	if _, err := db.UsePass(p.ID, "front"); err != nil {
		t.Errorf("UsePass after staff reset the floor = %v, want it judged by the clock", err)
	}
	found := false
	db.ForEachAudit(0, func(e AuditEntry) error {
		if e.Actor == "staff:admin" && e.Detail != "" && e.Outcome == "ok" {
			found = true
		}
		return nil
	})
	if !found {
		t.Error("the reset is not audited")
	}
}
