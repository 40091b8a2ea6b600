package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives operational messages (store created, migrated,
	// compacted, key rotated). It never receives keys, card numbers, PINs
	// or descriptors. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PIN are the argon2id parameters for new PIN hashes; zero means
	// DefaultPINParams. Tests may lower them.
	PIN PINParams
	// LockTimeout bounds the wait for another process's lock before Open
	// returns ErrLocked; zero means 1 s.
	LockTimeout time.Duration

	// noSync skips fsync; only the benchmark builder uses it.
	noSync bool
	// migrations replaces the schema history, for tests.
	migrations []migration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PIN == (PINParams{}) {
		o.PIN = DefaultPINParams()
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.migrations == nil {
		o.migrations = defaultMigrations()
	}
	return o
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	path string
	opts Options
	log  *slog.Logger

	// compactMu serialises deletions, key rotation, compaction and Close,
	// so a file rewrite never races a deletion. Taken before mu.
	compactMu sync.Mutex
	// mu is held shared by every operation and exclusively while the file
	// is swapped, the KEK changes, or the DB closes.
	mu   sync.RWMutex
	bolt *bolt.DB // nil once closed
	kek  KEK
	keys deviceKeys

	// afterCopy, if set (tests only), runs in compact after the bulk copy
	// and before the catch-up, while other callers may still write.
	afterCopy func()
}

// Open opens the store at path, creating it (mode 0600) if it does not
// exist, and runs schema migrations. It refuses, changing nothing, a wrong
// key (ErrWrongKey), a newer schema (ErrSchemaTooNew), a foreign or empty
// file (ErrNotStore), a truncated or damaged one (ErrCorrupt), and a file
// another process holds open (ErrLocked).
func Open(path string, kek KEK, opts Options) (*DB, error) {
	if !kek.Valid() {
		return nil, fmt.Errorf("store: open %s: %w: no key", path, ErrInvalid)
	}
	opts = opts.withDefaults()
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := create(path, kek, opts); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", path, err)
		}
		opts.Logger.Info("store created", "path", path, "kek", kek)
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("store: open %s: %w: not a regular file", path, ErrNotStore)
	default:
		if fi.Mode().Perm()&0o077 != 0 {
			opts.Logger.Warn("store file is readable by other users; chmod 600 it", "path", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
		}
	}

	// Check the file read-only first: a foreign, truncated, too-new or
	// wrongly keyed file is refused before anything opens it for writing.
	current := uint32(len(opts.migrations))
	version, err := inspect(path, kek, current, opts.LockTimeout)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	bdb, err := openBolt(path, false, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{path: path, opts: opts, log: opts.Logger, bolt: bdb, kek: kek}
	// Under the exclusive lock, check again (the file could have changed
	// between the two opens) and migrate if needed.
	var secret []byte
	err = bdb.View(func(tx *bolt.Tx) error {
		version, secret, err = checkStore(tx, kek, current)
		return err
	})
	if err == nil {
		db.keys = deriveDeviceKeys(secret)
		clear(secret)
	}
	if err == nil && version < current {
		err = bdb.Update(func(tx *bolt.Tx) error {
			if err := migrate(tx, opts.migrations, version, &migrateEnv{kek: kek, now: opts.Now()}); err != nil {
				return err
			}
			return appendAudit(tx, db.keys, opts.Now(), Event{Kind: KindAdmin, Actor: "system", Outcome: "ok",
				Detail: fmt.Sprintf("schema migrated from %d to %d", version, current)})
		})
		if err == nil {
			opts.Logger.Info("store schema migrated", "path", path, "from", version, "to", current)
		}
	}
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// Close closes the store. Further calls return ErrClosed.
func (db *DB) Close() error {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.bolt == nil {
		return nil
	}
	err := db.bolt.Close()
	db.bolt = nil
	if err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Path is the file the store lives in.
func (db *DB) Path() string { return db.path }

// KEKFingerprint names the key the store is sealed with now.
func (db *DB) KEKFingerprint() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.kek.Fingerprint()
}

// view and update run fn in a bbolt transaction under the shared lock.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return ErrClosed
	}
	return db.bolt.View(fn)
}

func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return ErrClosed
	}
	return db.bolt.Update(fn)
}

func openBolt(path string, readOnly bool, opts Options) (*bolt.DB, error) {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opts.LockTimeout,
		ReadOnly: readOnly,
		NoSync:   opts.noSync,
		// The hashmap freelist stays fast on large, fragmented files.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, boltOpenError(err)
	}
	return bdb, nil
}

// boltOpenError maps bbolt's open errors to this package's sentinels.
func boltOpenError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w (is gated running? stop it or go through its socket)", ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %v", ErrNotStore, err)
	case errors.Is(err, berrors.ErrChecksum), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "file size too small"):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}

// inspect opens path read-only (a shared lock: it fails with ErrLocked
// while another process has the store open) and checks that it is a whole
// gated store of a known version sealed with kek. It never writes.
func inspect(path string, kek KEK, current uint32, timeout time.Duration) (version uint32, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if fi.Size() == 0 {
		return 0, fmt.Errorf("%w: empty file", ErrNotStore)
	}
	// A damaged file can make bbolt panic or fault on a bad page; report
	// that as corruption rather than crash the daemon.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	bdb, err := openBolt(path, true, Options{LockTimeout: timeout})
	if errors.Is(err, ErrNotStore) && hasBoltMagic(path) {
		return 0, fmt.Errorf("%w: bbolt header present but no valid meta page", ErrCorrupt)
	}
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		// bbolt does not check that the file holds every page its meta
		// page promises; reading a missing page would fault.
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: file is %d bytes, its meta page says %d (truncated)", ErrCorrupt, fi.Size(), tx.Size())
		}
		v, secret, err := checkStore(tx, kek, current)
		clear(secret)
		version = v
		return err
	})
	return version, err
}

// create makes a new store at path atomically: it is built in a temporary
// file in the same directory and linked into place, so a crash never leaves
// an empty or half-initialised file at path.
func create(path string, kek KEK, opts Options) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	bdb, err := openBolt(tmpPath, false, opts)
	if err != nil {
		return err
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := migrate(tx, opts.migrations, 0, &migrateEnv{kek: kek, now: opts.Now()}); err != nil {
			return err
		}
		_, secret, err := checkStore(tx, kek, uint32(len(opts.migrations)))
		if err != nil {
			return err
		}
		keys := deriveDeviceKeys(secret)
		clear(secret)
		return appendAudit(tx, keys, opts.Now(), Event{Kind: KindKeyChange, Actor: "system", Outcome: "ok",
			Detail: "store created, sealed with " + kek.Fingerprint()})
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(tmpPath)
	}
	if err != nil {
		return err
	}
	// Link, not rename: never replace a file that appeared meanwhile.
	if err := os.Link(tmpPath, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// hasBoltMagic reports whether the file starts like a bbolt file: the
// first meta page's magic (0xED0CDAED, little-endian on the platforms gated
// runs on) after the 16-byte page header. It tells a truncated store from
// a foreign file.
func hasBoltMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [20]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[16:]) == 0xED0CDAED || binary.BigEndian.Uint32(b[16:]) == 0xED0CDAED
}
