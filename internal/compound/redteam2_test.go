package compound_test

// Second red team of the inbox (issue 16): the scan limits, the name,
// size and time cache, and the inotify watch.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/compound"
)

// A sync user drops 70 files whose clear (unverified) headers claim to
// be deltas against a base that never comes, named to sort before the
// office's files. A waiting delta is not remembered as dealt with, so
// before the fix these were read again at every scan and filled its 64
// new files for ever: the office's real bundle behind them never applied.
func TestRedteam2ForgedWaitingDeltasStarveInbox(t *testing.T) {
	r := newRig(t)
	evil, err := bundle.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 70 {
		seq := uint64(1<<40 + i)
		b, err := bundle.Seal(evil, bundle.Header{Kind: bundle.KindRecords, Seq: seq, Base: seq - 1, To: r.gate}, []byte("junk"))
		if err != nil {
			t.Fatal(err)
		}
		r.drop(fmt.Sprintf("0-%03d.gbundle", i), b)
	}
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	for range 10 {
		r.svc.ScanInbox()
	}
	if got := r.status().Applied; got != 1 {
		t.Fatalf("Compound().Applied after 10 scans = %d, want 1 (the office's snapshot behind 70 forged waiting deltas)", got)
	}
}

// swapFaces runs hook during the import it is handed (the moment between
// a scan reading the inbox and it importing the next file).
type swapFaces struct{ hook func() }

func (f *swapFaces) RemoveFor(_ []string, change func() error) error {
	if f.hook != nil {
		h := f.hook
		f.hook = nil
		h()
	}
	return change()
}

// The office's bundle 2 is read and hashed by the scan, then replaced by
// junk before the scan imports it; the junk is refused. Before the fix
// the scan remembered the office bundle's hash (what it had read) as
// dealt with, so when the real file came back (the sync engine reverts
// the change) the gate skipped it for ever.
func TestRedteam2FileSwappedAfterHashingIsNotSkipped(t *testing.T) {
	r := newRig(t)
	sf := &swapFaces{}
	r.svc = compound.New(compound.Config{Inbox: r.inbox, Outbox: r.outbox, Seen: filepath.Join(r.dir, "compound-seen"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, r.db, sf)
	real2 := r.bundle(2, 1, "000000000002")
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	r.drop("records-2.gbundle", real2)
	sf.hook = func() { // while bundle 1 imports, the sync user swaps bundle 2
		r.drop("records-2.gbundle", []byte("GATEDBN1 not a bundle any more"))
	}
	r.svc.ScanInbox()
	if got := r.status().Applied; got != 1 {
		t.Fatalf("Compound().Applied after the swap = %d, want 1", got)
	}
	// The real file comes back, as it was.
	r.drop("records-2.gbundle", real2)
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(r.inbox, "records-2.gbundle"), later, later)
	r.svc.ScanInbox()
	if got := r.status().Applied; got != 2 {
		t.Fatalf("Compound().Applied after the office's file came back = %d, want 2 (it was remembered as dealt with though never imported)", got)
	}
}

// Staff remove the inbox directory (cleaning up) and the daemon makes it
// again: the watch on the old directory is gone, and before the fix the
// inbox was then only polled, silently (a bundle waited for Poll).
func TestRedteam2WatchSurvivesInboxRecreated(t *testing.T) {
	r := newRig(t)
	r.svc = compound.New(compound.Config{Inbox: r.inbox, Outbox: r.outbox, Seen: filepath.Join(r.dir, "compound-seen"),
		Poll: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, r.db, noFaces{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond)
	if err := os.RemoveAll(r.inbox); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(r.inbox); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not make the removed inbox again within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the new watch
	r.drop("records-1.gbundle", r.bundle(1, 0, "000000000001"))
	start := time.Now()
	for r.status().Applied != 1 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("after the inbox was made again, a bundle was not applied within 5 s (poll is 1 h: nothing watches the new directory)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
