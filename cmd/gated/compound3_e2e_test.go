package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// officeCLI runs the real binary's office commands on one office store.
type officeCLI struct {
	t             *testing.T
	bin, dir, key string
	outbox        string
	collect       string
}

func (o *officeCLI) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(o.bin, append([]string{"office", "--dir", o.dir, "--key", o.key}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "USER=manager")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (o *officeCLI) must(stdin string, args ...string) string {
	o.t.Helper()
	out, err := o.run(stdin, args...)
	if err != nil {
		o.t.Fatalf("gated office %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// deliver copies the office's bundles for gate into the gate's inbox, as
// a sync engine (or staff with a USB stick) would: what the office
// pruned is gone from the inbox too.
func (o *officeCLI) deliver(r *gateRig, gate string) {
	o.t.Helper()
	inbox := filepath.Join(r.dir, "data", "inbox")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		o.t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(inbox, "*.gbundle"))
	for _, f := range old {
		os.Remove(f)
	}
	files, _ := filepath.Glob(filepath.Join(o.outbox, gate, "*.gbundle"))
	if len(files) == 0 {
		o.t.Fatalf("the office has no bundle for %s", gate)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inbox, filepath.Base(f)), b, 0o640); err != nil {
			o.t.Fatal(err)
		}
	}
}

// fetch exports the gate's event bundle into the office's collect folder
// for it (the USB path: gated compound export DIR).
func (o *officeCLI) fetch(r *gateRig, gate string) {
	o.t.Helper()
	dir := filepath.Join(o.collect, gate)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		o.t.Fatal(err)
	}
	r.gated("compound", "export", dir)
}

