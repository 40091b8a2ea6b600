package office

import (
	"testing"
	"time"
)

// An office clock set years ahead must not delete the records the office
// must keep, nor a live visitor pass: prune judges ages at no later than
// a day after the newest event bundle a gate made.
func TestPruneIgnoresAClockSetAhead(t *testing.T) {
	f := newFixture(t, "main")
	g := f.gates["main"]
	g.access(t, 3)
	p, err := f.o.AddPass("staff:test", NewPass{Name: "courier", From: f.clk.t, Until: f.clk.t.Add(48 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t)
	held, _ := f.o.AuditEntries("main")
	if len(held) == 0 {
		t.Fatal("nothing collected (test is broken)")
	}
	// The office's clock jumps four years; the gate's does not.
	officeNow := f.clk.t.Add(4 * 365 * 24 * time.Hour)
	f.o.opts.Now = func() time.Time { return officeNow }
	g.seal(t, g.events(t), g.id, f.inbox)
	if _, err := f.o.Collect("staff:test", f.inbox); err != nil {
		t.Fatal(err)
	}
	if now, _ := f.o.AuditEntries("main"); len(now) < len(held) {
		t.Fatalf("with the office clock 4 years ahead, collect pruned the gate's audit: %d entries left of %d", len(now), len(held))
	}
	ps, _ := f.o.Passes()
	if len(ps) != 1 || ps[0].ID != p.ID {
		t.Fatalf("with the office clock 4 years ahead the live pass was pruned: %d passes", len(ps))
	}
}
