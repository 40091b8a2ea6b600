package store

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BackupInfo describes one automatic backup.
type BackupInfo struct {
	Path string
	// Generation orders backups: each new one gets one more than the
	// highest in the directory, whatever the clock says. 0 for a backup
	// named by an earlier version (gated-YYYYMMDDTHHMMSS.sssZ.db).
	Generation uint64
	Kind       BackupKind
	Taken      time.Time // from the file name, UTC, millisecond precision: the clock's word, for people
	Size       int64
	// Skipped is set by OpenNewestBackup only: the newer backups it
	// passed over, each with why ("gated-….db: store: …").
	Skipped []string
	// ClockBehind is set by AutoBackup only: when the backup before this
	// one carries a later time, the clock went back (or was ahead then) by
	// at least this much. The backup is good; the clock needs setting.
	ClockBehind time.Duration
	// AuditDamage is set by AutoBackup only, when entries of the store's
	// audit chain do not verify: the backup is good (a faithful copy,
	// checked against the store's own damage), and the error says where
	// the log is damaged and what to do. Nil when the chain verifies.
	AuditDamage *AuditDamageError
}

// BackupKind says why an automatic backup was taken; each kind is pruned
// on its own.
type BackupKind uint8

const (
	// BackupScheduled is taken on the daemon's schedule (and after a key
	// rotation); the newest Options.BackupKeep are kept. Backups named by
	// an earlier version count as scheduled.
	BackupScheduled BackupKind = 1
	// BackupAfterChange is taken shortly after staff change residents or
	// credentials.
	BackupAfterChange BackupKind = 2
)

// String is the kind's word in backup names: "scheduled" or "change".
func (k BackupKind) String() string {
	switch k {
	case BackupScheduled:
		return "scheduled"
	case BackupAfterChange:
		return "change"
	}
	return fmt.Sprintf("BackupKind(%d)", uint8(k))
}

// Backup names. gated-<generation, 10 digits or more>-<kind>-<UTC
// time>.db; the generation orders them (a clock that goes back cannot
// reorder them), the time is for people. Names of the previous version,
// gated-<UTC time>.db, are still read, as generation 0.
const (
	backupTimeLayout = "20060102T150405.000Z"
	backupTimeRE     = `[0-9]{8}T[0-9]{6}\.[0-9]{3}Z`
	backupNameExpr   = `gated-([0-9]{10,20})-(scheduled|change)-(` + backupTimeRE + `)\.db`
	oldBackupExpr    = `gated-(` + backupTimeRE + `)\.db`
)

var (
	backupNameRE    = regexp.MustCompile(`^` + backupNameExpr + `$`)
	oldBackupNameRE = regexp.MustCompile(`^` + oldBackupExpr + `$`)
)

func backupName(gen uint64, kind BackupKind, t time.Time) string {
	return fmt.Sprintf("gated-%010d-%s-%s.db", gen, kind, t.UTC().Format(backupTimeLayout))
}

// parseBackupName reads a backup's generation, kind and time from its
// name. Only names backupName writes (and the previous version's) are
// backups: one generation, one name.
func parseBackupName(name string) (gen uint64, kind BackupKind, taken time.Time, ok bool) {
	if m := oldBackupNameRE.FindStringSubmatch(name); m != nil {
		t, err := time.Parse(backupTimeLayout, m[1])
		if err != nil {
			return 0, 0, time.Time{}, false
		}
		return 0, BackupScheduled, t, true
	}
	m := backupNameRE.FindStringSubmatch(name)
	if m == nil || len(m[1]) > 10 && m[1][0] == '0' {
		return 0, 0, time.Time{}, false
	}
	gen, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil || gen == 0 {
		return 0, 0, time.Time{}, false
	}
	kind = BackupScheduled
	if m[2] == "change" {
		kind = BackupAfterChange
	}
	t, err := time.Parse(backupTimeLayout, m[3])
	if err != nil {
		return 0, 0, time.Time{}, false
	}
	return gen, kind, t, true
}

