package office

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzCollectFile feeds arbitrary files to collect as a gate's event
// bundle: never a panic, and a file that is refused changes nothing.
func FuzzCollectFile(f *testing.F) {
	fx := newFixture(f, "g1")
	g := fx.gates["g1"]
	g.access(f, 3)
	seed := g.seal(f, g.events(f), g.id, f.TempDir())
	b, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("GATEDBN1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		before := stateOf0(t, fx.o)
		p := filepath.Join(dir, "events-00000000000000000001.gevents")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := fx.o.CollectFile("fuzz", "g1", p)
		if c.Error != "" && stateOf0(t, fx.o) != before {
			t.Fatalf("a refused file (%s) changed what the office holds", c.Error)
		}
	})
}

func stateOf0(t *testing.T, o *Office) [3]uint64 {
	gs, err := o.Gates()
	if err != nil {
		t.Fatal(err)
	}
	return [3]uint64{gs[0].AuditSeq, gs[0].EventsSeq, gs[0].Applied}
}
