package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rangeTestDB opens a store whose clock the test sets, and records n access
// entries one every step from start (after the store's own first entries).
func rangeTestDB(t *testing.T, start time.Time, step time.Duration, n int) (*DB, *testClock, uint64) {
	t.Helper()
	clock := newTestClock()
	clock.set(start.Add(-time.Hour))
	opts := testOptions(t)
	opts.Now = clock.Now
	db, err := Open(filepath.Join(t.TempDir(), "gated.db"), mustKEK(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	before := s.AuditEntries
	for i := range n {
		clock.set(start.Add(time.Duration(i)*step - time.Millisecond)) // Now adds 1 ms
		if _, err := db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Subject: fmt.Sprintf("r-%d", i), Outcome: "granted", Detail: "method=card"}); err != nil {
			t.Fatal(err)
		}
	}
	return db, clock, before
}

func collect(t *testing.T, db *DB, from, to time.Time) ([]AuditRecord, AuditRange) {
	t.Helper()
	var got []AuditRecord
	r, err := db.WalkAuditRange(from, to, func(rec AuditRecord) error { got = append(got, rec); return nil })
	if err != nil {
		t.Fatalf("WalkAuditRange(%v, %v) = %v", from, to, err)
	}
	return got, r
}

func TestWalkAuditRangeBounds(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const perDay = 1500 // crosses read-transaction chunks within a day
	step := 24 * time.Hour / perDay
	db, _, before := rangeTestDB(t, start, step, 3*perDay)
	day := func(d int) time.Time { return start.Add(time.Duration(d) * 24 * time.Hour) }

	var prevLast [32]byte
	for d := range 3 {
		got, r := collect(t, db, day(d), day(d+1))
		if !r.OK() {
			t.Fatalf("day %d: range = %+v, want verified", d, r)
		}
		if len(got) != perDay || r.Exported != perDay {
			t.Fatalf("day %d: exported %d records (%d), want %d", d, len(got), r.Exported, perDay)
		}
		wantFirst := before + uint64(d*perDay) + 1
		if r.First != wantFirst || r.Last != wantFirst+perDay-1 || got[0].Seq != r.First || got[len(got)-1].Seq != r.Last {
			t.Errorf("day %d: First, Last = %d, %d, want %d, %d", d, r.First, r.Last, wantFirst, wantFirst+perDay-1)
		}
		for i, rec := range got {
			if rec.Time.Before(day(d)) || !rec.Time.Before(day(d+1)) {
				t.Fatalf("day %d: entry %d at %v, outside the day", d, rec.Seq, rec.Time)
			}
			if i > 0 && rec.PrevHash != got[i-1].Hash {
				t.Fatalf("day %d: entry %d does not link to the record before it", d, rec.Seq)
			}
		}
		if got[0].PrevHash != r.Anchor {
			t.Errorf("day %d: first entry links to %x, anchor is %x", d, got[0].PrevHash, r.Anchor)
		}
		if d > 0 && r.Anchor != prevLast {
			t.Errorf("day %d: anchor %x, want the previous day's last hash %x", d, r.Anchor, prevLast)
		}
		prevLast = r.LastHash
		if r.Head != before+3*perDay || r.Walked != r.Head-r.First+2 {
			t.Errorf("day %d: Head, Walked = %d, %d, want %d, %d", d, r.Head, r.Walked, before+3*perDay, before+3*perDay-r.First+2)
		}
	}

	// The whole log, and ranges with nothing in them.
	got, r := collect(t, db, time.Time{}, time.Time{})
	if !r.OK() || r.First != 1 || uint64(len(got)) != before+3*perDay || r.Anchor != ([32]byte{}) {
		t.Errorf("whole log: %d records, range %+v; want all %d from 1, zero anchor", len(got), r, before+3*perDay)
	}
	got, r = collect(t, db, day(5), day(6))
	if len(got) != 0 || !r.OK() || r.Last != r.First-1 || r.Anchor != r.LastHash || r.Anchor != prevLast {
		t.Errorf("future range: %d records, range %+v; want none, anchored on the last entry", len(got), r)
	}
	got, _ = collect(t, db, day(1).Add(step/3), day(1).Add(2*step))
	if len(got) != 1 {
		t.Errorf("range of one step: %d records, want 1", len(got))
	}
}

