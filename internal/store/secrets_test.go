package store

import (
	"bytes"
	"errors"
	"os"
	"strings"
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
	// Rotation keeps it.
	db, err = Open(path, kek, Options{PIN: testPIN})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k2, _ := GenerateKEK()
	if err := db.RotateKEK("staff:test", k2); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Secret("osdp/side"); err != nil || !bytes.Equal(got, key) {
		t.Errorf("Secret after rotation = %x, %v", got, err)
	}
	// Moved to another name, it does not open, and Open refuses the file.
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		return b.Put([]byte(secretPrefix+"osdp/other"), bytes.Clone(b.Get([]byte(secretPrefix+"osdp/side"))))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Secret("osdp/other"); !errors.Is(err, ErrTampered) {
		t.Errorf("Secret(moved) = %v, want ErrTampered", err)
	}
	db.Close()
	_, err = Open(path, k2, Options{PIN: testPIN})
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "secret:osdp/other") {
		t.Errorf("Open with a moved secret = %v, want ErrCorrupt and ErrTampered naming secret:osdp/other", err)
	}
}
