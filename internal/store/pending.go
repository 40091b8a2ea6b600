package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PendingDestruction is face data deleted from the store whose destruction
// on disk has not finished: the live file not yet rewritten, or a backup
// not yet scrubbed, or a temporary file not yet removed. It holds no
// biometric content. FinishPending retries it; `gated report` lists it.
type PendingDestruction struct {
	ReceiptID  string
	ResidentID string
	// Whole: the resident was deleted entirely (DeleteResident), so cards,
	// PIN and resident record go from the backups too.
	Whole       bool
	Since       time.Time // when the deletion committed
	Attempts    int       // finishing attempts that failed
	LastAttempt time.Time // zero before the first failed attempt
	LastError   string    // what failed last, e.g. "no space left on device"
}

const maxPendingError = 256

// Pending destruction records are version 1.
func encodePending(p PendingDestruction) []byte {
	var e encoder
	e.u8(1)
	e.str(p.ReceiptID)
	e.str(p.ResidentID)
	e.bool(p.Whole)
	e.time(p.Since)
	e.u32(uint32(p.Attempts))
	e.time(p.LastAttempt)
	e.str(p.LastError)
	return e.b
}

func decodePending(b []byte) (PendingDestruction, error) {
	d := decoder{b: b}
	d.version(1, "pending destruction")
	p := PendingDestruction{
		ReceiptID:  d.str(maxIDLen),
		ResidentID: d.str(maxIDLen),
		Whole:      d.bool(),
		Since:      d.time(),
	}
	attempts := d.u32()
	p.Attempts = int(attempts)
	p.LastAttempt = d.time()
	p.LastError = d.str(maxPendingError)
	if d.err == nil && (attempts > 1<<31-1 || p.ReceiptID == "" || p.ResidentID == "") {
		d.fail("pending destruction: bad fields")
	}
	return p, d.finish()
}

// PendingDestructions lists destructions that have not finished on disk,
// oldest receipt first (by key).
func (db *DB) PendingDestructions() ([]PendingDestruction, error) {
	var out []PendingDestruction
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readPending(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending destructions: %w", err)
	}
	return out, nil
}