// newer orders backups: higher generation first; among those named by
// the previous version (generation 0), later time first.
func newer(a, b BackupInfo) bool {
	if a.Generation != b.Generation {
		return a.Generation > b.Generation
	}
	if !a.Taken.Equal(b.Taken) {
		return a.Taken.After(b.Taken)
	}
	return a.Path > b.Path
}

// ListBackups lists the automatic backups in dir, newest first: by
// generation, then (for names of the previous version) by time. Only
// regular files named as AutoBackup names them. A missing dir has none.
func ListBackups(dir string) ([]BackupInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list backups: %w", err)
	}
	var out []BackupInfo
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		gen, kind, t, ok := parseBackupName(e.Name())
		if !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, BackupInfo{Path: filepath.Join(dir, e.Name()), Generation: gen, Kind: kind, Taken: t, Size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return newer(out[i], out[j]) })
	return out, nil
}

// BackupDue reports whether a scheduled backup is due: there is none, or
// the newest (by generation) was taken every or longer ago, or it carries
// a time after the clock's (the clock went back: one is taken now, so the
// newest carries a time the clock agrees with, and the schedule goes on
// from it).
func (db *DB) BackupDue(every time.Duration) (bool, error) {
	if db.opts.BackupDir == "" {
		return false, fmt.Errorf("store: backup due: %w: no backup directory (Options.BackupDir)", ErrInvalid)
	}
	list, err := ListBackups(db.opts.BackupDir)
	if err != nil {
		return false, err
	}
	now := db.opts.Now()
	for _, b := range list {
		if b.Kind != BackupScheduled {
			continue
		}
		return b.Taken.After(now) || now.Sub(b.Taken) >= every, nil
	}
	return true, nil
}

// AutoBackup takes an automatic backup of the given kind into
// Options.BackupDir: it records an audit entry (so the copy holds the
// record of its own making), writes a consistent snapshot (the same
// still-encrypted file `gated backup` writes) to a temporary file there,
// syncs it, links it into place (0600) under the next generation (see
// ListBackups), and verifies it completely with the KEK (what Open
// verifies, and the whole audit chain). A backup that fails verification
// is deleted and the error returned. Then each kind is pruned on its own:
// the newest Options.BackupKeep scheduled backups are kept and the newest
// Options.ChangeBackupKeep after-change ones, never the one just taken, so
// a burst of changes cannot push the scheduled history out. When the
// previous backup carries a later time, BackupInfo.ClockBehind says by how
// much. Deletions wait while it runs.
func (db *DB) AutoBackup(kind BackupKind) (BackupInfo, error) {
	if db.opts.BackupDir == "" {
		return BackupInfo{}, fmt.Errorf("store: automatic backup: %w: no backup directory (Options.BackupDir)", ErrInvalid)
	}
	if kind != BackupScheduled && kind != BackupAfterChange {
		return BackupInfo{}, fmt.Errorf("store: automatic backup: %w: kind %v", ErrInvalid, kind)
	}
	if db.readOnly {
		return BackupInfo{}, fmt.Errorf("store: automatic backup: %w", ErrReadOnly)
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	info, err := db.autoBackup(kind)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: automatic backup: %w", err)
	}
	return info, nil
}

