package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
)

// officeRun runs gated office with dir and key, as staff would.
func officeRun(t *testing.T, dir, key, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"office", "--dir", dir, "--key", key}, args...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errb, func(k string) string {
		if k == "USER" {
			return "alice"
		}
		return ""
	})
	return out.String(), errb.String(), code
}

// The office CLI end to end on its own: init, records, publish to a
// gate's folder (opened here with the gate's key), collect the gate's
// event bundle, report; a wrong key refused.
func TestOfficeCLI(t *testing.T) {
	root := t.TempDir()
	dir, key := filepath.Join(root, "office"), filepath.Join(root, "etc", "kek")
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errs, code := officeRun(t, dir, key, stdin, args...)
		if code != 0 {
			t.Fatalf("gated office %s = exit %d: %s%s", strings.Join(args, " "), code, errs, out)
		}
		return out
	}
	out := must("", "init", "--compound", "greenhill")
	m := regexp.MustCompile(`office public key: (gated1-\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no key:\n%s", out)
	}
	officeKey, err := bundle.ParsePublicKey(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want 0600", fi, err)
	}
	if _, errs, code := officeRun(t, dir, key, "", "init", "--compound", "greenhill"); code == 0 || !strings.Contains(errs, "already") {
		t.Errorf("a second init: exit %d %q, want refused", code, errs)
	}
	gate, _ := bundle.NewIdentity()
	must("", "gate", "add", "main", gate.Public().String())
	must("", "schedule", "profile", "set", "staff", "workdays 08:00-18:00")
	out = must("", "resident", "add", "--name", "Ada Lovelace", "--unit", "3-301", "--profile", "staff", "--gates", "all")
	id := regexp.MustCompile(`r-[0-9a-f]{12}`).FindString(out)
	if id == "" {
		t.Fatalf("resident add printed no ID: %s", out)
	}
	must("", "card", "add", id, "004215673")
	if _, errs, code := officeRun(t, dir, key, "", "pin", "set", id); code == 0 || !strings.Contains(errs, "standard input") {
		t.Errorf("pin set without a PIN: exit %d %q", code, errs)
	}
	must("1357\n", "pin", "set", id)
	out = must("", "visitor", "add", "--name", "courier", "--valid", "2h", "--uses", "2")
	code := regexp.MustCompile(`# (\d{10}) #`).FindStringSubmatch(out)
	if code == nil {
		t.Fatalf("visitor add showed no 10-digit code:\n%s", out)
	}
	out = must("", "resident", "list")
	if !strings.Contains(out, "…73") || strings.Contains(out, "4215673") {
		t.Errorf("resident list shows the card as %q, want only its last 2 digits", out)
	}
	outbox := filepath.Join(root, "outbox")
	out = must("", "publish", "--outbox", outbox)
	if !strings.Contains(out, "main: records 1, snapshot") {
		t.Fatalf("publish: %s", out)
	}
	b, err := os.ReadFile(filepath.Join(outbox, "main", "records-00000000000000000001.gbundle"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("4215673")) || bytes.Contains(b, []byte("Ada")) {
		t.Errorf("the bundle file holds a card number or a name in clear")
	}
	h, payload, err := bundle.Open(b, officeKey, gate)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := bundle.DecodeRecords(payload, h.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Residents) != 1 || rec.Residents[0].PIN == nil || len(rec.Cards) != 1 || len(rec.Passes) != 1 || rec.Residents[0].Profile != "staff" {
		t.Fatalf("bundle = %d residents %d cards %d passes, want one each with PIN and profile", len(rec.Residents), len(rec.Cards), len(rec.Passes))
	}
	if !bytes.Equal(rec.Cards[0].Token, rec.Secret.CardToken("4215673")) {
		t.Errorf("the card token is not the compound token of the number as a reader sends it")
	}
	if out = must("", "publish", "--outbox", outbox); !strings.Contains(out, "up to date") {
		t.Errorf("publish with nothing new: %s", out)
	}

	// The gate reports: applied 1, a face enrolled, an opt-out asked there.
	ev := &bundle.Events{Compound: "greenhill", Gate: "main", Applied: h.Seq, Faces: map[string]int{id: 3},
		Imports: []bundle.Import{{Seq: 1, At: time.Now(), OK: true}}}
	payload, _ = ev.Encode()
	eb, err := bundle.Seal(gate, bundle.Header{Kind: bundle.KindEvents, Seq: 1, To: officeKey}, payload)
	if err != nil {
		t.Fatal(err)
	}
	collect := filepath.Join(root, "collect")
	os.MkdirAll(filepath.Join(collect, "main"), 0o750)
	os.WriteFile(filepath.Join(collect, "main", "events-00000000000000000001.gevents"), eb, 0o640)
	out = must("", "collect", "--dir", collect)
	if !strings.Contains(out, "applied records 1") {
		t.Errorf("collect: %s", out)
	}
	if out = must("", "collect", "--dir", collect); !strings.Contains(out, "already collected") {
		t.Errorf("collect again: %s", out)
	}
	out = must("", "report", "--holidays", filepath.Join("..", "..", "configs", "holidays.txt"))
	for _, want := range []string{"main", "Ada_Lovelace", "main:3", "erasures pending: 0", "chain ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	out = must("", "optout", id, "--reason", "withdrew consent")
	if !strings.Contains(out, "to be destroyed at main") {
		t.Errorf("optout: %s", out)
	}
	if out = must("", "report"); !strings.Contains(out, "erasures pending: 1") {
		t.Errorf("report after an opt-out: %s", out)
	}

	// A wrong key: refused, clearly.
	other := filepath.Join(root, "other.kek")
	raw := make([]byte, 32)
	rand.Read(raw)
	os.WriteFile(other, []byte(hex.EncodeToString(raw)+"\n"), 0o600)
	if _, errs, code := officeRun(t, dir, other, "", "resident", "list"); code != 1 || !strings.Contains(errs, "wrong key") {
		t.Errorf("a wrong key: exit %d %q, want 1 and wrong key", code, errs)
	}
}
