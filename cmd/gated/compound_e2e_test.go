package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
)

// officePINHash is the office's PIN hash (bundle.PepperedHash under the
// compound's PIN pepper), with cheap parameters for the test.
func officePINHash(pepper []byte, pin string) *bundle.Hash {
	salt := []byte("0123456789abcdef")
	return &bundle.Hash{Time: 1, MemoryKiB: 64, Threads: 1, Salt: salt, Sum: bundle.PepperedHash(pepper, pin, salt, 1, 64, 1, 32)}
}

// TestCompoundE2E: the real daemon joins a compound; a records bundle the
// test's office sealed, dropped into the inbox, lets a card and PIN open
// the relay; a delta imported from a file revokes the card (refused at
// the reader); a replayed older bundle is refused and audited; gated
// compound export writes an event bundle the office opens, whose audit
// chain links and which reports what it applied.
func TestCompoundE2E(t *testing.T) {
	r := startRig(t)
	office, err := bundle.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := bundle.NewSecret()
	out := r.gated("compound", "join", "--office", office.Public().String(), "--compound", "parkview", "--gate", "north", "--json")
	var joined struct{ Public string }
	if err := json.Unmarshal([]byte(out), &joined); err != nil {
		t.Fatalf("compound join --json = %q: %v", out, err)
	}
	gateKey, err := bundle.ParsePublicKey(joined.Public)
	if err != nil {
		t.Fatalf("the key join printed does not parse: %v", err)
	}
	const res = "r-00000000e2e1"
	seal := func(seq, base uint64, rec *bundle.Records) []byte {
		rec.Version, rec.Compound, rec.Gate, rec.Secret = bundle.PayloadVersion, "parkview", "north", secret
		p, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b, err := bundle.Seal(office, bundle.Header{Kind: bundle.KindRecords, Seq: seq, Base: base, To: gateKey}, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	snap := seal(1, 0, &bundle.Records{
		Residents: []bundle.Resident{{ID: res, Name: "Office Resident", Unit: "9-901", PIN: officePINHash(secret.PINPepper(), "8642")}},
		Cards:     []bundle.Card{{Token: secret.CardToken("7001"), Resident: res}},
	})
	inbox := filepath.Join(r.dir, "data", "inbox")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "records-00000000000000000001.gbundle"), snap, 0o640); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.gated("compound", "status"), "north  1 ") && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if st := r.gated("compound", "status"); !strings.Contains(st, "north  1 ") {
		t.Fatalf("compound status after the inbox snapshot = %q, want applied 1", st)
	}
	r.swipe("7001", "8642")
	r.expectOpen("office card and PIN", 5*time.Second)
	r.drainOpens()

	// Local staff cannot change the office's resident.
	if out, err := r.gatedErr("", "card", "revoke", res, "7001"); err == nil || !strings.Contains(out, "managed by the property office") {
		t.Errorf("card revoke of an office card = %v %q, want managed by the property office", err, out)
	}

	// A delta revoking the card, from a USB stick.
	usb := t.TempDir()
	delta := filepath.Join(usb, "records-2.gbundle")
	os.WriteFile(delta, seal(2, 1, &bundle.Records{Remove: bundle.Removals{Cards: [][]byte{secret.CardToken("7001")}}}), 0o644)
	if out := r.gated("import", delta); !strings.Contains(out, "records 2 (delta) applied") {
		t.Errorf("import delta = %q", out)
	}
	r.swipe("7001", "8642")
	r.expectShut("revoked office card", 2*time.Second)

	// A replayed older bundle is refused and audited.
	old := filepath.Join(usb, "records-1.gbundle")
	os.WriteFile(old, snap, 0o644)
	if out, err := r.gatedErr("", "import", old); err == nil || !strings.Contains(out, "replay or older") {
		t.Errorf("import of a replayed bundle = %v %q, want refused as a replay", err, out)
	}
	if audit := r.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, "refused") || !strings.Contains(audit, "records-1") {
		t.Errorf("audit lacks the refused replay:\n%s", audit)
	}

	// The event bundle, exported to the USB stick, opens with the office's key.
	r.gated("compound", "export", usb)
	files, _ := filepath.Glob(filepath.Join(usb, "events-*.gevents"))
	if len(files) != 1 {
		t.Fatalf("export wrote %v, want one events file", files)
	}
	raw, _ := os.ReadFile(files[0])
	h, payload, err := bundle.Open(raw, gateKey, office)
	if err != nil {
		t.Fatalf("office opens the event bundle: %v", err)
	}
	ev, err := bundle.DecodeEvents(payload)
	if err != nil {
		t.Fatalf("DecodeEvents = %v", err)
	}
	if h.Kind != bundle.KindEvents || ev.Applied != 2 || ev.Gate != "north" || len(ev.Audit) == 0 || ev.Audit[0].Seq != 1 {
		t.Fatalf("events: kind %s, applied %d, gate %s, %d audit entries; want events, 2, north, the chain from 1", h.Kind, ev.Applied, ev.Gate, len(ev.Audit))
	}
	for i := 1; i < len(ev.Audit); i++ {
		if ev.Audit[i].Prev != ev.Audit[i-1].Hash {
			t.Fatalf("audit entry %d does not link to %d", ev.Audit[i].Seq, ev.Audit[i-1].Seq)
		}
	}
	refused := false
	for _, im := range ev.Imports {
		refused = refused || (!im.OK && im.Seq == 1)
	}
	if !refused {
		t.Errorf("imports %+v lack the refused replay", ev.Imports)
	}
	// The outbox got event bundles too (after each import), mode 0640.
	outs, _ := filepath.Glob(filepath.Join(r.dir, "data", "outbox", "events-*.gevents"))
	if len(outs) == 0 {
		t.Error("no event bundle in the outbox after the imports")
	} else if fi, _ := os.Stat(outs[0]); fi.Mode().Perm() != 0o640 {
		t.Errorf("outbox file mode %v, want 0640", fi.Mode().Perm())
	}
}