func TestWalkAuditRangeClockBack(t *testing.T) {
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	db, clock, _ := rangeTestDB(t, start, time.Minute, 10)
	clock.set(start.Add(2 * time.Minute)) // set back eight minutes
	if _, err := db.AppendAudit(Event{Kind: KindAdmin, Actor: "system", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	_, r := collect(t, db, start, start.Add(time.Hour))
	if r.ClockBack != 1 || !r.OK() {
		t.Errorf("ClockBack, OK = %d, %v, want 1, true", r.ClockBack, r.OK())
	}
}

// TestWalkAuditRangeTamper replays an attacker with write access to the
// file (not the key): each edit shows in the range's check, and the
// export still passes every stored entry on as it is.
func TestWalkAuditRangeTamper(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		mutate func(b *bolt.Bucket, meta *bolt.Bucket, first uint64) error
		want   string
	}{
		{"alter an entry's outcome", func(b, _ *bolt.Bucket, first uint64) error {
			v := bytes.Clone(b.Get(be64(first + 5)))
			i := bytes.Index(v, []byte("granted"))
			copy(v[i:], "denied!")
			return b.Put(be64(first+5), v)
		}, "altered"},
		{"re-hash an altered entry and all after it", func(b, _ *bolt.Bucket, first uint64) error {
			c := b.Cursor()
			var prev [32]byte
			for k, v := c.Seek(be64(first + 5)); k != nil; k, v = c.Next() {
				a, err := decodeAudit(v)
				if err != nil {
					return err
				}
				if a.Seq == first+5 {
					a.Outcome = "denied"
				} else {
					a.PrevHash = prev
				}
				a.Hash = a.computeHash()
				prev = a.Hash
				if err := b.Put(k, encodeAudit(a)); err != nil {
					return err
				}
			}
			return nil
		}, "sealed head"},
		{"delete an entry", func(b, _ *bolt.Bucket, first uint64) error {
			return b.Delete(be64(first + 5))
		}, "missing"},
		{"damage an entry's bytes", func(b, _ *bolt.Bucket, first uint64) error {
			return b.Put(be64(first+5), []byte{1, 2, 3})
		}, "does not decode"},
		{"cut off the tail", func(b, _ *bolt.Bucket, first uint64) error {
			k, _ := b.Cursor().Last()
			return b.Delete(bytes.Clone(k))
		}, "tail cut off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _, before := rangeTestDB(t, start, time.Minute, 20)
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				return tc.mutate(tx.Bucket(bucketAudit), tx.Bucket(bucketMeta), before+1)
			})
			if err != nil {
				t.Fatal(err)
			}
			// A range before the edit, and one holding it: both walk to the
			// head, so both report it.
			for _, to := range []time.Time{start.Add(3 * time.Minute), start.Add(time.Hour)} {
				got, r := collect(t, db, start, to)
				if r.OK() || !strings.Contains(r.Problem, tc.want) {
					t.Errorf("range to %v: OK, Problem = %v, %q; want a problem saying %q", to, r.OK(), r.Problem, tc.want)
				}
				if len(got) == 0 {
					t.Errorf("range to %v: no records passed on", to)
				}
			}
			got, _ := collect(t, db, start, start.Add(time.Hour))
			marked := false
			for _, rec := range got {
				marked = marked || rec.Problem != ""
			}
			if tc.want != "missing" && tc.want != "tail cut off" && tc.want != "sealed head" && !marked {
				t.Errorf("no record carries its Problem")
			}
		})
	}
}

func TestWalkAuditRangeFnError(t *testing.T) {
	db, _, _ := rangeTestDB(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Second, 5)
	stop := errors.New("reader went away")
	n := 0
	_, err := db.WalkAuditRange(time.Time{}, time.Time{}, func(AuditRecord) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("WalkAuditRange with a failing fn = %v after %d calls, want %v after 1", err, n, stop)
	}
}
