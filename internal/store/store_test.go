package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.db")
	kek := mustKEK(t)
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("new store mode = %v, want %v", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory has %d entries after create, want 1", len(entries))
	}
	s, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.SchemaVersion != 4 || s.KEKFingerprint != kek.Fingerprint() || s.AuditEntries != 1 {
		t.Errorf("Stats of a new store = %+v, want schema 4, %s, 1 audit entry", s, kek.Fingerprint())
	}
	db.Close()
	if _, err := db.Resident("r-x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Resident after Close = %v, want ErrClosed", err)
	}
	// Reopening an up-to-date store writes nothing.
	before := readFile(t, path)
	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("Open and Close of an up-to-date store changed the file")
	}
}

// TestOpenRefuses checks each bad input gives its error and leaves the
// file byte-for-byte as it was.
func TestOpenRefuses(t *testing.T) {
	kek := mustKEK(t)
	// A real store with some data, to damage.
	good := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(good, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(11)
	for range 30 {
		addEnrolled(t, db, r, "Filler", 3)
	}
	db.Close()
	goodBytes := readFile(t, good)
	if len(goodBytes) < 16*4096 {
		t.Fatalf("test store is only %d bytes", len(goodBytes))
	}

	// A newer schema: written by a build that knows one more migration.
	newer := filepath.Join(t.TempDir(), "newer.db")
	nopts := testOptions(t)
	nopts.migrations = append(defaultMigrations(), func(tx *bolt.Tx, _ *migrateEnv) error {
		_, err := tx.CreateBucket([]byte("future"))
		return err
	})
	ndb, err := Open(newer, kek, nopts)
	if err != nil {
		t.Fatal(err)
	}
	ndb.Close()

	foreignBolt := filepath.Join(t.TempDir(), "foreign.db")
	fdb, err := bolt.Open(foreignBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	fdb.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("widgets"))
		return b.Put([]byte("k"), []byte("v"))
	})
	fdb.Close()

	badMeta := bytes.Clone(goodBytes)
	for _, off := range []int{0, 4096} { // both meta pages
		for i := off + 40; i < off+60; i++ {
			badMeta[i] ^= 0xff
		}
	}

	tests := []struct {
		name    string
		content []byte // written to a fresh file, unless path is set
		path    string
		key     KEK
		want    error
	}{
		{"wrong key", goodBytes, "", mustKEK(t), ErrWrongKey},
		{"newer schema", nil, newer, kek, ErrSchemaTooNew},
		{"empty file", []byte{}, "", kek, ErrNotStore},
		{"text file", []byte("hello, this is not a database\n"), "", kek, ErrNotStore},
		{"random bytes", randomBytes(64 << 10), "", kek, ErrNotStore},
		{"foreign bbolt file", nil, foreignBolt, kek, ErrNotStore},
		{"truncated to half", goodBytes[:len(goodBytes)/2], "", kek, ErrCorrupt},
		{"truncated to one page", goodBytes[:4096], "", kek, ErrCorrupt},
		{"truncated to 100 bytes", goodBytes[:100], "", kek, ErrCorrupt},
		{"both meta pages damaged", badMeta, "", kek, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "gated.db")
				writeTestFile(t, path, tt.content)
			}
			before := readFile(t, path)
			entriesBefore, _ := os.ReadDir(filepath.Dir(path))
			db, err := Open(path, tt.key, testOptions(t))
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path", err)
			}
			if !bytes.Equal(readFile(t, path), before) {
				t.Error("file changed")
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != len(entriesBefore) {
				t.Errorf("directory has %d entries, had %d", len(entries), len(entriesBefore))
			}
		})
	}

	t.Run("wrong key names both fingerprints", func(t *testing.T) {
		other := mustKEK(t)
		_, err := Open(good, other, testOptions(t))
		if err == nil || !strings.Contains(err.Error(), kek.Fingerprint()) || !strings.Contains(err.Error(), other.Fingerprint()) {
			t.Errorf("Open with wrong key = %v, want both fingerprints named", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := Open(t.TempDir(), kek, testOptions(t)); !errors.Is(err, ErrNotStore) {
			t.Errorf("Open(dir) = %v, want ErrNotStore", err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		if _, err := Open(good, KEK{}, testOptions(t)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open with zero KEK = %v, want ErrInvalid", err)
		}
	})
}

func TestMigrations(t *testing.T) {
	kek := mustKEK(t)
	path := filepath.Join(t.TempDir(), "gated.db")
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.AddResident("staff:test", Resident{Name: "Before Migration"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	t.Run("failing migration changes nothing", func(t *testing.T) {
		before := readFile(t, path)
		opts := testOptions(t)
		opts.migrations = append(defaultMigrations(), func(tx *bolt.Tx, _ *migrateEnv) error {
			if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
				return err
			}
			return errors.New("disk on fire")
		})
		if _, err := Open(path, kek, opts); err == nil || !strings.Contains(err.Error(), "migrate schema 4 to 5") {
			t.Errorf("Open with failing migration = %v, want it named", err)
		}
		if !bytes.Equal(readFile(t, path), before) {
			t.Error("failed migration changed the file")
		}
	})

	// A migration that fails on what the file holds (here: a bucket it
	// creates is there already) is damage, so the daemon serves a backup.
	t.Run("migration refused by the file's content", func(t *testing.T) {
		before := readFile(t, path)
		opts := testOptions(t)
		opts.migrations = append(defaultMigrations(), func(tx *bolt.Tx, _ *migrateEnv) error {
			_, err := tx.CreateBucket(bucketAudit)
			return err
		})
		_, err := Open(path, kek, opts)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "migrate schema 4 to 5") || !strings.Contains(err.Error(), "bucket already exists") {
			t.Errorf("Open with a migration the file contradicts = %v, want ErrCorrupt naming the migration and the cause", err)
		}
		if !bytes.Equal(readFile(t, path), before) {
			t.Error("failed migration changed the file")
		}
	})

	t.Run("migration runs once", func(t *testing.T) {
		opts := testOptions(t)
		runs := 0
		opts.migrations = append(defaultMigrations(), func(tx *bolt.Tx, _ *migrateEnv) error {
			runs++
			_, err := tx.CreateBucket([]byte("v2"))
			return err
		})
		for range 2 {
			db, err := Open(path, kek, opts)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := db.Stats()
			if s.SchemaVersion != 5 {
				t.Errorf("schema after migration = %d, want 5", s.SchemaVersion)
			}
			if _, err := db.Resident(res.ID); err != nil {
				t.Errorf("resident lost in migration: %v", err)
			}
			if _, err := db.VerifyAudit(); err != nil {
				t.Error(err)
			}
			db.Close()
		}
		if runs != 1 {
			t.Errorf("migration ran %d times, want 1", runs)
		}
	})
}

// TestMigrateSchema1: a store written by schema 1 code opens, verified,
// migrated to schema 2 with its data whole, and the new buckets work.
func TestMigrateSchema1(t *testing.T) {
	kek := mustKEK(t)
	path := filepath.Join(t.TempDir(), "gated.db")
	v1 := testOptions(t)
	v1.migrations = defaultMigrations()[:1]
	db, err := Open(path, kek, v1)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := addEnrolled(t, db, newRand(12), "Old Resident", 2)
	if err := db.AssignCard("staff:test", res.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Read-only, it is served as it is.
	ro, err := OpenReadOnly(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("OpenReadOnly of a schema 1 store = %v", err)
	}
	if s, err := ro.Stats(); err != nil || s.SchemaVersion != 1 {
		t.Errorf("read-only Stats = %+v, %v; want schema 1", s, err)
	}
	if ps, err := ro.PendingDestructions(); err != nil || len(ps) != 0 {
		t.Errorf("PendingDestructions of a schema 1 store = %v, %v", ps, err)
	}
	ro.Close()

	db, err = Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Open of a schema 1 store = %v", err)
	}
	defer db.Close()
	if s, _ := db.Stats(); s.SchemaVersion != 4 {
		t.Errorf("schema after Open = %d, want 4", s.SchemaVersion)
	}
	if id, err := db.LookupCard("1001"); err != nil || id != res.ID {
		t.Errorf("LookupCard after migration = %q, %v", id, err)
	}
	if err := db.SetFailures("card:1001", Failures{N: 1, Last: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}); err != nil {
		t.Errorf("SetFailures after migration = %v", err)
	}
	if _, err := db.DestroyFaceData("staff:test", res.ID, "opted out"); err != nil {
		t.Errorf("DestroyFaceData after migration = %v", err)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}
}
