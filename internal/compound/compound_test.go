package compound_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/compound"
	"github.com/gated-dev/gated/internal/store"
)

// noFaces stands in for the matcher: these tests enroll no faces.
type noFaces struct{}

func (noFaces) RemoveFor(_ []string, change func() error) error { return change() }

type rig struct {
	t       *testing.T
	db      *store.DB
	svc     *compound.Service
	dir     string
	inbox   string
	outbox  string
	office  bundle.Identity
	secret  bundle.Secret
	gate    bundle.PublicKey
	applied int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "gated.db"), kek, store.Options{PIN: store.PINParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, db: db, dir: dir, inbox: filepath.Join(dir, "inbox"), outbox: filepath.Join(dir, "outbox")}
	for _, d := range []string{r.inbox, r.outbox} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if r.office, err = bundle.NewIdentity(); err != nil {
		t.Fatal(err)
	}
	if r.secret, err = bundle.NewSecret(); err != nil {
		t.Fatal(err)
	}
	r.svc = compound.New(compound.Config{Inbox: r.inbox, Outbox: r.outbox, Seen: filepath.Join(dir, "compound-seen"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Applied: func() { r.applied++ }}, db, noFaces{})
	m, err := r.svc.Join("staff:test", r.office.Public().String(), "parkview", "north")
	if err != nil {
		t.Fatal(err)
	}
	r.gate = m.Public
	return r
}

