package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store to w: a bbolt file,
// still encrypted (templates stay sealed, data keys stay wrapped under the
// current KEK, card numbers stay hashed). It records an audit entry first,
// so the copy contains the record of its own making. Restoring it needs
// the KEK in force when it was taken: keep old key files as long as the
// backups made under them.
//
// It returns the number of bytes written to w, also with an error. Every
// error that stops it before the copy starts (a read-only store:
// ErrReadOnly; a closed one: ErrClosed; an audit entry that cannot be
// written) comes with n == 0 and nothing written to w, so a caller that
// streams the copy (an HTTP response) can still answer with an error
// status. An error with n > 0 means w holds a partial copy: the caller
// must discard it and make sure the receiver does too (abort the stream).
func (db *DB) Backup(actor string, w io.Writer) (int64, error) {
	if _, err := db.AppendAudit(Event{Kind: KindAdmin, Actor: actor, Outcome: "ok", Detail: "backup taken"}); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	cw := &countWriter{w: w}
	err := db.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(cw)
		return err
	})
	if err != nil {
		return cw.n, fmt.Errorf("store: backup (%d bytes written): %w", cw.n, err)
	}
	return cw.n, nil
}

// countWriter counts the bytes written through it, so Backup reports them
// also when the copy stops with a fault (guard turns it into ErrCorrupt
// after WriteTo's own count is lost).
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RestoreReport says what Restore did besides replacing the file.
type RestoreReport struct {
	// Reapplied lists deletions made in the replaced store after the backup
	// was taken; Restore destroyed that face data again in the restored
	// store, so a restore never brings back data a resident had destroyed.
	Reapplied []DeletionRecord
	// AuditExport is the file (next to the store) holding the replaced
	// store's audit log as JSON lines; empty if there was none to save.
	AuditExport string
	// Warnings are problems that did not stop the restore (for example,
	// an unreadable replaced store whose deletions could not be re-applied).
	Warnings []string
	// Alarm, if set, is one of them that staff must act on: the backup
	// predates the gate's joining its compound (ErrLeftCompound).
	Alarm string
}

// Restore replaces the store at dbPath with the backup at backupPath. It
// first copies the backup next to dbPath and checks the copy completely
// (bbolt consistency, gated store, schema, that kek opens it, every data key
// unwraps, the audit chain's sealed head verifies); any failure leaves
// dbPath untouched. Audit entries that do not verify (a store's rotted
// entry, copied into its backups) are restored as they are, with a warning.
// If the store at dbPath can still be read, its audit log is saved as JSON
// lines beside it and deletions it recorded after the backup are applied
// again to the restored copy. Then the copy is renamed over dbPath.
// The daemon must not have the store open (ErrLocked).
func Restore(dbPath, backupPath string, kek KEK, opts Options) (RestoreReport, error) {
	var rep RestoreReport
	if !kek.Valid() {
		return rep, fmt.Errorf("store: restore: %w: no key", ErrInvalid)
	}
	opts = opts.withDefaults()
	dir := filepath.Dir(dbPath)

	// Hold a shared lock on the current store throughout: the daemon
	// (exclusive) cannot have it open, and cannot open it meanwhile.
	cur, err := os.Open(dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		cur = nil
	case err != nil:
		return rep, fmt.Errorf("store: restore: %w", err)
	default:
		defer cur.Close()
		if err := lockShared(cur, opts.LockTimeout); err != nil {
			return rep, fmt.Errorf("store: restore %s: %w", dbPath, err)
		}
	}

	tmpPath, err := copyToTemp(backupPath, dir, "."+filepath.Base(dbPath)+".restore-*")
	if err != nil {
		return rep, fmt.Errorf("store: restore: copy backup: %w", err)
	}
	defer os.Remove(tmpPath) // a no-op once renamed
	damage, err := deepCheckCopy(tmpPath, kek, uint32(len(opts.migrations)), opts.LockTimeout)
	if err != nil {
		return rep, fmt.Errorf("store: restore: backup %s refused: %w", backupPath, err)
	}
	if e := damage.err(); e != nil {
		// Restored as it is: the damage stays visible (VerifyAudit), and
		// a store that serves matters more than entries already lost.
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the backup's audit log is damaged at entry %d (%s; %d entries in all): restored as it is, gated audit verify shows it",
			e.First.Seq, e.First.Problem, e.Count))
	}

	restored, err := Open(tmpPath, kek, opts) // migrates an older backup
	if err != nil {
		return rep, fmt.Errorf("store: restore: %w", err)
	}
	if cur != nil {
		rep = reconcile(dbPath, restored, opts, rep)
	}
	_, err = restored.AppendAudit(Event{Kind: KindAdmin, Actor: "restore", Outcome: "ok",
		Detail: fmt.Sprintf("restored from backup %s; %d deletions re-applied", truncate(filepath.Base(backupPath), 60), len(rep.Reapplied))})
	if cerr := restored.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(tmpPath)
	}
	if err != nil {
		return rep, fmt.Errorf("store: restore: %w", err)
	}
	if err := os.Rename(tmpPath, dbPath); err != nil {
		return rep, fmt.Errorf("store: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return rep, fmt.Errorf("store: restore: %w", err)
	}
	opts.Logger.Info("store restored", "path", dbPath, "backup", backupPath, "reapplied_deletions", len(rep.Reapplied))
	return rep, nil
}

