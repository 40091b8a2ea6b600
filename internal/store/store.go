package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
	// BackupDir is where AutoBackup keeps its backups (created 0700 if
	// missing) and what a destruction scrubs; empty means no automatic
	// backups. Keep it inside the daemon's data directory.
	BackupDir string
	// BackupKeep is how many scheduled automatic backups to keep
	// (BackupScheduled); zero means 7.
	BackupKeep int
	// ChangeBackupKeep is how many backups taken after a change to keep
	// (BackupAfterChange), apart from the scheduled ones; zero means 3.
	ChangeBackupKeep int

	// noSync skips fsync; only the benchmark builder uses it.
	noSync bool
	// migrations replaces the schema history, for tests.
	migrations []migration
	// verifyAllAudit makes open-time verification walk the whole audit
	// chain (Check and backups do; the benchmarks measure it for Open).
	verifyAllAudit bool
	// auditEntryBreaksOK makes that walk collect entries that do not
	// verify instead of refusing the file (deepCheckCopy).
	auditEntryBreaksOK bool
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
	if o.BackupKeep <= 0 {
		o.BackupKeep = 7
	}
	if o.ChangeBackupKeep <= 0 {
		o.ChangeBackupKeep = 3
	}
	if o.migrations == nil {
		o.migrations = defaultMigrations()
	}
	return o
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	path     string
	opts     Options
	log      *slog.Logger
	readOnly bool

	// compactMu serialises deletions, key rotation, compaction, automatic
	// backups and Close, so a file rewrite never races a deletion. Taken
	// before mu.
	compactMu sync.Mutex
	// mu is held shared by every operation and exclusively while the file
	// is swapped, the KEK changes, or the DB closes.
	mu   sync.RWMutex
	bolt *bolt.DB // nil once closed
	kek  KEK
	keys deviceKeys

	// Test hooks (nil in production): afterCopy runs in compact after the
	// bulk copy and before the catch-up and rename, while other callers may
	// still write; afterDestroyCommit runs right after a deletion's
	// transaction commits; scrubAfterCopy is given to each backup being
	// scrubbed as its afterCopy; afterBackupWrite runs when an automatic
	// backup is in place, before it is verified.
	afterCopy          func()
	afterDestroyCommit func()
	scrubAfterCopy     func()
	afterBackupWrite   func(path string)
}

// Open opens the store at path, creating it (mode 0600) if it does not
// exist, and runs schema migrations.
//
// First it removes this store's leftover temporary files (from a crash
// mid-compaction, creation or restore; only names this package makes). It
// then verifies the whole file read-only before anything opens it for
// writing: the page structure, bbolt's consistency check, and every
// record the gate serves from, decrypting every data key and template (see
// Check). It refuses, changing nothing, a wrong key (ErrWrongKey), a newer
// schema (ErrSchemaTooNew), a foreign or empty file (ErrNotStore), a
// truncated or damaged one (ErrCorrupt, naming what is damaged), a file
// another process holds open (ErrLocked), and a file other users can read
// that belongs to another user (ErrInsecureStoreFile). A file of ours that
// other users can read is made 0600, with a warning and an audit entry.
func Open(path string, kek KEK, opts Options) (*DB, error) {
	return open(path, kek, opts, true)
}

// OpenReadOnly opens an existing store read-only (bbolt's shared lock),
// after the same verification as Open, to serve card and PIN from a backup
// while the store is damaged. Reads work; every method that would change
// the file returns an error wrapping ErrReadOnly and changes nothing. It
// never migrates (an older schema is served as it is), never creates, and
// removes no temporary files.
func OpenReadOnly(path string, kek KEK, opts Options) (*DB, error) {
	return open(path, kek, opts, false)
}

