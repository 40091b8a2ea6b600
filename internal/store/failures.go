package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Failures is a lock-out counter: how many failures in a row, and when
// the last one was. The gate owns the policy (what counts, when to lock,
// when to forget); the store only keeps the counters across restarts.
type Failures struct {
	N    int
	Last time.Time
}

const (
	// maxFailureEntries bounds the failures bucket: inserting into a full
	// bucket drops the entry with the oldest Last.
	maxFailureEntries = 4096
	maxFailureKey     = 1024
)

// failureKey names a counter in the file: HMAC-SHA-256 of the caller's key
// (a card number, a reader name) under a subkey of the device secret, so a
// copied file does not list which cards failed.
func (k deviceKeys) failureKey(key string) []byte {
	h := hmac.New(sha256.New, k.fail)
	h.Write([]byte(key))
	return h.Sum(nil)
}

func checkFailureKey(key string) error {
	if key == "" || len(key) > maxFailureKey {
		return fmt.Errorf("%w: lock-out key must be 1 to %d bytes", ErrInvalid, maxFailureKey)
	}
	return nil
}

// Failure records are version 1: count u32, last failure.
func encodeFailures(f Failures) []byte {
	var e encoder
	e.u8(1)
	e.u32(uint32(f.N))
	e.time(f.Last)
	return e.b
}

func decodeFailures(b []byte) (Failures, error) {
	d := decoder{b: b}
	d.version(1, "failures")
	n := d.u32()
	f := Failures{N: int(n), Last: d.time()}
	if d.err == nil && n > math.MaxInt32 {
		d.fail("failures: count %d", n)
	}
	return f, d.finish()
}

// Failures returns the counter stored under key: the zero Failures and a
// nil error when none is recorded. On a read-only store it returns
// ErrReadOnly: the gate keeps its counters in memory then.
func (db *DB) Failures(key string) (Failures, error) {
	if err := checkFailureKey(key); err != nil {
		return Failures{}, fmt.Errorf("store: failures: %w", err)
	}
	if db.readOnly {
		return Failures{}, fmt.Errorf("store: failures: %w", ErrReadOnly)
	}
	var f Failures
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketFailures).Get(db.keys.failureKey(key))
		if v == nil {
			return nil
		}
		var err error
		if f, err = decodeFailures(v); err != nil {
			return fmt.Errorf("%w: failure counter: %w", ErrCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return Failures{}, fmt.Errorf("store: failures: %w", err)
	}
	return f, nil
}

// SetFailures stores the counter under key (keyed by HMAC-SHA-256 under a
// device subkey). At most 4096 counters are kept: a new one in a full
// bucket replaces the one whose last failure is oldest. It records no
// audit entry (the gate audits its own decisions). ErrReadOnly on a
// read-only store.
func (db *DB) SetFailures(key string, f Failures) error {
	if err := checkFailureKey(key); err != nil {
		return fmt.Errorf("store: set failures: %w", err)
	}
	if f.N < 0 || f.N > math.MaxInt32 || !validTime(f.Last) {
		return fmt.Errorf("store: set failures: %w: count %d, time %v", ErrInvalid, f.N, f.Last)
	}
	f.Last = f.Last.UTC().Round(0)
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		k := db.keys.failureKey(key)
		if b.Get(k) == nil {
			if b.Sequence() >= maxFailureEntries {
				if err := dropOldestFailure(b); err != nil {
					return err
				}
			}
			if err := b.SetSequence(b.Sequence() + 1); err != nil {
				return err
			}
		}
		return b.Put(k, encodeFailures(f))
	})
	if err != nil {
		return fmt.Errorf("store: set failures: %w", err)
	}
	return nil
}

// dropOldestFailure deletes the counter with the oldest last failure. The
// bucket's sequence counts its entries.
func dropOldestFailure(b *bolt.Bucket) error {
	var oldest []byte
	var when time.Time
	err := b.ForEach(func(k, v []byte) error {
		f, err := decodeFailures(v)
		if err != nil {
			return fmt.Errorf("%w: failure counter: %w", ErrCorrupt, err)
		}
		if oldest == nil || f.Last.Before(when) {
			oldest, when = append(oldest[:0], k...), f.Last
		}
		return nil
	})
	if err != nil || oldest == nil {
		return err
	}
	if err := b.Delete(oldest); err != nil {
		return err
	}
	return b.SetSequence(b.Sequence() - 1)
}

// ClearFailures forgets the counter under key (nothing happens if there
// is none). ErrReadOnly on a read-only store.
func (db *DB) ClearFailures(key string) error {
	if err := checkFailureKey(key); err != nil {
		return fmt.Errorf("store: clear failures: %w", err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		k := db.keys.failureKey(key)
		if b.Get(k) == nil {
			return nil
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		return b.SetSequence(b.Sequence() - 1)
	})
	if err != nil {
		return fmt.Errorf("store: clear failures: %w", err)
	}
	return nil
}