// applied waits until the gate reports records bundle seq applied.
func applied(t *testing.T, r *gateRig, seq uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got uint64
	for {
		var st struct{ Applied uint64 }
		if err := json.Unmarshal([]byte(r.gated("compound", "status", "--json")), &st); err == nil {
			got = st.Applied
			if got >= seq {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate %s: applied %d, want %d within %v\n%s", r.dir, got, seq, within, r.gated("audit", "list", "--limit", "20"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func newestSeq(t *testing.T, outbox, gate string) uint64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(outbox, gate, "records-*.gbundle"))
	var n uint64
	for _, f := range files {
		var s uint64
		for _, c := range strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "records-"), ".gbundle") {
			s = s*10 + uint64(c-'0')
		}
		n = max(n, s)
	}
	return n
}

// TestCompoundThreeGates is issue 16's scenario on the real binaries: one
// office store and three gate daemons (separate data dirs, ptys, relays).
// A resident and a card added at the office open all three gates; the
// card revoked is refused at all three; an opt-out at gate 2 travels to
// the office and on to gates 1 and 3, whose receipts come back; a gate
// that was off while the office published catches up from what is in its
// inbox.
func TestCompoundThreeGates(t *testing.T) {
	bin := gatedBinary(t)
	root := t.TempDir()
	o := &officeCLI{t: t, bin: bin, dir: filepath.Join(root, "office"), key: filepath.Join(root, "office.key"),
		outbox: filepath.Join(root, "outbox"), collect: filepath.Join(root, "collect")}
	out := o.must("", "init", "--compound", "parkview")
	officeKey := regexp.MustCompile(`office public key: (gated1-\S+)`).FindStringSubmatch(out)
	if officeKey == nil {
		t.Fatalf("office init printed no key:\n%s", out)
	}
	names := []string{"main", "car", "block-b"}
	gates := make([]*gateRig, 3)
	for i, name := range names {
		gates[i] = startRig(t)
		var joined struct{ Public string }
		js := gates[i].gated("compound", "join", "--office", officeKey[1], "--compound", "parkview", "--gate", name, "--json")
		if err := json.Unmarshal([]byte(js), &joined); err != nil {
			t.Fatalf("compound join --json = %q: %v", js, err)
		}
		o.must("", "gate", "add", name, joined.Public)
	}

	// A resident and a card, added once at the office.
	out = o.must("", "resident", "add", "--name", "Wang Fang", "--unit", "2-1203", "--gates", "all")
	id := regexp.MustCompile(`r-[0-9a-f]{12}`).FindString(out)
	if id == "" {
		t.Fatalf("resident add printed no ID: %s", out)
	}
	o.must("", "card", "add", id, "7001")
	o.must("8642\n", "pin", "set", id)
	o.must("", "publish", "--outbox", o.outbox)
	for i, g := range gates {
		if i == 0 {
			// The USB path for gate 1: gated import FILE.
			f, _ := filepath.Glob(filepath.Join(o.outbox, names[0], "*.gbundle"))
			if out := g.gated("import", f[0]); !strings.Contains(out, "applied") {
				t.Fatalf("import at %s: %s", names[0], out)
			}
		} else {
			o.deliver(g, names[i])
		}
	}
	for i, g := range gates {
		applied(t, g, newestSeq(t, o.outbox, names[i]), 30*time.Second)
		g.swipe("7001", "8642")
		g.expectOpen("the office's card at "+names[i], 5*time.Second)
		g.drainOpens()
		o.fetch(g, names[i])
	}
	if out := o.must("", "collect", "--dir", o.collect); strings.Count(out, "applied records") != 3 {
		t.Fatalf("collect after the first import:\n%s", out)
	}

	// Gate 3 is off for a day; the card is revoked and a new resident added.
	gates[2].stop()
	o.must("", "card", "revoke", "7001")
	o.must("", "publish", "--outbox", o.outbox)
	out = o.must("", "resident", "add", "--name", "Zhao Lei", "--unit", "5-301", "--gates", "all")
	id2 := regexp.MustCompile(`r-[0-9a-f]{12}`).FindString(out)
	o.must("", "card", "add", id2, "7002")
	o.must("1357\n", "pin", "set", id2)
	if out := o.must("", "publish", "--outbox", o.outbox); !strings.Contains(out, "delta") {
		t.Errorf("publish after gates acknowledged a snapshot sends no delta:\n%s", out)
	}
	for i, g := range gates[:2] {
		o.deliver(g, names[i])
		applied(t, g, newestSeq(t, o.outbox, names[i]), 30*time.Second)
		g.swipe("7001", "8642")
		g.expectShut("the revoked card at "+names[i], 2*time.Second)
		g.swipe("7002", "1357")
		g.expectOpen("the new resident's card at "+names[i], 5*time.Second)
		g.drainOpens()
	}
	// Back on: gate 3 catches up from what its inbox holds.
	o.deliver(gates[2], names[2])
	gates[2].start()
	applied(t, gates[2], newestSeq(t, o.outbox, names[2]), 30*time.Second)
	gates[2].swipe("7001", "8642")
	gates[2].expectShut("the revoked card at the gate that was off", 2*time.Second)
	gates[2].swipe("7002", "1357")
	gates[2].expectOpen("the new resident's card at the gate that was off", 5*time.Second)
	gates[2].drainOpens()

	// Face data: the new resident enrolls at gates 1 and 2 (faces stay per
	// gate), then opts out at gate 2.
	p := gates[0].photos
	for _, g := range gates[:2] {
		g.gated("face", "enroll", id2, "--photo", p+"/obama.jpg", "--photo", p+"/obama2.jpg", "--consent", "paper")
	}
	for i, g := range gates {
		o.fetch(g, names[i])
	}
	o.must("", "collect", "--dir", o.collect)
	rep := o.must("", "report")
	if !strings.Contains(rep, "main:2") || !strings.Contains(rep, "car:2") || strings.Contains(rep, "block-b:2") {
		t.Errorf("report should show Zhao Lei's face at main and car (2 templates each), not block-b:\n%s", rep)
	}
	gates[1].gated("face", "delete", id2, "--reason", "withdrew consent at the kiosk")
	o.fetch(gates[1], names[1])
	o.must("", "collect", "--dir", o.collect)
	rep = o.must("", "report")
	if !strings.Contains(rep, "erasures pending: 1") || !strings.Contains(rep, "main") {
		t.Fatalf("after gate 2's opt-out the office should wait for main and block-b:\n%s", rep)
	}
	o.must("", "publish", "--outbox", o.outbox)
	for _, i := range []int{0, 2} {
		o.deliver(gates[i], names[i])
		applied(t, gates[i], newestSeq(t, o.outbox, names[i]), 30*time.Second)
	}
	// Gate 1's templates are gone: its face data count is zero.
	if out := gates[0].gated("resident", "show", id2); !strings.Contains(out, "face data: no (0 templates)") {
		t.Errorf("gate 1 still holds face data after the erasure order:\n%s", out)
	}
	for _, i := range []int{0, 2} {
		o.fetch(gates[i], names[i])
	}
	o.must("", "collect", "--dir", o.collect)
	rep = o.must("", "report")
	if !strings.Contains(rep, "erasures pending: 0") || strings.Contains(rep, "main:2") {
		t.Errorf("after the receipts the report should show no erasure pending and no face at main:\n%s", rep)
	}
	// The card still opens (only face data was destroyed).
	gates[0].swipe("7002", "1357")
	gates[0].expectOpen("the card after the face opt-out", 5*time.Second)
}