func open(path string, kek KEK, opts Options, writable bool) (*DB, error) {
	if !kek.Valid() {
		return nil, fmt.Errorf("store: open %s: %w: no key", path, ErrInvalid)
	}
	opts = opts.withDefaults()
	db, err := openDB(path, kek, opts, writable, writable)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func openDB(path string, kek KEK, opts Options, writable, mayCreate bool) (*DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && mayCreate:
		if err := removeTemps(path, opts.BackupDir, opts.Logger); err != nil {
			opts.Logger.Warn("leftover temporary files could not be removed", "err", err)
		}
		if err := create(path, kek, opts); err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		opts.Logger.Info("store created", "path", path, "kek", kek)
		if fi, err = os.Stat(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: not a regular file", ErrNotStore)
	case writable:
		// Before anything else: leftovers of a crash, under the store's
		// exclusive lock so nothing of a running process is touched.
		if err := removeTempsLocked(path, opts); err != nil {
			return nil, err
		}
	}
	wasMode, err := makePrivate(path, fi, opts.Logger)
	if err != nil {
		return nil, err
	}

	// Verify read-only first: a foreign, damaged, too-new or wrongly keyed
	// file is refused before anything opens it for writing.
	current := uint32(len(opts.migrations))
	start := time.Now()
	v, bdb, err := verifyFile(path, kek, current, opts, !writable)
	if err != nil {
		return nil, err
	}
	if writable {
		err = guard(func() error {
			var err error
			bdb, err = openBolt(path, false, opts)
			return err
		})
		if err != nil {
			return nil, err
		}
		// Under the exclusive lock: if anything committed between the two
		// opens, verify again through this handle.
		if !sameMeta(path, v.meta) {
			err = guard(func() error {
				if _, err := checkPages(path); err != nil {
					return err
				}
				return bdb.View(func(tx *bolt.Tx) error {
					var err error
					v.version, v.counts, err = verifyTx(tx, kek, current, opts)
					return err
				})
			})
			if err != nil {
				bdb.Close()
				return nil, err
			}
		}
	}
	opts.Logger.Info("store verified", "path", path, "read_only", !writable, "residents", v.counts.Residents,
		"templates", v.counts.Templates, "cards", v.counts.Cards, "audit_entries", v.counts.AuditEntries,
		"pending_destructions", v.counts.Pending, "took", time.Since(start).Round(time.Millisecond))
	db := &DB{path: path, opts: opts, log: opts.Logger, bolt: bdb, kek: kek, readOnly: !writable}
	var secret []byte
	err = db.view(func(tx *bolt.Tx) error {
		_, secret, err = checkStore(tx, kek, current)
		return err
	})
	if err == nil {
		db.keys = deriveDeviceKeys(secret)
		clear(secret)
	}
	if err == nil && writable && v.version < current {
		err = db.update(func(tx *bolt.Tx) error {
			if err := migrate(tx, opts.migrations, v.version, &migrateEnv{kek: kek, now: opts.Now()}); err != nil {
				return migrationError(err)
			}
			return appendAudit(tx, db.keys, opts.Now(), Event{Kind: KindAdmin, Actor: "system", Outcome: "ok",
				Detail: fmt.Sprintf("schema migrated from %d to %d", v.version, current)})
		})
		if err == nil {
			opts.Logger.Info("store schema migrated", "path", path, "from", v.version, "to", current)
		}
	}
	if err == nil && writable && wasMode != 0 {
		_, err = db.AppendAudit(Event{Kind: KindAdmin, Actor: "system", Outcome: "fixed",
			Detail: fmt.Sprintf("store file had mode %#o: anyone who could read it may have a copy; set to 0600", uint32(wasMode))})
	}
	if err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// migrationError classifies a migration that failed inside its
// transaction (nothing committed). bbolt refuses a bucket that exists, a
// bucket or value in the other's place, a missing bucket: then the file
// holds what its schema number says it cannot, so the file is damaged
// (ErrCorrupt, and the daemon serves a backup). A full disk or an I/O
// error shows only at commit, outside this.
func migrationError(err error) error {
	for _, e := range []error{berrors.ErrBucketExists, berrors.ErrBucketNotFound, berrors.ErrIncompatibleValue, errDecode} {
		if errors.Is(err, e) && !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("%w: the file's content contradicts its schema number: %w", ErrCorrupt, err)
		}
	}
	return err
}

// makePrivate enforces the store file's mode: a file that other users may
// read is made 0600 if it is ours (returning the mode it had, after a
// warning), and refused if it is not.
func makePrivate(path string, fi os.FileInfo, log *slog.Logger) (os.FileMode, error) {
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return 0, nil
	}
	uid, ok := fileOwner(fi)
	if !ok || uid != os.Geteuid() {
		return 0, fmt.Errorf("%w: mode %#o, owner uid %d, we are uid %d (fix: chown %d %s && chmod 600 %s)",
			ErrInsecureStoreFile, uint32(mode), uid, os.Geteuid(), os.Geteuid(), path, path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return 0, err
	}
	log.Warn("store file was readable by other users: anyone who could read it may have a copy; set to 0600",
		"path", path, "mode", fmt.Sprintf("%#o", uint32(mode)))
	return mode, nil
}

// removeTempsLocked removes leftover temporary files while holding the
// store file's exclusive lock (the one bbolt's writer takes), so that a
// running daemon, restore or check is never disturbed.
func removeTempsLocked(path string, opts Options) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockExclusive(f, opts.LockTimeout); err != nil {
		if errors.Is(err, ErrLocked) {
			return fmt.Errorf("%w (is gated running? stop it or go through its socket)", ErrLocked)
		}
		return err
	}
	defer unlock(f)
	// Not fatal: the store itself is fine, and a destruction that needs
	// them gone stays pending until FinishPending removes them.
	if err := removeTemps(path, opts.BackupDir, opts.Logger); err != nil {
		opts.Logger.Warn("leftover temporary files could not be removed", "err", err)
	}
	return nil
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

// view and update run fn in a bbolt transaction under the shared lock. A
// panic or fault while reading the file (a page damaged after Open
// verified it, a disk error under the memory map) becomes ErrCorrupt.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return ErrClosed
	}
	return guard(func() error { return db.bolt.View(fn) })
}

// update returns ErrReadOnly on a read-only DB, changing nothing.
func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	if db.readOnly {
		return ErrReadOnly
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return ErrClosed
	}
	return guard(func() error { return db.bolt.Update(fn) })
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
