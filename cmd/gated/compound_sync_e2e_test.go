package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv/syncthingtest"
)

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// matching lists dir's entries whose names match pattern.
func matching(t *testing.T, dir, pattern string) []string {
	t.Helper()
	var out []string
	for _, n := range names(t, dir) {
		if ok, _ := filepath.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// sameFiles reports whether dir b holds exactly a's files matching
// pattern, byte for byte.
func sameFiles(t *testing.T, a, b, pattern string) bool {
	t.Helper()
	fa, fb := matching(t, a, pattern), matching(t, b, pattern)
	if !slices.Equal(fa, fb) {
		return false
	}
	for _, n := range fa {
		x, err1 := os.ReadFile(filepath.Join(a, n))
		y, err2 := os.ReadFile(filepath.Join(b, n))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// TestCompoundOverSyncthing is issue 16's scenario with the bundles
// carried only by a real Syncthing pair on loopback: the office (the real
// binary's office commands and its own Syncthing) and one gate daemon
// (the rig) whose data dir's inbox and outbox are its Syncthing's
// receive-only and send-only folders, both sides configured by
// deploy/syncthing/gated-sync-setup as docs/compound-transport.md says.
// The test copies no bundle: a card added at the office opens the gate
// after publish, revoked it is refused; the gate's event bundles reach
// the office's collect folder, and collect and report show the gate at the
// newest records with its audit chain verified. Neither the daemon (which
// leaves imported files in its receive-only inbox) nor the office (which
// leaves collected files and prunes its outbox) makes a receive-only
// folder change locally, so Syncthing sends nothing back. It measures
// publish to relay open.
func TestCompoundOverSyncthing(t *testing.T) {
	syncthing := syncthingtest.Program(t)
	bin := gatedBinary(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	root := t.TempDir()
	spool := filepath.Join(root, "spool") // the office's /var/spool/gated-office
	o := &officeCLI{t: t, bin: bin, dir: filepath.Join(root, "office"), key: filepath.Join(root, "office.key"),
		outbox: filepath.Join(spool, "outbox"), collect: filepath.Join(spool, "collect")}
	const gate = "main"
	officeOut, officeCollect := filepath.Join(o.outbox, gate), filepath.Join(o.collect, gate)

	// Join: the gate pins the office key, the office adds the gate's.
	out := o.must("", "init", "--compound", "parkview")
	officeKey := regexp.MustCompile(`office public key: (gated1-\S+)`).FindStringSubmatch(out)
	if officeKey == nil {
		t.Fatalf("office init printed no key:\n%s", out)
	}
	r := startRig(t)
	var joined struct{ Public string }
	js := r.gated("compound", "join", "--office", officeKey[1], "--compound", "parkview", "--gate", gate, "--json")
	if err := json.Unmarshal([]byte(js), &joined); err != nil {
		t.Fatalf("compound join --json = %q: %v", js, err)
	}
	o.must("", "gate", "add", gate, joined.Public)

	// Syncthing on both sides: the gate's folders are the daemon's own
	// <data_dir>/inbox and <data_dir>/outbox (the defaults of [compound]).
	inbox, gateOutbox := filepath.Join(r.dir, "data", "inbox"), filepath.Join(r.dir, "data", "outbox")
	pair := syncthingtest.Configure(t, syncthing, syncthingtest.Layout{Gate: gate,
		OfficeHome: filepath.Join(root, "office-sync"), GateHome: filepath.Join(root, "gate-sync"),
		Outbox: o.outbox, Collect: o.collect, Inbox: inbox, GateOutbox: gateOutbox})
	office := syncthingtest.Start(t, syncthing, "office", filepath.Join(root, "office-sync"), "")
	gateST := syncthingtest.Start(t, syncthing, "gate", filepath.Join(root, "gate-sync"), "")
	stStart := time.Now()
	if !syncthingtest.WaitFor(ctx, func() bool {
		var conns struct {
			Connections map[string]struct {
				Connected bool   `json:"connected"`
				Type      string `json:"type"`
			} `json:"connections"`
		}
		err := office.REST("/rest/system/connections", &conns)
		c := conns.Connections[pair.GateID]
		return err == nil && c.Connected && strings.HasPrefix(c.Type, "tcp")
	}) {
		t.Fatalf("the office's Syncthing never connected to the gate's over TCP on loopback")
	}
	t.Logf("Syncthing pair connected %v after start", time.Since(stStart))

	// A resident, a card and a PIN at the office; publish; Syncthing
	// carries the bundle; the daemon finds it in its inbox and applies it.
	out = o.must("", "resident", "add", "--name", "Wang Fang", "--unit", "2-1203", "--gates", "all")
	id := regexp.MustCompile(`r-[0-9a-f]{12}`).FindString(out)
	if id == "" {
		t.Fatalf("resident add printed no ID: %s", out)
	}
	o.must("", "card", "add", id, "7001")
	o.must("8642\n", "pin", "set", id)
	r.drainOpens()
	t0 := time.Now()
	o.must("", "publish", "--outbox", o.outbox)
	published := time.Since(t0)
	seq := newestSeq(t, o.outbox, gate)
	arrival, importedAt := deliveredAndApplied(ctx, t, r, officeOut, inbox, seq)
	r.swipe("7001", "8642")
	var opened time.Time
	select {
	case opened = <-r.opens:
	case <-time.After(5 * time.Second):
		t.Fatalf("the office's card and PIN, applied from the Syncthing inbox: the relay was not opened within 5s")
	}
	t.Logf("publish to relay open: %v (publish command %v, in the gate's inbox %v, applied %v, then card and PIN typed: 350 ms between them)",
		opened.Sub(t0), published, arrival.Sub(t0), importedAt.Sub(t0))
	r.drainOpens()
	eventsArrive(ctx, t, gateOutbox, officeCollect)
	officeSees(t, o, gate, seq)

	// Revoked at the office: the delta travels and the card is refused.
	o.must("", "card", "revoke", "7001")
	t1 := time.Now()
	if out := o.must("", "publish", "--outbox", o.outbox); !strings.Contains(out, "delta") {
		t.Errorf("publish after the gate's acknowledged snapshot sends no delta:\n%s", out)
	}
	seq2 := newestSeq(t, o.outbox, gate)
	if seq2 <= seq {
		t.Fatalf("publish after the revocation wrote no newer bundle: newest %d, before %d", seq2, seq)
	}
	arrival, importedAt = deliveredAndApplied(ctx, t, r, officeOut, inbox, seq2)
	t.Logf("revocation: publish to applied at the gate %v (in the inbox after %v)", importedAt.Sub(t1), arrival.Sub(t1))
	r.swipe("7001", "8642")
	r.expectShut("the card revoked at the office, over Syncthing", 2*time.Second)
	eventsArrive(ctx, t, gateOutbox, officeCollect)
	officeSees(t, o, gate, seq2)

	// One more publish: the office prunes the delta the gate applied, and
	// the deletion travels to the gate's inbox (a change from the office,
	// not a local one).
	o.must("", "resident", "set", id, "--unit", "2-1204")
	o.must("", "publish", "--outbox", o.outbox)
	if slices.Contains(matching(t, officeOut, "*.gbundle"), filepath.Base(bundleName(seq2))) {
		t.Errorf("publish after records %d was applied kept it in the outbox: %v", seq2, matching(t, officeOut, "*.gbundle"))
	}
	if !syncthingtest.WaitFor(ctx, func() bool { return sameFiles(t, officeOut, inbox, "*.gbundle") }) {
		t.Fatalf("the gate's inbox %v does not mirror the office's outbox %v after a prune", matching(t, inbox, "*.gbundle"), matching(t, officeOut, "*.gbundle"))
	}

	// Nothing went back: both receive-only folders are in sync with no
	// local change (the daemon leaves imported bundles where Syncthing put
	// them, the office leaves collected event bundles), and each side
	// holds only what the other sends.
	time.Sleep(2 * time.Second) // two watcher delays: what either would send, it has sent
	for _, f := range []struct {
		st     *syncthingtest.Instance
		folder string
	}{{gateST, "gated-" + gate + "-bundles"}, {office, "gated-" + gate + "-events"}} {
		s, err := f.st.Folder(f.folder)
		if err != nil {
			t.Fatal(err)
		}
		if s.ChangedFiles != 0 || s.ChangedDeletes != 0 || s.NeedFiles != 0 || s.NeedDeletes != 0 {
			t.Errorf("%s's receive-only folder %s = %+v, want no local change and nothing needed", f.st.Name, f.folder, s)
		}
	}
	for _, d := range []struct{ dir, want string }{{inbox, `^records-\d{20}\.gbundle$`}, {officeOut, `^records-\d{20}\.gbundle$`},
		{gateOutbox, `^events-\d{20}\.gevents$`}, {officeCollect, `^events-\d{20}\.gevents$`}} {
		for _, n := range names(t, d.dir) {
			if n != ".stfolder" && n != ".stignore" && !regexp.MustCompile(d.want).MatchString(n) {
				t.Errorf("%s holds %s: only the markers and %s belong there", d.dir, n, d.want)
			}
		}
	}
	if log := r.log.String(); strings.Contains(log, "inbox file refused") || strings.Contains(log, "compound: inbox file\"") {
		t.Errorf("the daemon refused or could not read a file Syncthing put in its inbox:\n%s", log)
	}
	if audit := r.gated("audit", "list", "--limit", "200"); strings.Contains(audit, "refused") {
		t.Errorf("the gate's audit log shows a refused import:\n%s", audit)
	}
	t.Logf("whole scenario: %v", time.Since(start))
}

func bundleName(seq uint64) string {
	return "records-" + pad20(seq) + ".gbundle"
}

func pad20(n uint64) string {
	s := []byte("00000000000000000000")
	for i := len(s) - 1; n > 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}

// deliveredAndApplied waits, without touching the inbox, until Syncthing
// has put the office's bundle seq into the gate's inbox and the daemon has
// applied it, and returns when each was first seen.
func deliveredAndApplied(ctx context.Context, t *testing.T, r *gateRig, officeOut, inbox string, seq uint64) (arrived, applied time.Time) {
	t.Helper()
	src := filepath.Join(officeOut, bundleName(seq))
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("the office's bundle %d: %v", seq, err)
	}
	for arrived.IsZero() || applied.IsZero() {
		if arrived.IsZero() {
			if got, err := os.ReadFile(filepath.Join(inbox, bundleName(seq))); err == nil && bytes.Equal(got, want) {
				arrived = time.Now()
			}
		}
		if applied.IsZero() {
			var st struct{ Applied uint64 }
			if out, err := r.gatedErr("", "compound", "status", "--json"); err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Applied >= seq {
				applied = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("records %d: in the gate's inbox at %v, applied at %v (zero: never)\n%s", seq, arrived, applied, r.gated("audit", "list", "--limit", "20"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if applied.Before(arrived) {
		// Both were first seen in one round; the file came first.
		applied = arrived
	}
	return arrived, applied
}

// eventsArrive waits until every event bundle in the gate's outbox is in
// the office's collect folder, byte for byte (Syncthing carried them).
func eventsArrive(ctx context.Context, t *testing.T, gateOutbox, officeCollect string) {
	t.Helper()
	if !syncthingtest.WaitFor(ctx, func() bool {
		return len(matching(t, gateOutbox, "*.gevents")) > 0 && sameFiles(t, gateOutbox, officeCollect, "*.gevents")
	}) {
		t.Fatalf("the gate's event bundles %v never all reached the office's collect folder (%v)",
			matching(t, gateOutbox, "*.gevents"), matching(t, officeCollect, "*.gevents"))
	}
}

// officeSees runs collect on what Syncthing brought and checks that the
// report shows the gate at records seq with its audit chain verified.
func officeSees(t *testing.T, o *officeCLI, gate string, seq uint64) {
	t.Helper()
	out := o.must("", "collect", "--dir", o.collect)
	if !strings.Contains(out, "applied records") {
		t.Errorf("collect read no event bundle of %s:\n%s", gate, out)
	}
	var rep struct {
		Gates []struct {
			Name      string
			Applied   uint64
			EventsSeq uint64 `json:"events_seq"`
			AuditHeld int    `json:"audit_held"`
			ChainOK   bool   `json:"chain_ok"`
		}
	}
	js := o.must("", "report", "--json")
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Gates) != 1 {
		t.Fatalf("office report --json = %v, %s", err, js)
	}
	g := rep.Gates[0]
	if g.Name != gate || g.Applied != seq || !g.ChainOK || g.EventsSeq == 0 || g.AuditHeld == 0 {
		t.Errorf("office report for %s = %+v, want applied %d, events collected, audit chain ok\n%s", gate, g, seq, o.must("", "report"))
	}
}
