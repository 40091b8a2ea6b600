package compound_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/compound"
	"github.com/gated-dev/gated/internal/store"
)

// Junk written into the inbox as fast as a sync user likes is audited
// ten files a minute; the rest are counted and audited as one entry when
// the minute is over, so the audit log cannot be flooded through the
// inbox.
func TestRefusalFloodCoalesced(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r.svc = compound.New(compound.Config{Inbox: r.inbox, Outbox: r.outbox, Seen: filepath.Join(r.dir, "compound-seen"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock}, r.db, noFaces{})
	for i := range 40 {
		r.drop(fmt.Sprintf("junk-%02d.gbundle", i), []byte(fmt.Sprintf("not a bundle %d", i)))
	}
	r.svc.ScanInbox()
	refusals := func() (each, summary int) {
		r.db.ForEachAudit(1, func(a store.AuditEntry) error {
			switch {
			case strings.Contains(a.Detail, "more inbox files refused"):
				summary++
			case strings.Contains(a.Outcome+a.Detail, "refused"):
				each++
			}
			return nil
		})
		return each, summary
	}
	if each, summary := refusals(); each != 10 || summary != 0 {
		t.Fatalf("40 junk files in one minute: %d refusals audited on their own and %d summaries, want 10 and 0", each, summary)
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	r.svc.ScanInbox()
	each, summary := refusals()
	if each != 10 || summary != 1 {
		t.Fatalf("after the minute: %d on their own and %d summaries, want 10 and 1", each, summary)
	}
	var detail string
	r.db.ForEachAudit(1, func(a store.AuditEntry) error {
		if strings.Contains(a.Detail, "more inbox files refused") {
			detail = a.Detail
		}
		return nil
	})
	if !strings.Contains(detail, "30 more") {
		t.Errorf("summary = %q, want it to count the 30 not audited on their own", detail)
	}
}