// reconcile saves the replaced store's audit log and re-applies its
// deletions that the restored copy lacks. Problems become warnings: the
// store being replaced is often damaged.
func reconcile(dbPath string, restored *DB, opts Options, rep RestoreReport) RestoreReport {
	warn := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		rep.Warnings = append(rep.Warnings, msg)
		opts.Logger.Warn("restore: "+msg, "path", dbPath)
	}
	var (
		dels      []DeletionRecord
		pending   []PendingDestruction
		residents = map[string]bool{}
		audit     bytes.Buffer
		badDels   int
		badAudit  int
		carry     compoundCarry
	)
	// The store being replaced is often damaged: records that do not
	// decode are counted and skipped, the rest is used.
	err := readReplaced(dbPath, opts.LockTimeout, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDeletions) == nil || tx.Bucket(bucketResidents) == nil || tx.Bucket(bucketAudit) == nil {
			return ErrNotStore
		}
		tx.Bucket(bucketDeletions).ForEach(func(_, v []byte) error {
			if r, err := decodeDeletion(v); err == nil {
				dels = append(dels, r)
			} else {
				badDels++
			}
			return nil
		})
		tx.Bucket(bucketResidents).ForEach(func(k, _ []byte) error {
			residents[string(k)] = true
			return nil
		})
		carry = readCompoundCarry(tx) // compound_restore.go
		if pb := tx.Bucket(bucketPending); pb != nil {
			pb.ForEach(func(_, v []byte) error {
				if p, err := decodePending(v); err == nil {
					pending = append(pending, p)
				}
				return nil
			})
		}
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			if a, err := decodeAudit(v); err == nil {
				return writeAuditJSON(&audit, a)
			}
			badAudit++
			return nil
		})
	})
	if err != nil {
		warn("the replaced store could not be read (%v): deletions made after the backup were not re-applied; check Deletions against your records", err)
		return rep
	}
	if badDels > 0 {
		warn("%d deletion records of the replaced store are damaged and were not re-applied; check Deletions against your records", badDels)
	}
	if badAudit > 0 {
		warn("%d audit entries of the replaced store are damaged and are not in its export", badAudit)
	}
	if audit.Len() > 0 {
		name := dbPath + ".audit-replaced-" + opts.Now().UTC().Format("20060102T150405Z") + ".jsonl"
		if err := writeFileSync(name, audit.Bytes()); err != nil {
			warn("saving the replaced store's audit log: %v", err)
		} else {
			rep.AuditExport = name
		}
	}
	have := map[string]bool{}
	old, err := restored.Deletions()
	if err != nil {
		warn("reading the backup's deletions: %v", err)
		return rep
	}
	for _, d := range old {
		have[d.ReceiptID] = true
	}
	for _, d := range dels {
		if have[d.ReceiptID] {
			continue
		}
		if err := restored.reapply(d, !residents[d.ResidentID]); err != nil {
			warn("re-applying deletion %s of %s: %v", d.ReceiptID, d.ResidentID, err)
			continue
		}
		rep.Reapplied = append(rep.Reapplied, d)
	}
	if len(rep.Reapplied) > 0 {
		if err := restored.Compact(); err != nil {
			warn("compacting after re-applied deletions: %v", err)
		}
	}
	if n, err := restored.carryCompound(carry); err != nil {
		warn("keeping the compound's event sequence and erasures: %v", err)
		if errors.Is(err, ErrLeftCompound) {
			rep.Alarm = err.Error()
		}
	} else if n > 0 {
		opts.Logger.Info("restore: compound erasures kept", "count", n)
	}
	// Destructions still pending in the replaced store stay pending: the
	// backups may not be scrubbed yet. FinishPending completes them.
	if n, err := restored.carryPending(pending); err != nil {
		warn("keeping %d pending destructions: %v", len(pending), err)
	} else if n > 0 {
		opts.Logger.Info("restore: pending destructions kept", "count", n)
	}
	return rep
}