func readPending(tx *bolt.Tx) ([]PendingDestruction, error) {
	b := tx.Bucket(bucketPending)
	if b == nil { // a schema 1 store opened read-only
		return nil, nil
	}
	var out []PendingDestruction
	err := b.ForEach(func(k, v []byte) error {
		p, err := decodePending(v)
		if err != nil {
			return fmt.Errorf("%w: pending destruction %s: %w", ErrCorrupt, printableKey(k), err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// FinishPending retries every pending destruction: it rewrites the live
// file, scrubs every automatic backup, removes this store's temporary
// files, and then removes the pending records, with an audit entry per
// receipt ("destroyed on disk"). It returns how many it finished. It also
// finishes a key rotation whose work on disk is owed (RotationPending):
// the rewrite, and the fresh backup under the new key that replaces the
// backups under the old one. It is idempotent and cheap when nothing is
// pending: call it at start and on a timer. When a step fails, nothing is
// lost: the records stay, with the attempt counted, and the error wraps
// ErrPending (destructions) or ErrRotatedPending (a rotation), or both
// (errors.Join). ErrReadOnly on a read-only store.
func (db *DB) FinishPending() (int, error) {
	if db.readOnly {
		return 0, fmt.Errorf("store: finish pending destructions: %w", ErrReadOnly)
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	ps, err := db.PendingDestructions()
	if err != nil {
		return 0, err
	}
	rotation, err := db.RotationPending()
	if err != nil {
		return 0, err
	}
	done, compacted := 0, false
	var errs []error
	if len(ps) > 0 {
		if err := db.finish(ps); err != nil {
			errs = append(errs, fmt.Errorf("store: finish pending destructions (%d): %w: %w", len(ps), ErrPending, err))
		} else {
			done, compacted = len(ps), true
		}
	}
	if rotation {
		if err := db.finishRotation(compacted, true); err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// finish destroys on disk what ps deleted from the store. The caller holds
// compactMu. On failure it counts the attempt in each record.
func (db *DB) finish(ps []PendingDestruction) (err error) {
	defer func() {
		if err != nil {
			db.notePendingFailure(ps, err)
		}
	}()
	if err := db.compact(); err != nil {
		return fmt.Errorf("rewriting the store: %w", err)
	}
	scrubbed, deleted, err := db.scrubBackups(ps)
	if err != nil {
		return fmt.Errorf("scrubbing backups: %w", err)
	}
	if err := db.removeTemps(); err != nil {
		return fmt.Errorf("removing temporary files: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return err
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		for _, p := range ps {
			if b.Get([]byte(p.ReceiptID)) == nil {
				continue
			}
			if err := b.Delete([]byte(p.ReceiptID)); err != nil {
				return err
			}
			detail := fmt.Sprintf("receipt %s: destroyed on disk (file rewritten, %d backups scrubbed)", p.ReceiptID, scrubbed)
			if deleted > 0 {
				detail += fmt.Sprintf(", %d unscrubbable backups deleted", deleted)
			}
			if err := appendAudit(tx, db.keys, now, Event{Kind: KindDeletion, Actor: "system", Subject: p.ResidentID, Outcome: "ok", Detail: detail}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing the pending records: %w", err)
	}
	for _, p := range ps {
		db.log.Info("face data destroyed on disk", "receipt", p.ReceiptID, "resident", p.ResidentID, "backups_scrubbed", scrubbed)
	}
	return nil
}

// notePendingFailure counts a failed attempt in each pending record. On a
// full disk this write may fail too; the records are still there.
func (db *DB) notePendingFailure(ps []PendingDestruction, cause error) {
	now := db.opts.Now().UTC().Round(0)
	msg := truncate(cause.Error(), maxPendingError)
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		for _, p := range ps {
			v := b.Get([]byte(p.ReceiptID))
			if v == nil {
				continue
			}
			cur, err := decodePending(v)
			if err != nil {
				return fmt.Errorf("%w: pending destruction %s: %w", ErrCorrupt, p.ReceiptID, err)
			}
			cur.Attempts++
			if validTime(now) {
				cur.LastAttempt = now
			}
			cur.LastError = msg
			if err := b.Put([]byte(p.ReceiptID), encodePending(cur)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.log.Warn("could not count a failed destruction attempt", "err", err)
	}
	db.log.Warn("face data destruction pending; it is retried", "receipts", len(ps), "err", cause)
}

// Temporary files. Only names this package makes are ever removed: in the
// store's directory, "."+base+".compact-", ".new-" or ".restore-" and the
// digits os.CreateTemp adds; in the backup directory, the same for each
// backup name (of this version and of the previous one, whose backups a
// destruction still scrubs), and ".gated-backup-" and digits.
var tempSuffix = regexp.MustCompile(`^\.(compact|new|restore)-[0-9]+$`)

func isStoreTemp(base, name string) bool {
	rest, ok := strings.CutPrefix(name, "."+base)
	return ok && tempSuffix.MatchString(rest)
}

var backupTemp = regexp.MustCompile(`^(\.gated-backup-[0-9]+|\.(` + backupNameExpr + `|` + oldBackupExpr + `)\.(compact|new|restore)-[0-9]+)$`)

// removeTemps removes this store's leftover temporary files (and those of
// its backup directory). The caller holds the store open for writing, so
// no operation of another process can own them.
func (db *DB) removeTemps() error {
	return removeTemps(db.path, db.opts.BackupDir, db.log)
}

func removeTemps(path, backupDir string, log interface{ Warn(string, ...any) }) error {
	var errs []error
	sweep := func(dir string, match func(string) bool) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		removed := false
		for _, e := range entries {
			if !e.Type().IsRegular() || !match(e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed = true
			log.Warn("removed a leftover temporary file of the store", "path", p)
		}
		if removed {
			if err := syncDir(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	base := filepath.Base(path)
	sweep(filepath.Dir(path), func(name string) bool { return isStoreTemp(base, name) })
	if backupDir != "" {
		sweep(backupDir, backupTemp.MatchString)
	}
	return errors.Join(errs...)
}
