package store

import (
	"bytes"
	"errors"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSecrets(t *testing.T) {
	db, path, kek := newTestDB(t)
	key := []byte("0123456789abcdef")
	if err := db.SetSecret("staff:test", "osdp/side", key); err != nil {
		t.Fatal(err)
	}
	got, err := db.Secret("osdp/side")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Secret = %x, %v, want %x", got, err, key)
	}
	if _, err := db.Secret("osdp/other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Secret(unset) = %v, want ErrNotFound", err)
	}
	// Sealed: the value is nowhere in the file.
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, key) {
		t.Errorf("the secret is in the file in clear")
	}
	// Moved to another name, it does not open.
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		return b.Put([]byte(secretPrefix+"osdp/other"), bytes.Clone(b.Get([]byte(secretPrefix+"osdp/side"))))
	})
	bdb.Close()
	db, err = Open(path, kek, Options{PIN: testPIN})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Secret("osdp/other"); !errors.Is(err, ErrTampered) {
		t.Errorf("Secret(moved) = %v, want ErrTampered", err)
	}
	// Rotation keeps it.
	k2, _ := GenerateKEK()
	if err := db.RotateKEK("staff:test", k2); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Secret("osdp/side"); err != nil || !bytes.Equal(got, key) {
		t.Errorf("Secret after rotation = %x, %v", got, err)
	}
}