// autoBackup is AutoBackup; the caller holds compactMu.
func (db *DB) autoBackup(kind BackupKind) (BackupInfo, error) {
	dir := db.opts.BackupDir
	if err := ensurePrivateDir(dir, db.log); err != nil {
		return BackupInfo{}, err
	}
	now, err := db.now()
	if err != nil {
		return BackupInfo{}, err
	}
	list, err := ListBackups(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	var gen uint64 = 1
	info := BackupInfo{Kind: kind, Taken: now.Truncate(time.Millisecond)}
	if len(list) > 0 {
		if list[0].Generation == math.MaxUint64 {
			return BackupInfo{}, fmt.Errorf("backup %s has the last generation there is: move it away", list[0].Path)
		}
		gen = list[0].Generation + 1
		if list[0].Taken.After(info.Taken) {
			info.ClockBehind = list[0].Taken.Sub(info.Taken)
		}
	}
	final := filepath.Join(dir, backupName(gen, kind, now))
	for i := 0; fileExists(final); i++ { // not a regular file, or made meanwhile
		if i > 1000 || gen == math.MaxUint64 {
			return BackupInfo{}, fmt.Errorf("no free backup name near %s", final)
		}
		gen++
		final = filepath.Join(dir, backupName(gen, kind, now))
	}
	info.Path, info.Generation = final, gen
	if _, err := db.AppendAudit(Event{Kind: KindAdmin, Actor: "system", Outcome: "ok", Detail: "automatic backup " + filepath.Base(final)}); err != nil {
		return BackupInfo{}, err
	}
	tmp, err := os.CreateTemp(dir, ".gated-backup-*")
	if err != nil {
		return BackupInfo{}, err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath) // a no-op once linked and removed
	err = tmp.Chmod(0o600)
	if err == nil {
		err = db.view(func(tx *bolt.Tx) error {
			_, err := tx.WriteTo(tmp)
			return err
		})
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, err
	}
	// Link, not rename: never replace a backup.
	if err := os.Link(tmpPath, final); err != nil {
		return BackupInfo{}, err
	}
	os.Remove(tmpPath)
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, err
	}
	if db.afterBackupWrite != nil {
		db.afterBackupWrite(final)
	}
	damage, err := deepCheckCopy(final, db.currentKEK(), uint32(len(db.opts.migrations)), db.opts.LockTimeout)
	if err == nil && len(damage.breaks) > 0 {
		info.AuditDamage, err = db.sameAuditDamage(damage)
	}
	if err != nil {
		os.Remove(final)
		syncDir(dir)
		return BackupInfo{}, fmt.Errorf("the new backup %s does not verify and was deleted: %w", filepath.Base(final), err)
	}
	info.Size = fileSize(final)
	db.log.Info("automatic backup taken", "path", final, "generation", gen, "kind", kind, "bytes", info.Size)
	if info.AuditDamage != nil {
		db.log.Warn("the audit log is damaged; the backup keeps the damaged entries as they are", "first", info.AuditDamage.First.Seq,
			"problem", info.AuditDamage.First.Problem, "entries", info.AuditDamage.Count)
	}
	if info.ClockBehind > 0 {
		db.log.Warn("the clock went back: the previous backup carries a later time; backups are ordered by generation, but set the clock",
			"previous", list[0].Path, "behind", info.ClockBehind)
	}
	return info, db.pruneBackups(info)
}

// sameAuditDamage accepts a copy whose audit chain has entries that do
// not verify only if the store's own chain has each of them too (same
// entry, same problem): then the copy is faithful, and refusing it would
// stop every backup for good over one rotted entry. Any other break was
// made on the way to the copy's disk. It returns the store's damage.
func (db *DB) sameAuditDamage(copied auditDamage) (*AuditDamageError, error) {
	var live chainWalk
	if err := db.view(func(tx *bolt.Tx) error {
		live = walkChain(tx, db.keys, false)
		return nil
	}); err != nil {
		return nil, err
	}
	have := make(map[AuditBreak]bool, len(live.breaks))
	for _, b := range live.breaks {
		have[b] = true
	}
	for _, b := range copied.breaks {
		if !have[b] {
			return nil, fmt.Errorf("%w at entry %d: %s (the store's own entry verifies: the copy was damaged)", ErrAuditBroken, b.Seq, b.Problem)
		}
	}
	if copied.more || live.more {
		return nil, fmt.Errorf("%w: more than %d entries do not verify, too many to compare with the store's", ErrAuditBroken, maxAuditBreaks)
	}
	return &AuditDamageError{First: live.breaks[0], Count: len(live.breaks), More: live.more}, nil
}

