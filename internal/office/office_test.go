package office

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// A wrong key is refused before anything changes; the right one opens.
func TestWrongKeyRefused(t *testing.T) {
	f := newFixture(t, "main")
	if _, err := f.o.AddResident("staff:test", NewResident{Name: "Ada", Unit: "1-101"}); err != nil {
		t.Fatal(err)
	}
	f.o.Close()
	before := fileSum(t, dbPath(f.dir))
	other, _ := testKEK(t, t.TempDir())
	_, err := Open(f.dir, other, Options{})
	mustErr(t, err, ErrWrongKey)
	if after := fileSum(t, dbPath(f.dir)); after != before {
		t.Fatalf("the store changed when opened with a wrong key")
	}
	k, err := LoadKEKFile(f.keyf)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(f.dir, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rs, err := o.Residents()
	if err != nil || len(rs) != 1 || rs[0].Name != "Ada" {
		t.Fatalf("Residents() = %v, %v, want Ada", rs, err)
	}
	if fi, _ := os.Stat(dbPath(f.dir)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("store mode = %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(f.dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %v, want 0700", fi.Mode().Perm())
	}
}

// The key file follows the gate's rules.
func TestKeyFileRules(t *testing.T) {
	dir := t.TempDir()
	_, p := testKEK(t, dir)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKEKFile(p)
	mustErr(t, err, ErrInsecureKeyFile)
	os.Chmod(p, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(p, link)
	_, err = LoadKEKFile(link)
	mustErr(t, err, ErrInsecureKeyFile)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	_, err = LoadKEKFile(bad)
	mustErr(t, err, ErrBadKeyFile)
	if _, err := GenerateKEKFile(p); err == nil {
		t.Fatal("GenerateKEKFile over an existing key succeeded")
	}
}

// Nothing that names a person or holds a secret is in the file in clear.
func TestStoreSealsEverything(t *testing.T) {
	f := newFixture(t, "main")
	r, err := f.o.AddResident("staff:test", NewResident{Name: "Zebulon Quixote", Unit: "unit-9Q7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.o.AddCard("staff:test", r.ID, "987654321", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.o.Close()
	b, err := os.ReadFile(dbPath(f.dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Zebulon", "unit-9Q7", "987654321", "greenhill"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the store file holds %q in clear", s)
		}
	}
}

func residentIDs(m map[string]bundle.Resident) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// What a gate holds after a snapshot and deltas equals a fresh snapshot.
func TestPublishSnapshotThenDelta(t *testing.T) {
	f := newFixture(t, "g1", "g2", "g3")
	o := f.o
	if err := o.SetProfile("staff:test", "workdays", []string{"workdays 08:00-18:00"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 6 {
		n := NewResident{Name: "Resident " + string(rune('A'+i)), Unit: "1-10" + string(rune('0'+i))}
		if i == 5 {
			n.Gates = []string{"g1", "g3"}
			n.Profile = "workdays"
		}
		r, err := o.AddResident("staff:test", n)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if _, err := o.AddCard("staff:test", r.ID, "10000"+string(rune('0'+i)), time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.SetPIN("staff:test", ids[0], "2468"); err != nil {
		t.Fatal(err)
	}
	first := f.sync(t)
	for _, p := range first {
		if p.Base != 0 {
			t.Fatalf("first publish to %s: base %d, want a snapshot", p.Gate, p.Base)
		}
	}
	if got := pubFor(first, "g2").Residents; got != 5 {
		t.Fatalf("snapshot for g2 has %d residents, want 5 (one is for g1 and g3 only)", got)
	}
	g1 := f.gates["g1"]
	if tok := g1.secret.CardToken("100000"); g1.cards[string(tok)].Resident != ids[0] {
		t.Fatalf("g1 does not find card 100000 by its token")
	}
	if pin := g1.residents[ids[0]].PIN; pin == nil || !pin.Matches(g1.secret.PINPepper(), "2468") || pin.Matches(g1.secret.PINPepper(), "2469") {
		t.Fatalf("g1's PIN hash does not check with the compound pepper")
	}

	// A day's changes.
	f.clk.t = f.clk.t.Add(24 * time.Hour)
	added, err := o.AddResident("staff:test", NewResident{Name: "New One", Unit: "2-201", Gates: []string{"g2"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.RevokeCard("staff:test", "100001"); err != nil {
		t.Fatal(err)
	}
	gone := []string{"g1"}
	if _, err := o.UpdateResident("staff:test", ids[2], ResidentUpdate{Gates: &gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RemoveResident("staff:test", ids[3], "moved out"); err != nil {
		t.Fatal(err)
	}
	pass, err := o.AddPass("staff:test", NewPass{Name: "courier", From: f.clk.t, Until: f.clk.t.Add(2 * time.Hour), Uses: 1, Gates: []string{"g1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pass.Code) != PassCodeDigits || !bytes.Equal(pass.Hint, bundle.CodeHint(g1.secret.CodeHintKey(), pass.Code)) {
		t.Fatalf("pass code %q hint %x, want %d digits and the compound hint", pass.Code, pass.Hint, PassCodeDigits)
	}
	name := "Renamed"
	if _, err := o.UpdateResident("staff:test", ids[4], ResidentUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	second := f.sync(t)
	for _, p := range second {
		if p.Base != pubFor(first, p.Gate).Seq {
			t.Fatalf("second publish to %s: base %d, want a delta against %d", p.Gate, p.Base, pubFor(first, p.Gate).Seq)
		}
		if p.Bytes >= pubFor(first, p.Gate).Bytes {
			t.Errorf("delta to %s is %d bytes, snapshot was %d", p.Gate, p.Bytes, pubFor(first, p.Gate).Bytes)
		}
		for _, im := range f.gates[p.Gate].imports {
			t.Errorf("gate %s import %+v", p.Gate, im)
		}
	}
	if p := pubFor(second, "g2"); p.Removals != 3 {
		t.Errorf("delta for g2 removes %d, want 3 (card, resident moved off g2, resident removed)", p.Removals)
	}
	// A fresh snapshot of each gate equals what the gate built from deltas.
	fresh := filepath.Join(t.TempDir(), "fresh")
	snaps, err := o.Publish("staff:test", fresh, PublishOptions{Snapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snaps {
		g := f.gates[p.Gate]
		want := &simGate{name: g.name, id: g.id, office: g.office}
		b, err := os.ReadFile(p.File)
		if err != nil {
			t.Fatal(err)
		}
		if err := want.apply(b); err != nil {
			t.Fatal(err)
		}
		if got, w := residentIDs(g.residents), residentIDs(want.residents); !slices.Equal(got, w) {
			t.Errorf("gate %s residents after deltas = %v, want %v", p.Gate, got, w)
		}
		if len(g.cards) != len(want.cards) || len(g.passes) != len(want.passes) {
			t.Errorf("gate %s holds %d cards %d passes, snapshot %d %d", p.Gate, len(g.cards), len(g.passes), len(want.cards), len(want.passes))
		}
		for id, r := range want.residents {
			if g.residents[id].Name != r.Name {
				t.Errorf("gate %s resident %s name %q, want %q", p.Gate, id, g.residents[id].Name, r.Name)
			}
		}
	}
	if _, ok := f.gates["g2"].residents[added.ID]; !ok {
		t.Errorf("g2 lacks the resident added for it")
	}
	if _, ok := f.gates["g1"].residents[added.ID]; ok {
		t.Errorf("g1 holds a resident added for g2 only")
	}
	// Nothing changed: nothing published.
	third, err := o.Publish("staff:test", f.outbox, PublishOptions{Gates: []string{"g1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !third[0].UpToDate {
		t.Errorf("publish with nothing new = %+v, want up to date", third[0])
	}
	// The outbox keeps the newest bundle (and the newest applied snapshot) only.
	ents, _ := os.ReadDir(filepath.Join(f.outbox, "g1"))
	if len(ents) != 2 {
		t.Errorf("outbox g1 holds %d files, want 2 (the applied snapshot, the newest delta)", len(ents))
	}
	if n, err := o.VerifyLog(); err != nil || n < 10 {
		t.Errorf("VerifyLog() = %d, %v", n, err)
	}
}

// A gate that never reported, or whose applied bundle the office no
// longer has the changes since, gets a snapshot.
func TestLaggingGateGetsSnapshot(t *testing.T) {
	f := newFixture(t, "g1", "g2")
	r, err := f.o.AddResident("staff:test", NewResident{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, "g1") // g2 is offline
	if _, err := f.o.AddCard("staff:test", r.ID, "4242", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ps := f.sync(t, "g1")
	if p := pubFor(ps, "g1"); p.Base == 0 {
		t.Errorf("g1, in step, got a snapshot")
	}
	if p := pubFor(ps, "g2"); p.Base != 0 {
		t.Errorf("g2, never applied anything, got a delta against %d", p.Base)
	}
	// g1 goes offline for 100 days; the change log is pruned past 90.
	f.clk.t = f.clk.t.Add(100 * 24 * time.Hour)
	if _, err := f.o.AddResident("staff:test", NewResident{Name: "Bea"}); err != nil {
		t.Fatal(err)
	}
	f.clk.t = f.clk.t.Add(91 * 24 * time.Hour)
	f.sync(t, "g2")
	if _, err := f.o.AddResident("staff:test", NewResident{Name: "Cy"}); err != nil {
		t.Fatal(err)
	}
	ps = f.sync(t)
	if p := pubFor(ps, "g1"); p.Base != 0 || p.Residents != 3 {
		t.Errorf("g1, behind the pruned change log: %+v, want a snapshot of 3", p)
	}
	if p := pubFor(ps, "g2"); p.Base == 0 {
		t.Errorf("g2, in step: got a snapshot")
	}
	if n := len(f.gates["g1"].residents); n != 3 {
		t.Errorf("g1 holds %d residents, want 3", n)
	}
}

type collectedState struct {
	g        Gate
	audit    int
	erasures int
}

func stateOf(t *testing.T, o *Office, gate string) collectedState {
	t.Helper()
	gs, _ := o.Gates()
	var g Gate
	for _, x := range gs {
		if x.Name == gate {
			g = x
		}
	}
	a, err := o.AuditEntries(gate)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := o.Erasures()
	return collectedState{g, len(a), len(es)}
}

func sameCollected(t *testing.T, what string, a, b collectedState) {
	t.Helper()
	if a.g.AuditSeq != b.g.AuditSeq || a.g.EventsSeq != b.g.EventsSeq || a.g.Applied != b.g.Applied || a.audit != b.audit ||
		a.erasures != b.erasures || a.g.AuditHash != b.g.AuditHash || len(a.g.Faces) != len(b.g.Faces) {
		t.Errorf("%s changed what the office holds: %+v -> %+v", what, a, b)
	}
}

// Bad event bundles are refused, each with a clear error, and change
// nothing the office holds.
func TestCollectRefusals(t *testing.T) {
	f := newFixture(t, "g1", "g2")
	g1, g2 := f.gates["g1"], f.gates["g2"]
	g1.access(t, 5)
	f.sync(t)
	if st := stateOf(t, f.o, "g1"); st.g.AuditSeq == 0 || st.audit != int(st.g.AuditSeq) {
		t.Fatalf("after the first collect g1 audit = %d held %d", st.g.AuditSeq, st.audit)
	}
	good := stateOf(t, f.o, "g1")
	try := func(name, path string, want error, text string) {
		t.Helper()
		before := stateOf(t, f.o, "g1")
		c := f.o.CollectFile("staff:test", "g1", path)
		if c.Error == "" || !strings.Contains(c.Error, text) {
			t.Errorf("%s: Collect error = %q, want it to say %q", name, c.Error, text)
		}
		sameCollected(t, name, before, stateOf(t, f.o, "g1"))
		os.Remove(path)
		if !errors.Is(c.Err, want) {
			t.Errorf("%s: Collect error %v, want %v", name, c.Err, want)
		}
	}
	dir := filepath.Join(f.inbox, "g1")

	// A broken chain: an entry altered after the gate wrote it.
	g1.access(t, 3)
	ev := g1.events(t)
	ev.Audit[1].Detail = "method=face"
	try("altered entry", g1.seal(t, ev, g1.id, f.inbox), ErrChainBroken, "does not hash")
	if st := stateOf(t, f.o, "g1"); st.g.ChainError == "" {
		t.Errorf("chain status after an altered entry: OK, want broken")
	}
	// Entries missing: the bundle goes on past the entry after the last held.
	ev = g1.events(t)
	var tail []bundle.AuditEntry
	for _, a := range ev.Audit {
		if a.Seq >= good.g.AuditSeq+2 {
			tail = append(tail, a)
		}
	}
	ev.Audit = tail
	try("entries missing", g1.seal(t, ev, g1.id, f.inbox), ErrChainBroken, "entries missing")

	// A replay of the collected bundle, and another bundle with its sequence.
	old := filepath.Join(dir, "events-00000000000000000001.gevents")
	if c := f.o.CollectFile("staff:test", "g1", old); !c.Replay || !strings.Contains(c.Error, "already collected") {
		t.Errorf("collecting a collected bundle again: %+v, want a replay", c)
	}
	ev = g1.events(t)
	g1.evSeq = 0 // a bundle with sequence 1 again
	try("replay", g1.seal(t, ev, g1.id, f.inbox), ErrReplay, "already collected")
	g1.evSeq = 10

	// Signed by another gate, in g1's folder.
	try("other gate", g1.seal(t, g1.events(t), g2.id, f.inbox), bundle.ErrWrongSender, "not from the expected sender")

	// Truncated in transit.
	p := g1.seal(t, g1.events(t), g1.id, f.inbox)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o640)
	try("truncated", p, bundle.ErrForm, "truncated")

	// A good one still collects, and the chain is OK again.
	c := f.o.CollectFile("staff:test", "g1", g1.seal(t, g1.events(t), g1.id, f.inbox))
	if c.Error != "" || c.Audit != 3 {
		t.Fatalf("good bundle after refusals: %+v, want 3 new entries", c)
	}
	if st := stateOf(t, f.o, "g1"); st.g.ChainError != "" || st.g.AuditSeq != good.g.AuditSeq+3 {
		t.Errorf("after a good bundle: chain %q, audit %d, want OK, %d", st.g.ChainError, st.g.AuditSeq, good.g.AuditSeq+3)
	}
}

// The office's chain check is the gate store's: entries of a real store hash the same.
func TestAuditHashMatchesStore(t *testing.T) {
	g := newSimGate(t, "g1", bundle.PublicKey{}, &clock{time.Date(2026, 11, 2, 9, 0, 0, 123456789, time.UTC)})
	g.access(t, 4)
	n := 0
	err := g.db.ForEachAudit(1, func(a store.AuditEntry) error {
		n++
		if got := store.AuditEntryHash(a.Seq, a.Time, string(a.Kind), a.Actor, a.Subject, a.Outcome, a.Detail, a.PrevHash); got != a.Hash {
			t.Errorf("AuditEntryHash(entry %d) = %x, want %x", a.Seq, got, a.Hash)
		}
		return nil
	})
	if err != nil || n < 4 {
		t.Fatalf("ForEachAudit: %d entries, %v", n, err)
	}
}

// An opt-out at gate 2 becomes orders for gates 1 and 3, done when both
// receipt; gate 2 sees its opt-out acknowledged.
func TestOptOutFromGateTravels(t *testing.T) {
	f := newFixture(t, "g1", "g2", "g3")
	r, err := f.o.AddResident("staff:test", NewResident{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t)
	for _, g := range f.gates {
		g.faces[r.ID] = 2
	}
	f.sync(t)
	rep, err := f.o.Report(retention.Weekdays(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Faces) != 1 || len(rep.Faces[0].Gates) != 3 {
		t.Fatalf("report faces = %+v, want Ada at 3 gates", rep.Faces)
	}
	e := f.gates["g2"].optOut(r.ID)
	// g2 reports; g1 and g3 are offline.
	f.sync(t, "g2")
	es, _ := f.o.Erasures()
	if len(es) != 1 || es[0].ID != e.ID || !slices.Equal(es[0].Targets, []string{"g1", "g3"}) {
		t.Fatalf("erasures = %+v, want %s for g1, g3", es, e.ID)
	}
	f.sync(t, "g1")
	es, _ = f.o.Erasures()
	if p := es[0].Pending(); !slices.Equal(p, []string{"g3"}) || !es[0].Done.IsZero() {
		t.Fatalf("after g1's receipt: pending %v done %v, want [g3], not done", p, es[0].Done)
	}
	if f.gates["g1"].faces[r.ID] != 0 {
		t.Errorf("g1 still has face data")
	}
	f.sync(t, "g3")
	es, _ = f.o.Erasures()
	if len(es[0].Pending()) != 0 || es[0].Done.IsZero() {
		t.Fatalf("after g3's receipt: pending %v, want done", es[0].Pending())
	}
	if rc := es[0].Receipts["g3"]; rc.Templates != 2 {
		t.Errorf("g3 receipt = %+v, want 2 templates", rc)
	}
	f.sync(t)
	if !slices.Contains(f.gates["g2"].acked.OptOuts, e.ID) {
		t.Errorf("g2's acks %v lack its opt-out %s", f.gates["g2"].acked.OptOuts, e.ID)
	}
	if len(f.gates["g1"].erase) != 0 {
		t.Errorf("g1 still receives %v", f.gates["g1"].erase)
	}
	rep, _ = f.o.Report(retention.Weekdays(time.UTC))
	if len(rep.Erasures) != 0 || len(rep.Faces) != 0 {
		t.Errorf("report: erasures %+v faces %+v, want none", rep.Erasures, rep.Faces)
	}
}

// An erasure pending past 15 working days shows in the report as late.
func TestPendingErasureLate(t *testing.T) {
	f := newFixture(t, "g1", "g2")
	r, _ := f.o.AddResident("staff:test", NewResident{Name: "Ada"})
	f.sync(t)
	e, err := f.o.OptOut("staff:test", r.ID, "withdrew consent", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, "g1") // g2 stays offline
	cal, err := retention.ParseCalendar("holidays", strings.NewReader("2026-11-05 holiday test day\n"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := f.o.Report(cal)
	if len(rep.Erasures) != 1 || rep.Erasures[0].Late || !slices.Equal(rep.Erasures[0].Pending, []string{"g2"}) {
		t.Fatalf("report erasures = %+v, want %s pending at g2, not late", rep.Erasures, e.ID)
	}
	// 15 working days from Monday 2 November, with a holiday on the 5th:
	// the deadline is the end of Tuesday 24 November.
	if dl := rep.Erasures[0].Deadline; dl.Format("2006-01-02") != "2026-11-25" && dl.Format("2006-01-02") != "2026-11-24" {
		t.Errorf("deadline %v, want the end of 24 November", dl)
	}
	f.clk.t = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	if rep, _ = f.o.Report(cal); rep.Late != 0 {
		t.Errorf("on the last day: late = %d, want 0", rep.Late)
	}
	f.clk.t = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	if rep, _ = f.o.Report(cal); rep.Late != 1 || !rep.Erasures[0].Late {
		t.Errorf("the day after: late = %d, want 1", rep.Late)
	}
}

// The office refuses what would make a bad bundle, with a clear error.
func TestRecordsRefused(t *testing.T) {
	f := newFixture(t, "g1")
	o := f.o
	for _, tc := range []struct {
		n    NewResident
		want string
	}{
		{NewResident{}, "name is empty"},
		{NewResident{Name: "A", Gates: []string{"nope"}}, "no gate"},
		{NewResident{Name: "A", Profile: "nope"}, "no profile"},
		{NewResident{Name: "A", Guardian: "r-000000000000", Minor: true}, "not a resident"},
		{NewResident{Name: "A", ValidFrom: f.clk.t, ValidUntil: f.clk.t.Add(-time.Hour)}, "not before"},
	} {
		if _, err := o.AddResident("staff:test", tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddResident(%+v) = %v, want an error saying %q", tc.n, err, tc.want)
		}
	}
	r, _ := o.AddResident("staff:test", NewResident{Name: "A"})
	if _, err := o.AddCard("staff:test", r.ID, "12ab", time.Time{}, time.Time{}); err == nil {
		t.Errorf("AddCard(12ab) succeeded")
	}
	if _, err := o.AddCard("staff:test", r.ID, "0042", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.AddCard("staff:test", r.ID, "42", time.Time{}, time.Time{}); err == nil || !strings.Contains(err.Error(), "assigned") {
		t.Errorf("the same card twice: %v", err)
	}
	if err := o.SetPIN("staff:test", r.ID, "12"); err == nil {
		t.Errorf("SetPIN(12) succeeded")
	}
	if err := o.SetProfile("staff:test", "p", []string{"sometimes"}); err == nil {
		t.Errorf("SetProfile(sometimes) succeeded")
	}
	_, cards, _ := o.Resident(r.ID)
	if len(cards) != 1 || cards[0].Last2 != "42" || hex.EncodeToString(cards[0].Token) == "" {
		t.Errorf("cards = %+v, want one ending 42", cards)
	}
}
