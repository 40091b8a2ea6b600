package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestTamperDetected edits the file's records the way an attacker with
// write access might, and checks that decryption refuses each edit.
func TestTamperDetected(t *testing.T) {
	tmplKeys := func(tx *bolt.Tx, residentID string) [][]byte {
		var ks [][]byte
		prefix := []byte(residentID + "/")
		c := tx.Bucket(bucketTemplates).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ks = append(ks, bytes.Clone(k))
		}
		return ks
	}
	swap := func(b *bolt.Bucket, k1, k2 []byte) error {
		v1, v2 := bytes.Clone(b.Get(k1)), bytes.Clone(b.Get(k2))
		if err := b.Put(k1, v2); err != nil {
			return err
		}
		return b.Put(k2, v1)
	}
	tests := []struct {
		name   string
		mutate func(tx *bolt.Tx, a, b string) error
	}{
		{"swap templates between residents", func(tx *bolt.Tx, a, b string) error {
			return swap(tx.Bucket(bucketTemplates), tmplKeys(tx, a)[0], tmplKeys(tx, b)[0])
		}},
		{"swap templates within a resident", func(tx *bolt.Tx, a, _ string) error {
			ks := tmplKeys(tx, a)
			return swap(tx.Bucket(bucketTemplates), ks[0], ks[1])
		}},
		{"copy a template to another resident", func(tx *bolt.Tx, a, b string) error {
			tb := tx.Bucket(bucketTemplates)
			return tb.Put(templateKey(b, "t-000000000000"), bytes.Clone(tb.Get(tmplKeys(tx, a)[0])))
		}},
		{"swap wrapped data keys", func(tx *bolt.Tx, a, b string) error {
			return swap(tx.Bucket(bucketDataKeys), []byte(a), []byte(b))
		}},
		{"edit the clear model name", func(tx *bolt.Tx, a, _ string) error {
			tb := tx.Bucket(bucketTemplates)
			k := tmplKeys(tx, a)[0]
			v := bytes.Clone(tb.Get(k))
			i := bytes.Index(v, []byte("dlib"))
			v[i] = 'D'
			return tb.Put(k, v)
		}},
		{"flip a ciphertext bit", func(tx *bolt.Tx, a, _ string) error {
			tb := tx.Bucket(bucketTemplates)
			k := tmplKeys(tx, a)[0]
			v := bytes.Clone(tb.Get(k))
			v[len(v)-40] ^= 1
			return tb.Put(k, v)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _, _ := newTestDB(t)
			r := newRand(9)
			a, _ := addEnrolled(t, db, r, "Alice", 2)
			b, _ := addEnrolled(t, db, r, "Bob", 2)
			if err := db.bolt.Update(func(tx *bolt.Tx) error { return tt.mutate(tx, a.ID, b.ID) }); err != nil {
				t.Fatal(err)
			}
			err := db.ForEachTemplate("", func(Template) error { return nil })
			if !errors.Is(err, ErrTampered) {
				t.Errorf("ForEachTemplate after %s = %v, want ErrTampered", tt.name, err)
			}
			_, errA := db.Templates(a.ID)
			_, errB := db.Templates(b.ID)
			if !errors.Is(errA, ErrTampered) && !errors.Is(errB, ErrTampered) {
				t.Errorf("Templates after %s = %v / %v, want ErrTampered for one", tt.name, errA, errB)
			}
		})
	}
}
