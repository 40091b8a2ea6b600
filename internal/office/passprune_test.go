package office

import (
	"testing"
	"time"
)

// A visitor pass leaves the office 30 days after it ended, and the gates
// are told to drop it in the next delta.
func TestEndedPassesPruned(t *testing.T) {
	f := newFixture(t, "main")
	p, err := f.o.AddPass("staff:test", NewPass{Name: "courier", From: f.clk.t, Until: f.clk.t.Add(2 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t)
	if _, ok := f.gates["main"].passes[p.ID]; !ok {
		t.Fatal("the gate did not receive the pass")
	}
	f.clk.t = f.clk.t.Add(29 * 24 * time.Hour)
	f.sync(t)
	if ps, _ := f.o.Passes(); len(ps) != 1 {
		t.Fatalf("after 29 days the office holds %d passes, want 1 (kept 30 days after it ended)", len(ps))
	}
	f.clk.t = f.clk.t.Add(2 * 24 * time.Hour)
	f.sync(t) // collect prunes it
	if ps, _ := f.o.Passes(); len(ps) != 0 {
		t.Fatalf("31 days after it ended the office still holds %d passes", len(ps))
	}
	pubs := f.sync(t) // the next delta removes it at the gate
	if _, ok := f.gates["main"].passes[p.ID]; ok {
		t.Fatalf("the gate still holds the pruned pass after publish %+v", pubs)
	}
}