// pruneBackups keeps the newest Options.BackupKeep scheduled and
// Options.ChangeBackupKeep after-change backups, and always just, the one
// just taken.
func (db *DB) pruneBackups(just BackupInfo) error {
	dir := db.opts.BackupDir
	list, err := ListBackups(dir)
	if err != nil {
		return err
	}
	keep := map[BackupKind]int{BackupScheduled: db.opts.BackupKeep, BackupAfterChange: db.opts.ChangeBackupKeep}
	kept := map[BackupKind]int{}
	removed := 0
	for _, b := range list {
		if b.Path == just.Path || kept[b.Kind] < keep[b.Kind] {
			kept[b.Kind]++
			continue
		}
		if err := os.Remove(b.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pruning backups: %w", err)
		}
		removed++
		db.log.Info("old automatic backup removed", "path", b.Path)
	}
	if removed == 0 {
		return nil
	}
	return syncDir(dir)
}

func (db *DB) currentKEK() KEK {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.kek
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// ensurePrivateDir creates dir 0700, or makes an existing one of ours 0700.
func ensurePrivateDir(dir string, log interface{ Warn(string, ...any) }) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("backup directory %s is not a directory", dir)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		if uid, ok := fileOwner(fi); !ok || uid != os.Geteuid() {
			return fmt.Errorf("%w: backup directory %s has mode %#o and another owner (fix: chown %d %s && chmod 700 %s)",
				ErrInsecureStoreFile, dir, uint32(mode), os.Geteuid(), dir, dir)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
		log.Warn("backup directory was open to other users; set to 0700", "dir", dir, "mode", fmt.Sprintf("%#o", uint32(mode)))
	}
	return nil
}

// OpenNewestBackup opens, read-only (see OpenReadOnly), the newest
// automatic backup in dir that passes Open's verification. The newer ones
// it skipped, and why, are logged and listed in the returned
// BackupInfo.Skipped; when none verifies the error wraps ErrNoBackup and
// says why each was refused.
func OpenNewestBackup(dir string, kek KEK, opts Options) (*DB, BackupInfo, error) {
	opts = opts.withDefaults()
	opts.BackupDir = ""
	list, err := ListBackups(dir)
	if err != nil {
		return nil, BackupInfo{}, err
	}
	var skipped []string
	for _, b := range list {
		db, err := OpenReadOnly(b.Path, kek, opts)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", filepath.Base(b.Path), err))
			opts.Logger.Warn("backup skipped: it does not verify", "path", b.Path, "err", err)
			continue
		}
		b.Skipped = skipped
		return db, b, nil
	}
	if len(list) == 0 {
		return nil, BackupInfo{}, fmt.Errorf("store: open newest backup: %w: no backups in %s", ErrNoBackup, dir)
	}
	return nil, BackupInfo{}, fmt.Errorf("store: open newest backup: %w in %s: %s", ErrNoBackup, dir, strings.Join(skipped, "; "))
}

