package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/internal/upkeep"
)

// auditedStore is the store the gate and the staff API use: while the
// store is damaged and a backup is served read-only, audit entries go to
// the journal, which the next healthy start imports into the chain.
type auditedStore struct {
	*store.DB
	journal *store.Journal // nil when healthy
}

func (s auditedStore) AppendAudit(ev store.Event) (store.AuditEntry, error) {
	if s.journal != nil {
		return s.journal.AppendAudit(ev)
	}
	return s.DB.AppendAudit(ev)
}

func (d *daemon) storeOptions() store.Options {
	return store.Options{Logger: d.log, BackupDir: filepath.Join(d.dataDir, backupDir), BackupKeep: d.cfg.Store.BackupKeep, ChangeBackupKeep: d.cfg.Store.ChangeBackupKeep}
}

// openStore opens the store. A damaged one is not fatal: card and PIN are
// then served read-only from the newest backup that verifies, and the
// alarm says what is damaged and how to restore.
func (d *daemon) openStore() error {
	dbPath := filepath.Join(d.dataDir, dbFile)
	opts := d.storeOptions()
	d.applyStaged(dbPath, opts)
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		// A gate that has backups had a store: a missing one was lost, not
		// never made. An empty new store would let nobody in, and its
		// backups would push the good ones out.
		if bs, _ := store.ListBackups(opts.BackupDir); len(bs) > 0 {
			return d.openDegraded(dbPath, fmt.Errorf("%w: %s, although this gate has backups: it was deleted or lost", errStoreMissing, dbPath), opts)
		}
	}
	db, err := store.Open(dbPath, d.kek, opts)
	if errors.Is(err, store.ErrWrongKey) {
		db, err = d.openWithRotatedKey(dbPath, opts, err)
	} else if err == nil {
		d.rotation().Remove() // the configured key is the store's again
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("daemon: %w", err) // another gated has it: not damage
	default:
		// Damage, but also a wrong key or a newer schema (a flipped bit in
		// the key verifier or the schema number), a failed migration, an
		// I/O error: a backup that opens with this key decides.
		return d.openDegraded(dbPath, err, opts)
	}
	d.db, d.st = db, auditedStore{DB: db}
	jpath := filepath.Join(d.dataDir, journalFile)
	if _, err := os.Stat(jpath); err == nil {
		n, err := db.ImportJournal(jpath)
		if err != nil {
			d.alarm("journal", fmt.Sprintf("the audit journal kept while the store was damaged could not be imported (%v): it stays in %s", err, jpath))
		} else {
			d.log.Info("daemon: audit entries recorded while the store was damaged are now in the audit log", "entries", n)
		}
	}
	return nil
}

// errStoreMissing: the store file is gone from a gate that has backups.
var errStoreMissing = errors.New("the store file is missing")

// rotation is the data dir's note of the last rotation's key file.
func (d *daemon) rotation() store.RotationNote { return store.NewRotationNote(d.dataDir) }

// openWithRotatedKey opens the store with the key of the last rotation,
// when the configured key is the one it replaced, and raises the alarm.
func (d *daemon) openWithRotatedKey(dbPath string, opts store.Options, wrong error) (*store.DB, error) {
	path, k, err := d.rotation().Load()
	switch {
	case path == "":
		return nil, wrong
	case err != nil:
		return nil, fmt.Errorf("%w (the key of the last rotation, %s, does not load either: %v)", wrong, path, err)
	}
	db, err := store.Open(dbPath, k, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (nor does the key of the last rotation, %s: %v)", wrong, path, err)
	}
	d.usingRotatedKey(path, k)
	return db, nil
}

func (d *daemon) usingRotatedKey(path string, k store.KEK) {
	d.setKEK(k)
	d.alarm("key", fmt.Sprintf("the store is sealed with the key of the last rotation, %s, but the configured key is still the old one: move %s into place (device.key_file) before the old key is thrown away", path, path))
}

