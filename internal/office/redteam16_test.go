package office

// Hostile tests of the office (issue 16 red team): a careless office.

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The office store is restored from an old backup, then staff revoke a
// card and publish. The gate has applied newer bundles than the restored
// store remembers and has pruned the audit entries the office had
// acknowledged, so its next event bundle goes on past what the restored
// store holds. docs/compound.md promises that collect raises the
// sequence counter past anything a gate reports applied, so the office
// never reuses a number the gate refuses as a replay; the office and the
// gate must get back in step within a couple of round trips, and the
// revocation must reach the gate.
func TestRedteam16OfficeRestoredFromBackup(t *testing.T) {
	f := newFixture(t, "north")
	g := f.gates["north"]
	res, err := f.o.AddResident("staff:test", NewResident{Name: "Wang Fang", Unit: "3-301"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.o.AddCard("staff:test", res.ID, "4215673", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.sync(t)
	f.clk.t = f.clk.t.Add(time.Hour)
	g.access(t, 3)
	f.sync(t)

	// The backup, taken now.
	kek, err := LoadKEKFile(f.keyf)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(f.dir, DBName)
	if err := f.o.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	reopen := func() {
		o, err := Open(f.dir, kek, Options{Now: f.clk.now, PIN: cheapPIN})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		f.o = o
	}
	reopen()

	// A week of work after the backup.
	for range 3 {
		f.clk.t = f.clk.t.Add(24 * time.Hour)
		if _, err := f.o.AddResident("staff:test", NewResident{Name: "Li Lei", Unit: "1-101"}); err != nil {
			t.Fatal(err)
		}
		g.access(t, 2)
		f.sync(t)
	}
	// The office PC's disk fails; the backup is restored.
	if err := f.o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	reopen()
	// The collected files went with the disk (and the gate's old ones
	// were pruned at the gate, or are re-sent: either way not replayable
	// in order here).
	if err := os.RemoveAll(filepath.Join(f.inbox, "north")); err != nil {
		t.Fatal(err)
	}

	// Staff revoke the card (stolen) and go on publishing and collecting.
	if _, err := f.o.RevokeCard("staff:test", "4215673"); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		f.clk.t = f.clk.t.Add(time.Hour)
		if _, err := f.o.Publish("staff:test", f.outbox, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		g.importDir(t, filepath.Join(f.outbox, "north"))
		g.seal(t, g.events(t), g.id, f.inbox)
		rep, err := f.o.Collect("staff:test", f.inbox)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: gate applied %d; collect %+v", round, g.applied, rep.Files)
	}
	if len(g.cards) != 0 {
		t.Errorf("gate's office cards after the restored office revoked the card and published 3 times = %d, want 0 (the revocation never reached the gate)", len(g.cards))
	}
	gates, err := f.o.Gates()
	if err != nil {
		t.Fatal(err)
	}
	if gates[0].ChainError != "" {
		t.Errorf("gate north's chain after 3 round trips = %q, want verified again", gates[0].ChainError)
	}
}