// bundle seals a records bundle: seq, base, and residents named by the
// last 12 hex digits of their IDs.
func (r *rig) bundle(seq, base uint64, residents ...string) []byte {
	r.t.Helper()
	rec := &bundle.Records{Version: bundle.PayloadVersion, Compound: "parkview", Gate: "north", Secret: r.secret}
	for _, id := range residents {
		rec.Residents = append(rec.Residents, bundle.Resident{ID: "r-" + id, Name: "Resident " + id})
	}
	p, err := rec.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := bundle.Seal(r.office, bundle.Header{Kind: bundle.KindRecords, Seq: seq, Base: base, To: r.gate}, p)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rig) drop(name string, b []byte) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.inbox, name), b, 0o640); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) status() store.Compound {
	r.t.Helper()
	m, err := r.db.Compound()
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// A newer snapshot supersedes older files; a delta that arrived before
// its base waits and applies once the base is in.
func TestScanInboxOrder(t *testing.T) {
	r := newRig(t)
	r.drop("records-3.gbundle", r.bundle(3, 2, "000000000003"))
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	if n := r.svc.ScanInbox(); n != 1 || r.status().Applied != 1 {
		t.Fatalf("ScanInbox = %d applied, seq %d; want the snapshot 1 (the delta 3 waits for base 2)", n, r.status().Applied)
	}
	r.drop("records-2.gbundle", r.bundle(2, 1, "000000000002"))
	if r.svc.ScanInbox(); r.status().Applied != 3 {
		t.Fatalf("after base 2 arrived: applied %d, want 3", r.status().Applied)
	}
	// A later snapshot and an older delta: the delta is set aside.
	r.drop("records-4.gbundle", r.bundle(4, 3, "000000000004"))
	r.drop("records-5.gbundle", r.bundle(5, 0, "000000000005"))
	r.svc.ScanInbox()
	if m := r.status(); m.Applied != 5 || m.Residents != 1 {
		t.Fatalf("after snapshot 5: applied %d with %d residents, want 5 with 1", m.Applied, m.Residents)
	}
	if r.applied != 4 {
		t.Errorf("the Applied hook ran %d times, want 4 (bundles 1, 2, 3 and 5)", r.applied)
	}
}

// What a sync user can put into the inbox: junk, a link to the store, a
// FIFO, a huge sparse file. None is followed, none blocks, none is
// retried for ever, and the store is unchanged.
func TestScanInboxHostileFiles(t *testing.T) {
	r := newRig(t)
	r.drop("junk.gbundle", []byte("GATEDBN1 and then nonsense"))
	if err := os.Symlink(filepath.Join(r.dir, "gated.db"), filepath.Join(r.inbox, "link.gbundle")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(r.inbox, "fifo.gbundle"), 0o640); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(r.inbox, "big.gbundle"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(bundle.MaxPayload + 1<<20)
	big.Close()
	done := make(chan int, 1)
	go func() { done <- r.svc.ScanInbox() }()
	select {
	case n := <-done:
		if n != 0 {
			t.Fatalf("ScanInbox applied %d hostile files", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ScanInbox blocked on a hostile file (a FIFO?)")
	}
	if m := r.status(); m.Applied != 0 || m.Residents != 0 {
		t.Fatalf("hostile files changed the store: applied %d, %d residents", m.Applied, m.Residents)
	}
	// The junk was refused and audited once; a second scan does not
	// audit it again.
	count := func() int {
		n := 0
		r.db.ForEachAudit(1, func(a store.AuditEntry) error {
			if strings.Contains(a.Outcome+a.Detail, "refused") {
				n++
			}
			return nil
		})
		return n
	}
	first := count()
	if first == 0 {
		t.Fatal("the junk file's refusal was not audited")
	}
	r.svc.ScanInbox()
	if got := count(); got != first {
		t.Errorf("a second scan audited %d more refusals, want 0 (each file is dealt with once)", got-first)
	}
	// A good bundle beside them still applies.
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	if r.svc.ScanInbox(); r.status().Applied != 1 {
		t.Fatalf("the good bundle beside hostile files: applied %d, want 1", r.status().Applied)
	}
}

// Event bundles land in the outbox 0640 under their final name only, and
// each replaces the ones before it.
func TestWriteEventsPrunes(t *testing.T) {
	r := newRig(t)
	var last string
	for i := 0; i < 3; i++ {
		p, err := r.svc.WriteEvents()
		if err != nil {
			t.Fatal(err)
		}
		last = p
	}
	ents, err := os.ReadDir(r.outbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != filepath.Base(last) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outbox holds %v, want only %s", names, filepath.Base(last))
	}
	fi, err := os.Stat(last)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("event bundle mode %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(last)
	h, p, err := bundle.Open(b, r.gate, r.office)
	if err != nil {
		t.Fatalf("the office cannot open the event bundle: %v", err)
	}
	ev, err := bundle.DecodeEvents(p)
	if err != nil || h.Seq != 3 || len(ev.Audit) == 0 {
		t.Fatalf("event bundle seq %d, %v; want seq 3 with the audit chain", h.Seq, err)
	}
}

// A flood of junk in the inbox is read a bounded batch at a time; the
// office's bundle among it still applies within a few scans.
func TestScanInboxFlood(t *testing.T) {
	r := newRig(t)
	for i := range 200 {
		r.drop(fmt.Sprintf("junk-%03d.gbundle", i), []byte(fmt.Sprintf("GATEDBN1 junk %d", i)))
	}
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	scans := 0
	for r.status().Applied != 1 && scans < 10 {
		r.svc.ScanInbox()
		scans++
	}
	if r.status().Applied != 1 {
		t.Fatalf("the office's bundle among 200 junk files: not applied after %d scans", scans)
	}
	if scans < 2 {
		t.Errorf("one scan read all 201 files; want batches of at most 64")
	}
}

// The daemon's loop applies a bundle within a second or two of its
// arrival (inotify), not at the next poll.
func TestRunWakesOnArrival(t *testing.T) {
	r := newRig(t)
	r.svc = compound.New(compound.Config{Inbox: r.inbox, Outbox: r.outbox, Seen: filepath.Join(r.dir, "compound-seen"),
		Poll: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, r.db, noFaces{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond) // the first pass and the watch
	// As a sync engine does: a hidden temporary file, renamed.
	tmp := filepath.Join(r.inbox, ".syncthing.records-1.gbundle.tmp")
	if err := os.WriteFile(tmp, r.bundle(1, 0, "000000000001"), 0o640); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := os.Rename(tmp, filepath.Join(r.inbox, "records-1.gbundle")); err != nil {
		t.Fatal(err)
	}
	for r.status().Applied != 1 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("a bundle renamed into the inbox was not applied within 5 s (poll is 1 h: the watch did not wake the scan)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
