package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestFailuresSurviveRestart(t *testing.T) {
	db, path, kek := newTestDB(t)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if f, err := db.Failures("card:1001"); err != nil || f != (Failures{}) {
		t.Fatalf("Failures(none) = %+v, %v; want zero, nil", f, err)
	}
	want := Failures{N: 3, Last: t0}
	if err := db.SetFailures("card:1001", want); err != nil {
		t.Fatal(err)
	}
	auditBefore, _ := db.Stats()
	if err := db.SetFailures("reader:front", Failures{N: 1, Last: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.Stats(); s.AuditEntries != auditBefore.AuditEntries {
		t.Errorf("SetFailures recorded %d audit entries, want none", s.AuditEntries-auditBefore.AuditEntries)
	}
	db.Close()
	// The key is stored only as its HMAC.
	if bytes.Contains(readFile(t, path), []byte("card:1001")) {
		t.Error("the lock-out key is in the file in clear")
	}
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.Failures("card:1001"); err != nil || got != want {
		t.Errorf("Failures after restart = %+v, %v; want %+v", got, err, want)
	}
	if err := db.ClearFailures("card:1001"); err != nil {
		t.Fatal(err)
	}
	if err := db.ClearFailures("card:1001"); err != nil {
		t.Errorf("ClearFailures twice = %v, want nil", err)
	}
	if got, err := db.Failures("card:1001"); err != nil || got != (Failures{}) {
		t.Errorf("Failures after Clear = %+v, %v; want zero", got, err)
	}
	for _, bad := range []struct {
		key string
		f   Failures
	}{
		{"", Failures{N: 1, Last: t0}},
		{"card:1", Failures{N: -1, Last: t0}},
		{"card:1", Failures{N: 1, Last: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		if err := db.SetFailures(bad.key, bad.f); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetFailures(%q, %+v) = %v, want ErrInvalid", bad.key, bad.f, err)
		}
	}
}

// TestFailuresBounded: at most 4096 counters; a new one in a full bucket
// replaces the one whose last failure is oldest. An attacker cycling
// through unknown cards cannot grow the file without bound.
func TestFailuresBounded(t *testing.T) {
	db, _, _ := newTestDB(t)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	// Fill it in one transaction (the method's bookkeeping), oldest is
	// key 17.
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		for i := range maxFailureEntries {
			last := t0.Add(time.Duration(i+1) * time.Second)
			if i == 17 {
				last = t0
			}
			if err := b.Put(db.keys.failureKey(fmt.Sprintf("card:%d", i)), encodeFailures(Failures{N: 1, Last: last})); err != nil {
				return err
			}
		}
		return b.SetSequence(maxFailureEntries)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Updating an existing counter drops nothing.
	if err := db.SetFailures("card:5", Failures{N: 2, Last: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if f, _ := db.Failures("card:17"); f.N != 1 {
		t.Errorf("an update dropped the oldest counter: %+v", f)
	}
	if err := db.SetFailures("card:new", Failures{N: 1, Last: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if f, _ := db.Failures("card:17"); f != (Failures{}) {
		t.Errorf("oldest counter after an insert into a full bucket = %+v, want dropped", f)
	}
	if f, _ := db.Failures("card:new"); f.N != 1 {
		t.Errorf("new counter = %+v", f)
	}
	db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		if n := b.Stats().KeyN; n != maxFailureEntries || b.Sequence() != maxFailureEntries {
			t.Errorf("bucket holds %d counters, counts %d; want %d", n, b.Sequence(), maxFailureEntries)
		}
		return nil
	})
	if err := db.ClearFailures("card:new"); err != nil {
		t.Fatal(err)
	}
	db.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketFailures); b.Sequence() != maxFailureEntries-1 {
			t.Errorf("count after Clear = %d, want %d", b.Sequence(), maxFailureEntries-1)
		}
		return nil
	})
}

// BenchmarkSetFailuresFull measures the worst case: a new counter in a
// full bucket, which scans it for the oldest.
func BenchmarkSetFailuresFull(b *testing.B) {
	db, _, _ := newTestDB(b)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range maxFailureEntries {
		if err := db.SetFailures(fmt.Sprintf("card:%d", i), Failures{N: 1, Last: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		if err := db.SetFailures(fmt.Sprintf("new:%d", i), Failures{N: 1, Last: t0.Add(time.Duration(maxFailureEntries+i) * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}
}
