package office

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gated-dev/gated/internal/store"
)

// A gate restored from a backup sends a chain that forks from what the
// office holds: collect refuses it (rewritten at the gate); after
// Rechain, with a reason, the next round trip collects the new chain
// from its first entry, and the old entries stay, archived.
func TestRechainAfterGateRestore(t *testing.T) {
	f := newFixture(t, "main")
	g := f.gates["main"]
	g.access(t, 5)
	f.sync(t)
	held, err := f.o.AuditEntries("main")
	if err != nil || len(held) == 0 {
		t.Fatalf("AuditEntries = %d, %v", len(held), err)
	}
	// The restore: the gate's store is another chain from entry 1 on.
	kek, _ := store.GenerateKEK()
	db, err := store.Open(filepath.Join(t.TempDir(), "restored.db"), kek, store.Options{Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g.db = db
	g.access(t, 2)
	g.acked.Audit = 1 // what the restored store says the office acknowledged
	p := g.seal(t, g.events(t), g.id, f.inbox)
	mustErr(t, f.o.CollectFile("staff:test", "main", p).Err, ErrChainBroken)
	os.Remove(p) // the gate's next event bundle replaces it (gated prunes its outbox)

	if _, err := f.o.Rechain("staff:test", "main", ""); err == nil {
		t.Fatal("Rechain without a reason: want an error")
	}
	n, err := f.o.Rechain("staff:test", "main", "gate restored from its backup of 1 Nov")
	if err != nil || n != len(held) {
		t.Fatalf("Rechain = %d, %v; want %d entries archived", n, err, len(held))
	}
	f.sync(t) // publish acknowledges nothing; the gate sends its chain from entry 1
	now, err := f.o.AuditEntries("main")
	if err != nil {
		t.Fatal(err)
	}
	var want []store.AuditEntry
	db.ForEachAudit(1, func(a store.AuditEntry) error { want = append(want, a); return nil })
	if len(now) != len(want) || now[0].Seq != 1 || [32]byte(now[len(now)-1].Hash) != want[len(want)-1].Hash {
		t.Fatalf("after rechain the office holds %d entries, want the restored chain's %d from entry 1", len(now), len(want))
	}
	arch, err := f.o.ArchivedAuditEntries("main")
	if err != nil || len(arch) != len(held) || arch[0].Hash != held[0].Hash {
		t.Fatalf("archived = %d entries, %v; want the %d held before", len(arch), err, len(held))
	}
	rep, err := f.o.Report(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, gr := range rep.Gates {
		if gr.Name == "main" && gr.ChainError != "" {
			t.Errorf("report after rechain: chain error %q", gr.ChainError)
		}
	}
	if _, err := f.o.VerifyLog(); err != nil {
		t.Errorf("office log after rechain: %v", err)
	}
}
