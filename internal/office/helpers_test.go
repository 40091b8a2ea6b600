package office

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/store"
)

// cheap argon2id parameters: tests only.
var cheapPIN = PINParams{Time: 1, MemoryKiB: 64, Threads: 1}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	o      *Office
	dir    string
	keyf   string
	outbox string
	inbox  string // the office's collect dir
	clk    *clock
	gates  map[string]*simGate
}

func testKEK(t testing.TB, dir string) (KEK, string) {
	t.Helper()
	p := filepath.Join(dir, "kek")
	k, err := GenerateKEKFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

func newFixture(t testing.TB, gates ...string) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{dir: filepath.Join(root, "office"), outbox: filepath.Join(root, "outbox"), inbox: filepath.Join(root, "collect"),
		clk: &clock{time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}, gates: map[string]*simGate{}}
	k, p := testKEK(t, filepath.Join(root, "etc"))
	f.keyf = p
	o, err := Init(f.dir, k, "greenhill", Options{Now: f.clk.now, PIN: cheapPIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	f.o = o
	for _, name := range gates {
		g := newSimGate(t, name, o.PublicKey(), f.clk)
		if err := o.AddGate("staff:test", name, g.id.Public()); err != nil {
			t.Fatal(err)
		}
		f.gates[name] = g
	}
	return f
}

// simGate plays a gate: it applies records bundles by the plan's rules
// into maps, and writes event bundles whose audit chain comes from a real
// gate store.
type simGate struct {
	name      string
	id        bundle.Identity
	office    bundle.PublicKey
	db        *store.DB
	clk       *clock
	applied   uint64
	residents map[string]bundle.Resident
	cards     map[string]bundle.Card
	passes    map[string]bundle.Pass
	erase     []bundle.Erasure // orders received, latest bundle
	secret    bundle.Secret
	evSeq     uint64
	acked     bundle.Acks
	imports   []bundle.Import
	receipts  []bundle.Receipt
	optOuts   []bundle.Erasure
	faces     map[string]int
}

func newSimGate(t testing.TB, name string, office bundle.PublicKey, clk *clock) *simGate {
	t.Helper()
	id, err := bundle.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &simGate{name: name, id: id, office: office, db: db, clk: clk, faces: map[string]int{}}
}

// apply is the gate's import of one records bundle.
func (g *simGate) apply(b []byte) error {
	h, payload, err := bundle.Open(b, g.office, g.id)
	if err != nil {
		return err
	}
	switch {
	case h.Kind != bundle.KindRecords:
		return fmt.Errorf("not records")
	case h.Seq <= g.applied:
		return fmt.Errorf("replay: %d, applied %d", h.Seq, g.applied)
	case !h.Snapshot() && h.Base != g.applied:
		return fmt.Errorf("delta against %d, this gate has applied %d: needs a snapshot", h.Base, g.applied)
	}
	r, err := bundle.DecodeRecords(payload, h.Snapshot())
	if err != nil {
		return err
	}
	if r.Gate != g.name {
		return fmt.Errorf("for gate %s", r.Gate)
	}
	if h.Snapshot() {
		g.residents, g.cards, g.passes = map[string]bundle.Resident{}, map[string]bundle.Card{}, map[string]bundle.Pass{}
	}
	for _, id := range r.Remove.Residents {
		if _, ok := g.residents[id]; !ok {
			return fmt.Errorf("remove unknown resident %s", id)
		}
		delete(g.residents, id)
		for k, c := range g.cards {
			if c.Resident == id {
				delete(g.cards, k)
			}
		}
	}
	for _, t := range r.Remove.Cards {
		if _, ok := g.cards[string(t)]; !ok {
			return fmt.Errorf("remove unknown card")
		}
		delete(g.cards, string(t))
	}
	for _, id := range r.Remove.Passes {
		if _, ok := g.passes[id]; !ok {
			return fmt.Errorf("remove unknown pass %s", id)
		}
		delete(g.passes, id)
	}
	for _, x := range r.Residents {
		g.residents[x.ID] = x
	}
	for _, c := range r.Cards {
		if _, ok := g.residents[c.Resident]; !ok {
			return fmt.Errorf("card of unknown resident %s", c.Resident)
		}
		g.cards[string(c.Token)] = c
	}
	for _, p := range r.Passes {
		g.passes[p.ID] = p
	}
	g.erase, g.acked, g.secret, g.applied = r.Erase, r.Acked, r.Secret, h.Seq
	return nil
}

// importDir imports every records bundle in dir in sequence order, as the
// gate's inbox does, recording each result.
func (g *simGate) importDir(t testing.TB, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h, err := bundle.ParseHeader(b)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if h.Seq <= g.applied {
			continue // applied before
		}
		err = g.apply(b)
		im := bundle.Import{Seq: h.Seq, At: g.clk.t, OK: err == nil}
		if err != nil {
			im.Error = err.Error()
		}
		g.imports = append(g.imports, im)
	}
}

// carryOut does the erasure orders it holds, receipting each.
func (g *simGate) carryOut() {
	for _, e := range g.erase {
		if slices.ContainsFunc(g.receipts, func(r bundle.Receipt) bool { return r.Erasure == e.ID }) || slices.Contains(g.acked.Receipts, e.ID) {
			continue
		}
		n := g.faces[e.Resident]
		delete(g.faces, e.Resident)
		g.receipts = append(g.receipts, bundle.Receipt{Erasure: e.ID, Resident: e.Resident, At: g.clk.t, Templates: n})
	}
}

// optOut is a resident's opt-out at this gate.
func (g *simGate) optOut(resident string) bundle.Erasure {
	b := make([]byte, 6)
	rand.Read(b)
	e := bundle.Erasure{ID: "e-" + hex.EncodeToString(b), Resident: resident, Requested: g.clk.t, Origin: g.name, Reason: "asked at the kiosk"}
	delete(g.faces, resident)
	g.optOuts = append(g.optOuts, e)
	return e
}

// events builds the gate's next event bundle payload: audit entries after
// the acked one (from the real store), receipts and opt-outs not acked.
func (g *simGate) events(t testing.TB) *bundle.Events {
	t.Helper()
	ev := &bundle.Events{Version: bundle.PayloadVersion, Compound: "greenhill", Gate: g.name, Applied: g.applied, Imports: g.imports}
	err := g.db.ForEachAudit(g.acked.Audit+1, func(a store.AuditEntry) error {
		ev.Audit = append(ev.Audit, bundle.AuditEntry{Seq: a.Seq, Time: a.Time, Kind: string(a.Kind), Actor: a.Actor, Subject: a.Subject,
			Outcome: a.Outcome, Detail: a.Detail, Prev: a.PrevHash, Hash: a.Hash})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.receipts {
		if !slices.Contains(g.acked.Receipts, r.Erasure) {
			ev.Receipts = append(ev.Receipts, r)
		}
	}
	for _, o := range g.optOuts {
		if !slices.Contains(g.acked.OptOuts, o.ID) {
			ev.OptOuts = append(ev.OptOuts, o)
		}
	}
	if len(g.faces) > 0 {
		ev.Faces = map[string]int{}
		for k, v := range g.faces {
			ev.Faces[k] = v
		}
	}
	g.imports = nil
	return ev
}

// seal seals ev as the gate's next event bundle (by signer, normally the
// gate itself) and writes it into dir/<gate>/.
func (g *simGate) seal(t testing.TB, ev *bundle.Events, signer bundle.Identity, dir string) string {
	t.Helper()
	payload, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	g.evSeq++
	b, err := bundle.Seal(signer, bundle.Header{Kind: bundle.KindEvents, Seq: g.evSeq, Created: g.clk.t, To: g.office}, payload)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, g.name, fmt.Sprintf("events-%020d.gevents", g.evSeq))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// access records n access decisions in the gate's audit log.
func (g *simGate) access(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		if _, err := g.db.AppendAudit(store.Event{Kind: store.KindAccess, Actor: "gate:" + g.name, Subject: "r-000000000001",
			Outcome: "granted", Detail: fmt.Sprintf("method=card n=%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// sync is one round trip: publish, every gate imports its folder, carries
// out orders and reports, the office collects.
func (f *fixture) sync(t testing.TB, gates ...string) []Published {
	t.Helper()
	pubs, err := f.o.Publish("staff:test", f.outbox, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gates) == 0 {
		for n := range f.gates {
			gates = append(gates, n)
		}
	}
	for _, n := range gates {
		g := f.gates[n]
		g.importDir(t, filepath.Join(f.outbox, n))
		g.carryOut()
		g.seal(t, g.events(t), g.id, f.inbox)
	}
	rep, err := f.o.Collect("staff:test", f.inbox)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Refused() != 0 {
		t.Fatalf("Collect refused: %+v", rep.Files)
	}
	return pubs
}

func pubFor(ps []Published, gate string) Published {
	for _, p := range ps {
		if p.Gate == gate {
			return p
		}
	}
	return Published{}
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