// carryPending adds the pending destruction records the store lacks, for
// receipts it has a deletion record of. It returns how many it added.
func (db *DB) carryPending(ps []PendingDestruction) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	now, err := db.now()
	if err != nil {
		return 0, err
	}
	n := 0
	err = db.update(func(tx *bolt.Tx) error {
		dels, err := readDeletions(tx)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, d := range dels {
			have[d.ReceiptID] = true
		}
		pb := tx.Bucket(bucketPending)
		for _, p := range ps {
			if !have[p.ReceiptID] || pb.Get([]byte(p.ReceiptID)) != nil {
				continue
			}
			if err := pb.Put([]byte(p.ReceiptID), encodePending(p)); err != nil {
				return err
			}
			if err := appendAudit(tx, db.keys, now, Event{Kind: KindDeletion, Actor: "restore", Subject: p.ResidentID, Outcome: "pending",
				Detail: "receipt " + p.ReceiptID + ": destruction on disk still pending, kept from the replaced store"}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// reapply destroys, in the restored store, what deletion d destroyed in the
// replaced one, and keeps d (same receipt) as its record.
func (db *DB) reapply(d DeletionRecord, whole bool) error {
	now, err := db.now()
	if err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		if err := applyDeletionTx(tx, d, whole); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindDeletion, Actor: "restore", Subject: d.ResidentID, Outcome: "ok",
			Detail: "receipt " + d.ReceiptID + " re-applied after restore"})
	})
}

// readReplaced opens the store being replaced read-only (no key needed:
// deletion records and the audit log are not encrypted) and runs fn.
func readReplaced(path string, timeout time.Duration, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	// Structure first: bbolt must not follow a damaged page.
	if _, err := checkPages(path); err != nil {
		return err
	}
	bdb, err := openBolt(path, true, Options{LockTimeout: timeout})
	if err != nil {
		return err
	}
	defer bdb.Close()
	return bdb.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return fn(tx)
	})
}

// copyToTemp copies src into a new 0600 file in dir and syncs it.
func copyToTemp(src, dir, pattern string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	return writeTemp(dir, pattern, in)
}

// writeFileSync creates name (0600, failing if it exists) with data, synced.
func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	return syncDir(filepath.Dir(name))
}

// Detail makes s fit an audit entry's Detail: printable, valid UTF-8, cut
// at a character boundary within the limit. Callers pass error messages
// and reasons through it, so an entry is never refused for its text.
func Detail(s string) string { return truncate(s, maxAuditDetail) }

// truncate makes s fit an audit field: printable, valid UTF-8, at most n bytes.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
