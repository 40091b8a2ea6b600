package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCompactCatchesUp writes to the store while a compaction copies it,
// and checks the new file holds exactly the live data, writes included.
func TestCompactCatchesUp(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(61)
	a, _ := addEnrolled(t, db, r, "Before", 2)
	if err := db.AssignCard("staff:test", a.ID, "CARD-OLD"); err != nil {
		t.Fatal(err)
	}
	var during Resident
	db.afterCopy = func() {
		// Not under the exclusive lock: these must land in the new file.
		during, _ = addEnrolled(t, db, r, "During", 3)
		if err := db.RevokeCard("staff:test", a.ID, "CARD-OLD"); err != nil {
			t.Error(err)
		}
		if err := db.AssignCard("staff:test", during.ID, "CARD-NEW"); err != nil {
			t.Error(err)
		}
		if err := db.SetSetting("staff:test", "gate.open_ms", []byte("2500")); err != nil {
			t.Error(err)
		}
		for range 50 {
			if _, err := db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "denied"}); err != nil {
				t.Error(err)
			}
		}
	}
	snapshot := func() map[string]map[string][]byte {
		out := map[string]map[string][]byte{}
		db.view(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				m := map[string][]byte{}
				b.ForEach(func(k, v []byte) error { m[string(k)] = bytes.Clone(v); return nil })
				m["\x00sequence"] = be64(b.Sequence())
				out[string(name)] = m
				return nil
			})
		})
		return out
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	db.afterCopy = nil
	want := snapshot()
	// A second compaction with no writes must keep everything too.
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	got := snapshot()
	for name, m := range want {
		for k, v := range m {
			if !bytes.Equal(got[name][k], v) {
				t.Errorf("bucket %s key %q differs after compaction", name, k)
			}
		}
		if len(got[name]) != len(m) {
			t.Errorf("bucket %s has %d keys, want %d", name, len(got[name]), len(m))
		}
	}
	if ts, err := db.Templates(during.ID); err != nil || len(ts) != 3 {
		t.Errorf("templates written during compaction = %d, %v; want 3", len(ts), err)
	}
	if _, err := db.LookupCard("CARD-OLD"); !errors.Is(err, ErrNotFound) {
		t.Errorf("card revoked during compaction = %v, want ErrNotFound", err)
	}
	if id, err := db.LookupCard("CARD-NEW"); err != nil || id != during.ID {
		t.Errorf("card assigned during compaction = %q, %v", id, err)
	}
	if rep, err := db.VerifyAudit(); err != nil || rep.Entries < 50 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
}
