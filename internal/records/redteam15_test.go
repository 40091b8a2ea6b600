package records

import (
	"fmt"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// Red team, issue 15: a guesser hammering a locked keypad leaves one
// refusal per attempt, each with its own wait ("try again in 14m31s",
// "14m30s", ...). Counted as distinct reasons they filled the report's
// bounded list, and the reasons that matter (a tenant after their lease)
// were lumped into "(other reasons)". A wait is not part of the reason.
func TestRedReasonsNotFloodedByLockoutWaits(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	tl := NewTally()
	seq := uint64(0)
	add := func(detail string) {
		seq++
		var r store.AuditRecord
		r.Seq, r.Time, r.Kind, r.Actor, r.Outcome, r.Detail = seq, t0.Add(time.Duration(seq)*time.Second), store.KindAccess, "gate", "locked-out", detail
		tl.Add(r)
	}
	for s := 900; s > 0; s-- {
		add(fmt.Sprintf("method=visitor-code reader=front reason=too many wrong codes: try again in %s", time.Duration(s)*time.Second))
	}
	add("method=card reader=front reason=your access is not valid at this time: ask the property office")
	a := tl.Activity(store.AuditRange{})
	found := false
	for _, r := range a.Reasons {
		if r.Reason == "your access is not valid at this time: ask the property office" {
			found = true
		}
	}
	if !found || len(a.Reasons) > 3 {
		t.Errorf("reasons = %d distinct, schedule refusal listed %v; want the lock-out's waits counted as one reason and the schedule refusal listed", len(a.Reasons), found)
	}
}
