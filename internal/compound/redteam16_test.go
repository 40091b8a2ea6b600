package compound

// Hostile tests of the gate's inbox (issue 16 red team): a compromised
// sync user can write any file into the inbox.

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/store"
)

type rtOffice struct {
	id     bundle.Identity
	secret bundle.Secret
}

func rtGate(t *testing.T) (*store.DB, *Service, rtOffice, store.Compound, string) {
	t.Helper()
	dir := t.TempDir()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "gated.db"), kek, store.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("store.Open = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	var o rtOffice
	if o.id, err = bundle.NewIdentity(); err != nil {
		t.Fatal(err)
	}
	if o.secret, err = bundle.NewSecret(); err != nil {
		t.Fatal(err)
	}
	c, err := db.JoinCompound("staff:test", "parkview", "north", o.id.Public())
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(dir, "inbox")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Inbox: inbox, Outbox: filepath.Join(dir, "outbox"), Seen: filepath.Join(dir, "compound-seen")}, db, nil)
	if err := os.MkdirAll(s.cfg.Outbox, 0o750); err != nil {
		t.Fatal(err)
	}
	return db, s, o, c, inbox
}

func (o rtOffice) bundle(t *testing.T, signer bundle.Identity, to bundle.PublicKey, seq, base uint64, r *bundle.Records) []byte {
	t.Helper()
	r.Version, r.Compound, r.Gate, r.Secret = bundle.PayloadVersion, "parkview", "north", o.secret
	p, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Seal(signer, bundle.Header{Kind: bundle.KindRecords, Seq: seq, Base: base, To: to}, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtWrite(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The sync user drops a file whose clear header claims a newer snapshot
// (unsigned by the office) next to the office's real delta that revokes a
// card. The header is not verified when the inbox is sorted, so the real
// delta must not be set aside as "superseded" by a file that is then
// refused: a refused bundle changes nothing.
func TestRedteam16ForgedSnapshotHeaderDoesNotSupersede(t *testing.T) {
	db, s, o, c, inbox := rtGate(t)
	const res = "r-0000000000a1"
	snap := &bundle.Records{Residents: []bundle.Resident{{ID: res, Name: "Wang Fang"}},
		Cards: []bundle.Card{{Token: o.secret.CardToken("1001"), Resident: res}}}
	rtWrite(t, inbox, "records-00000000000000000001.gbundle", o.bundle(t, o.id, c.Public, 1, 0, snap))
	if n := s.ScanInbox(); n != 1 {
		t.Fatalf("ScanInbox (snapshot 1) = %d applied, want 1", n)
	}
	if id, err := db.LookupCard("1001"); err != nil || id != res {
		t.Fatalf("LookupCard(1001) = %q, %v, want %s", id, err, res)
	}
	// The office revokes card 1001 in delta 2; the attacker adds a forged
	// "snapshot 99" signed by its own key (and one claiming the office's
	// key, its signature broken).
	rtWrite(t, inbox, "records-00000000000000000002.gbundle", o.bundle(t, o.id, c.Public, 2, 1, &bundle.Records{Remove: bundle.Removals{Cards: [][]byte{o.secret.CardToken("1001")}}}))
	evil, err := bundle.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	rtWrite(t, inbox, "records-00000000000000000099.gbundle", o.bundle(t, evil, c.Public, 99, 0, &bundle.Records{}))
	forged := o.bundle(t, o.id, c.Public, 98, 0, &bundle.Records{})
	forged[len(forged)-1] ^= 1
	rtWrite(t, inbox, "records-00000000000000000098.gbundle", forged)
	// And junk the scan must step over: a FIFO (must not block), a link
	// to the store (must not be followed), an empty file.
	if err := syscall.Mkfifo(filepath.Join(inbox, "fifo.gbundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(db.Path(), filepath.Join(inbox, "link.gbundle")); err != nil {
		t.Fatal(err)
	}
	rtWrite(t, inbox, "empty.gbundle", nil)

	done := make(chan int)
	go func() { done <- s.ScanInbox() }()
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("ScanInbox (delta 2 and forged files) = %d applied, want 1", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ScanInbox blocked (on the FIFO?)")
	}
	got, err := db.Compound()
	if err != nil {
		t.Fatal(err)
	}
	if got.Applied != 2 {
		t.Errorf("Compound().Applied = %d, want 2 (the office's delta, not set aside for a forged header)", got.Applied)
	}
	if id, err := db.LookupCard("1001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LookupCard(1001) after the office revoked it = %q, %v, want ErrNotFound", id, err)
	}
	// A later scan changes nothing and tries no file again.
	if n := s.ScanInbox(); n != 0 {
		t.Errorf("ScanInbox again = %d applied, want 0", n)
	}
}