func (d *daemon) openDegraded(dbPath string, damage error, opts store.Options) error {
	d.log.Error("daemon: STORE DAMAGED", "path", dbPath, "err", damage)
	bk, info, berr := store.OpenNewestBackup(opts.BackupDir, d.key(), opts)
	if berr != nil {
		// A power cut during a rotation, after the backups were sealed
		// with the new key and before it was moved into place.
		if path, k, err := d.rotation().Load(); path != "" && err == nil {
			if b2, i2, err := store.OpenNewestBackup(opts.BackupDir, k, opts); err == nil {
				bk, info, berr = b2, i2, nil
				d.usingRotatedKey(path, k)
			}
		}
	}
	if berr != nil && !errors.Is(damage, store.ErrCorrupt) && !errors.Is(damage, store.ErrNotStore) && !errors.Is(damage, errStoreMissing) {
		// No backup opens with this key either, and the file is not known
		// to be damaged: the key, the program or the disk is what is
		// wrong, and an empty store would hide it.
		return fmt.Errorf("daemon: %w (and no backup opens with this key: %v)", damage, berr)
	}
	if berr != nil {
		// Nothing verifies: an empty store keeps the staff socket and the
		// audit journal up for a restore, and lets nobody in by card.
		empty := filepath.Join(d.dataDir, ".degraded-empty.db")
		os.Remove(empty)
		var err error
		if bk, err = store.Open(empty, d.kek, store.Options{Logger: d.log}); err != nil {
			return fmt.Errorf("daemon: the store is damaged (%v), no backup verifies (%v), and an empty store cannot be made: %w", damage, berr, err)
		}
		d.degraded = fmt.Sprintf("the store %s is damaged (%v) and no backup verifies (%v): card and PIN let nobody in until staff restore a backup (gated restore FILE)",
			dbPath, damage, berr)
	} else {
		d.degraded = fmt.Sprintf("the store %s is damaged (%v): card and PIN are served read-only from the backup %s taken %s; changes are refused until staff restore (gated restore --backup newest)",
			dbPath, damage, filepath.Base(info.Path), info.Taken.UTC().Format(time.RFC3339))
	}
	j, err := store.OpenJournal(filepath.Join(d.dataDir, journalFile))
	var moved *store.JournalMovedError
	switch {
	case errors.As(err, &moved):
		// A damaged journal is kept aside; a new one takes this run's entries.
		d.alarm("journal", "the audit journal was damaged: "+moved.Error())
	case err != nil:
		bk.Close()
		return fmt.Errorf("daemon: the store is damaged and the audit journal cannot be opened: %w", err)
	}
	d.db, d.journal = bk, j
	d.st = auditedStore{DB: bk, journal: j}
	d.alarm("store", d.degraded)
	return nil
}

func (d *daemon) closeStore() {
	if d.journal != nil {
		d.journal.Close()
	}
	if d.db != nil {
		d.db.Close()
	}
	os.Remove(filepath.Join(d.dataDir, ".degraded-empty.db"))
}

// applyStaged restores a backup staged by the staff API, before the
// store is opened. store.Restore checks it again completely; a failure
// keeps the current store.
func (d *daemon) applyStaged(dbPath string, opts store.Options) {
	keys := []store.KEK{d.key()}
	if path, k, err := d.rotation().Load(); path != "" && err == nil {
		// Staged after a rotation, before its key was moved into place:
		// the backup was checked with the rotated key (red team 3, F3).
		keys = append(keys, k)
	}
	rep, done, err := store.ApplyStaged(dbPath, opts, keys...)
	switch {
	case errors.Is(err, store.ErrStillStaged):
		d.alarm("restore", fmt.Sprintf("the staged restore is waiting for space and is tried again at the next start; the gate runs on its current store: %v", err))
	case err != nil:
		d.alarm("restore", fmt.Sprintf("the staged restore failed and the gate runs on its current store: %v", err))
	case done:
		d.log.Info("daemon: store restored from backup", "reapplied_deletions", len(rep.Reapplied), "audit_export", rep.AuditExport, "warnings", rep.Warnings)
		if rep.Alarm != "" { // staff must act: join again, re-ask opt-outs
			d.alarm("restore", "restored from a backup: "+rep.Alarm)
		}
		// The restored store may have applied fewer of the office's
		// bundles: let the inbox's files be tried again.
		os.Remove(filepath.Join(d.dataDir, compoundSeen))
	}
}