// scrubBackups destroys, in every automatic backup, the face data that ps
// destroyed in the live store, and rewrites each backup it changes. A
// backup that cannot be scrubbed (damaged, another key) is deleted,
// because it may hold the data. The caller holds compactMu. It returns
// how many backups it scrubbed and deleted.
func (db *DB) scrubBackups(ps []PendingDestruction) (scrubbed, deleted int, err error) {
	dir := db.opts.BackupDir
	if dir == "" {
		return 0, 0, nil
	}
	list, err := ListBackups(dir)
	if err != nil || len(list) == 0 {
		return 0, 0, err
	}
	dels := map[string]DeletionRecord{}
	err = db.view(func(tx *bolt.Tx) error {
		ds, err := readDeletions(tx)
		for _, d := range ds {
			dels[d.ReceiptID] = d
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	for _, b := range list {
		changed, err := db.scrubOne(b.Path, ps, dels)
		if err == nil {
			if changed {
				scrubbed++
			}
			continue
		}
		if !unscrubbable(err) {
			return scrubbed, deleted, fmt.Errorf("backup %s: %w", filepath.Base(b.Path), err)
		}
		if rerr := os.Remove(b.Path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return scrubbed, deleted, fmt.Errorf("backup %s cannot be scrubbed (%v) nor deleted: %w", filepath.Base(b.Path), err, rerr)
		}
		if err := syncDir(dir); err != nil {
			return scrubbed, deleted, err
		}
		deleted++
		db.log.Warn("deleted a backup that cannot be scrubbed: it may hold destroyed face data", "path", b.Path, "err", err)
		if _, aerr := db.AppendAudit(Event{Kind: KindDeletion, Actor: "system", Outcome: "deleted",
			Detail: truncate(fmt.Sprintf("backup %s deleted, cannot be scrubbed: %v", filepath.Base(b.Path), err), maxAuditDetail)}); aerr != nil {
			return scrubbed, deleted, aerr
		}
	}
	return scrubbed, deleted, nil
}

// unscrubbable reports whether a backup failed for what it is (damaged,
// sealed with another key, not a store), not for a passing condition like
// a full disk or a lock.
func unscrubbable(err error) bool {
	for _, e := range []error{ErrCorrupt, ErrWrongKey, ErrNotStore, ErrSchemaTooNew, ErrTampered, ErrAuditBroken, ErrInsecureStoreFile} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// scrubOne applies the pending destructions to one backup. For each:
//
//   - a backup without the deletion record predates it: the deletion is
//     applied to it, as Restore re-applies one (same receipt, its own audit
//     entry, so the backup's chain stays valid);
//   - a backup with the pending record was taken while it was pending, so
//     freed pages may hold the data;
//   - a backup with the deletion record and no pending record was taken
//     after the live file was rewritten (or scrubbed before): nothing to do.
//
// A backup that needs anything gets the pending record (so a crash before
// its rewrite is seen again), is compacted, loses the pending record, and
// is verified completely.
func (db *DB) scrubOne(path string, ps []PendingDestruction, dels map[string]DeletionRecord) (bool, error) {
	opts := db.opts
	opts.BackupDir = ""
	kek := db.currentKEK()
	bdb, err := openDB(path, kek, opts, true, false)
	if err != nil {
		return false, err
	}
	defer bdb.Close()
	bdb.afterCopy = db.scrubAfterCopy
	now, err := bdb.now()
	if err != nil {
		return false, err
	}
	var todo []PendingDestruction
	err = bdb.update(func(tx *bolt.Tx) error {
		have, err := readDeletions(tx)
		if err != nil {
			return err
		}
		has := map[string]bool{}
		for _, d := range have {
			has[d.ReceiptID] = true
		}
		pb := tx.Bucket(bucketPending)
		for _, p := range ps {
			if has[p.ReceiptID] && pb.Get([]byte(p.ReceiptID)) == nil {
				continue
			}
			todo = append(todo, p)
			if !has[p.ReceiptID] {
				d, ok := dels[p.ReceiptID]
				if !ok {
					return fmt.Errorf("%w: live store has no deletion record for pending receipt %s", ErrCorrupt, p.ReceiptID)
				}
				if err := applyDeletionTx(tx, d, p.Whole); err != nil {
					return err
				}
				if err := appendAudit(tx, bdb.keys, now, Event{Kind: KindDeletion, Actor: "system", Subject: p.ResidentID, Outcome: "ok",
					Detail: "receipt " + p.ReceiptID + " applied to this backup (scrub)"}); err != nil {
					return err
				}
			}
			if err := pb.Put([]byte(p.ReceiptID), encodePending(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(todo) == 0 {
		return false, err
	}
	bdb.compactMu.Lock()
	err = bdb.compact()
	bdb.compactMu.Unlock()
	if err != nil {
		return false, fmt.Errorf("rewriting: %w", err)
	}
	err = bdb.update(func(tx *bolt.Tx) error {
		for _, p := range todo {
			if err := tx.Bucket(bucketPending).Delete([]byte(p.ReceiptID)); err != nil {
				return err
			}
			if err := appendAudit(tx, bdb.keys, now, Event{Kind: KindDeletion, Actor: "system", Subject: p.ResidentID, Outcome: "ok",
				Detail: "receipt " + p.ReceiptID + ": destroyed in this backup (file rewritten)"}); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	// A backup's damaged audit entries (the store's, copied) stay as
	// they are; the scrub only needs the rest to verify.
	if _, err := deepCheckCopy(path, kek, uint32(len(opts.migrations)), opts.LockTimeout); err != nil {
		return false, fmt.Errorf("after scrubbing: %w", err)
	}
	db.log.Info("backup scrubbed", "path", path, "receipts", len(todo))
	return true, nil
}

// applyDeletionTx destroys in tx what deletion d destroyed elsewhere, and
// keeps d (same receipt) as its record. Restore and the backup scrub use it.
func applyDeletionTx(tx *bolt.Tx, d DeletionRecord, whole bool) error {
	if _, err := destroyFaceTx(tx, d.ResidentID); err != nil {
		return err
	}
	if err := withdrawConsents(tx, d.ResidentID, d.At); err != nil {
		return err
	}
	if whole {
		if _, err := deleteCards(tx, d.ResidentID); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketPINs, bucketResidents} {
			if err := tx.Bucket(b).Delete([]byte(d.ResidentID)); err != nil {
				return err
			}
		}
	}
	seq, err := tx.Bucket(bucketDeletions).NextSequence()
	if err != nil {
		return err
	}
	d.Pending = false
	return tx.Bucket(bucketDeletions).Put(be64(seq), encodeDeletion(d))
}

// backupFingerprint reads which KEK a backup is sealed with (no key
// needed: the fingerprint is in clear).
func backupFingerprint(path string, opts Options) (string, error) {
	if _, err := checkPages(path); err != nil {
		return "", err
	}
	var fp string
	err := guard(func() error {
		bdb, err := openBolt(path, true, opts)
		if err != nil {
			return err
		}
		defer bdb.Close()
		return bdb.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if m == nil {
				return ErrNotStore
			}
			fp = string(m.Get(metaKEKFingerprint))
			return nil
		})
	})
	return fp, err
}

// retireBackups runs after a key rotation: it takes a fresh backup under
// the new KEK, then deletes the backups sealed with another key, which the
// new key cannot open (the old key is retired). If the fresh backup fails,
// the old ones are kept. The caller holds compactMu.
func (db *DB) retireBackups(newKEK KEK) error {
	info, err := db.autoBackup(BackupScheduled)
	if err != nil {
		return fmt.Errorf("no backup under the new key (backups under the old key kept): %w", err)
	}
	list, err := ListBackups(db.opts.BackupDir)
	if err != nil {
		return err
	}
	n := 0
	for _, b := range list {
		if b.Path == info.Path {
			continue
		}
		if fp, err := backupFingerprint(b.Path, db.opts); err != nil || fp == newKEK.Fingerprint() {
			continue
		}
		if err := os.Remove(b.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := syncDir(db.opts.BackupDir); err != nil {
		return err
	}
	db.log.Info("backups under the retired key removed", "count", n)
	_, err = db.AppendAudit(Event{Kind: KindKeyChange, Actor: "system", Outcome: "ok",
		Detail: fmt.Sprintf("%d backups under the retired key deleted; fresh backup %s", n, filepath.Base(info.Path))})
	return err
}
