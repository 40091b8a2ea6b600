package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// flipInFile flips mask at offset off of every occurrence of find in the
// file at path, the way a bad sector or a cosmic ray would (bbolt has no
// checksums on leaf pages). It fails the test if find is not in the file.
func flipInFile(t *testing.T, path string, find []byte, off int, mask byte) {
	t.Helper()
	b := readFile(t, path)
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], find)
		if j < 0 {
			break
		}
		b[i+j+off] ^= mask
		i += j + len(find)
		n++
	}
	if n == 0 {
		t.Fatalf("%x is not in %s", find, path)
	}
	writeTestFile(t, path, b)
}

// TestOpenDamagedMetaRecords replays red-team finding F3: one flipped bit
// in meta/kek-verifier made Open say ErrWrongKey ("sealed with kek:X, key
// given is kek:X"), and one in meta/schema made it say ErrSchemaTooNew
// ("schema 16777218 ... upgrade gated"); the daemon falls back to a backup
// only on ErrCorrupt, so it crash-looped. A damaged record must be
// ErrCorrupt naming the record; a plausible newer schema stays
// ErrSchemaTooNew, and a different key stays ErrWrongKey.
func TestOpenDamagedMetaRecords(t *testing.T) {
	kek := mustKEK(t)
	good := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(good, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	addEnrolled(t, db, newRand(3), "Meta", 2)
	var secret []byte
	db.bolt.View(func(tx *bolt.Tx) error {
		secret = bytes.Clone(tx.Bucket(bucketMeta).Get(metaDeviceSecret))
		return nil
	})
	db.Close()
	if len(secret) == 0 {
		t.Fatal("no device secret in meta")
	}
	schema := append([]byte("schema"), binary.BigEndian.AppendUint32(nil, knownSchema)...)
	setSchema := func(v uint32) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bdb.Close()
			if err := bdb.Update(func(tx *bolt.Tx) error { return putSchemaVersion(tx, v) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := mustKEK(t)

	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		key    KEK
		want   error
		says   []string // substrings of the error
	}{
		{"verifier: one bit flipped", func(t *testing.T, path string) {
			flipInFile(t, path, kek.verifier(), 7, 0x10)
		}, kek, ErrCorrupt, []string{"kek-verifier: damaged", kek.Fingerprint()}},
		{"verifier and device secret: one bit each", func(t *testing.T, path string) {
			flipInFile(t, path, kek.verifier(), 0, 0x01)
			flipInFile(t, path, secret, len(secret)-3, 0x80)
		}, kek, ErrCorrupt, []string{"kek-verifier and device-secret: damaged"}},
		{"schema 4 to 5: a newer gated", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema")+3, 0x01)
		}, kek, ErrSchemaTooNew, []string{"schema 5", "upgrade gated"}},
		{"schema 4 to 0x01000004", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema"), 0x01)
		}, kek, ErrCorrupt, []string{"key schema: version 16777220, which no gated wrote"}},
		{"schema 4 to 0", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema")+3, 0x04)
		}, kek, ErrCorrupt, []string{"key schema: version 0"}},
		// Red team round 2: one flipped bit turned 2 into 1, and Open ran
		// the 1 to 2 migration on a store that has its buckets ("create
		// bucket failures: bucket already exists", outside ErrCorrupt: the
		// daemon exited although a good backup existed).
		{"schema 4 to 1", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema")+3, 0x05)
		}, kek, ErrCorrupt, []string{"key schema: version 1, but bucket failures of schema 2 is there"}},
		{"schema 4 to 2", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema")+3, 0x06)
		}, kek, ErrCorrupt, []string{"key schema: version 2, but bucket visitors of schema 3 is there"}},
		{"schema 4 to 3", func(t *testing.T, path string) {
			flipInFile(t, path, schema, len("schema")+3, 0x07)
		}, kek, ErrCorrupt, []string{"key schema: version 3, but bucket compound of schema 4 is there"}},
		{"schema 1000", setSchema(maxPlausibleSchema), kek, ErrSchemaTooNew, []string{"schema 1000"}},
		{"schema 1001", setSchema(maxPlausibleSchema + 1), kek, ErrCorrupt, []string{"version 1001, which no gated wrote"}},
		{"another key", func(*testing.T, string) {}, other, ErrWrongKey,
			[]string{"sealed with " + kek.Fingerprint() + ", key given is " + other.Fingerprint()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gated.db")
			writeTestFile(t, path, readFile(t, good))
			tt.damage(t, path)
			before := readFile(t, path)
			for _, op := range []struct {
				name string
				run  func() error
			}{
				{"Open", func() error {
					db, err := Open(path, tt.key, testOptions(t))
					if err == nil {
						db.Close()
					}
					return err
				}},
				{"OpenReadOnly", func() error {
					db, err := OpenReadOnly(path, tt.key, testOptions(t))
					if err == nil {
						db.Close()
					}
					return err
				}},
				{"Check", func() error { return Check(path, tt.key) }},
			} {
				err := op.run()
				if !errors.Is(err, tt.want) {
					t.Errorf("%s = %v, want %v", op.name, err, tt.want)
					continue
				}
				for _, w := range []error{ErrCorrupt, ErrSchemaTooNew, ErrWrongKey} {
					if w != tt.want && errors.Is(err, w) {
						t.Errorf("%s = %v, want only %v, not also %v", op.name, err, tt.want, w)
					}
				}
				for _, s := range tt.says {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s = %q, want it to say %q", op.name, err, s)
					}
				}
			}
			if !bytes.Equal(readFile(t, path), before) {
				t.Error("the file changed")
			}
		})
	}
}