// maintain runs the store's upkeep (internal/upkeep) while the gate runs;
// a backup served read-only has none.
func (d *daemon) maintain(ctx context.Context) error {
	if d.degraded != "" {
		<-ctx.Done()
		return nil
	}
	c := d.cfg.Store
	return upkeep.Run(ctx, upkeep.Config{RetryEvery: c.RetryEvery.Duration, BackupEvery: c.BackupEvery.Duration,
		BackupAfterChange: c.BackupAfterChange.Duration, DataDir: d.dataDir, Changed: d.changed, Alarm: d.alarm, Log: d.log}, d.db, d.faces)
}

// device is what the staff API asks of the daemon.
type device struct{ d *daemon }

func (v device) Camera() api.Camera { return v.d.cameraState() }

func (v device) Readers() []api.Reader {
	types := map[string]string{}
	for _, rc := range v.d.cfg.Readers {
		types[rc.Name] = rc.Type
	}
	var out []api.Reader
	for _, h := range v.d.readerHealth() {
		out = append(out, api.Reader{Name: h.Reader, Type: types[h.Reader], Up: h.Up, Since: h.Since, LastErr: h.LastErr, Frames: h.Frames, Dropped: h.Dropped, Reconnects: h.Reconnects})
	}
	return out
}

func (v device) Alarms() []string { return v.d.standingAlarms() }

func (v device) Backups() ([]api.Backup, error) {
	bs, err := store.ListBackups(filepath.Join(v.d.dataDir, backupDir))
	if err != nil {
		return nil, err
	}
	out := make([]api.Backup, len(bs))
	for i, b := range bs {
		out[i] = api.Backup{Name: filepath.Base(b.Path), Taken: b.Taken, Size: b.Size, Generation: b.Generation, Kind: b.Kind.String()}
	}
	return out, nil
}

// LoadKey loads a rotation's new key: a weak one is refused.
func (v device) LoadKey(path string) (store.KEK, error) { return store.LoadNewKEKFile(path) }

// BeginRotation notes the new key's file in the data dir, synced, before
// the store is sealed with it: a restart at any moment of the rotation,
// before the new key file is moved into place, still opens the store
// (openWithRotatedKey). finish uses the new key for backups and restores
// when the store took it, and puts the earlier note back when it did not.
func (v device) BeginRotation(path string) (func(bool, store.KEK), error) {
	note := v.d.rotation()
	if err := note.Begin(path); err != nil {
		return nil, err
	}
	return func(rotated bool, k store.KEK) {
		if rotated {
			v.d.setKEK(k)
			return
		}
		if err := note.Remove(); err != nil {
			v.d.log.Error("daemon: the note of the rotation that did not happen cannot be removed", "err", err)
		}
	}, nil
}

func (v device) Changed() {
	select {
	case v.d.changed <- struct{}{}:
	default:
	}
}

// StageRestore checks a backup completely against this gate's key, stages
// it, and starts the gate again on it.
func (v device) StageRestore(actor string, r io.Reader) error {
	if err := store.StageRestore(filepath.Join(v.d.dataDir, dbFile), r, v.d.key()); err != nil {
		return err
	}
	v.restarting(actor, "uploaded backup")
	return nil
}

// RestoreBackup stages an automatic backup by name, or the newest that
// verifies, and starts the gate again on it.
func (v device) RestoreBackup(actor, name string) error {
	b, err := store.StageAutoBackup(filepath.Join(v.d.dataDir, dbFile), filepath.Join(v.d.dataDir, backupDir), name, v.d.key())
	if err != nil {
		return err
	}
	v.restarting(actor, "automatic backup "+filepath.Base(b.Path))
	return nil
}

func (v device) restarting(actor, what string) {
	v.d.audit(store.Event{Kind: store.KindAdmin, Actor: actor, Outcome: "ok", Detail: store.Detail("restore of " + what + " staged; gate restarting")})
	go func() {
		time.Sleep(100 * time.Millisecond) // let the answer go out
		v.d.restart(errRestart)
	}()
}
