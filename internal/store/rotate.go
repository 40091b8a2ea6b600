package store

import (
	"crypto/hmac"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrRotatedPending: a key rotation is done (the store is sealed with the
// new key, and only the new key opens it), but what follows it on disk has
// not finished: rewriting the file, so that no freed page keeps data keys
// wrapped under the old key, or the fresh automatic backup under the new
// key (the backups under the old key are kept until it exists). The store
// records it; FinishPending retries it. Treat the rotation as done.
var ErrRotatedPending = errors.New("store: key rotated, finishing on disk is pending")

// RotationPendingError is the error RotateKEK and FinishPending return
// while a rotation's work on disk is owed. It wraps ErrRotatedPending and
// the cause (a full disk: syscall.ENOSPC).
type RotationPendingError struct {
	New string // the fingerprint of the key the store is sealed with now
	// Step is what failed: "rewriting the store" or "the backup under the
	// new key".
	Step string
	Err  error
}

func (e *RotationPendingError) Error() string {
	return fmt.Sprintf("store: key rotation: the rotation is done: the store is sealed with the new key %s, and only it opens the store now; "+
		"%s failed (%v), which is retried (at start and on a timer) until it works, free space in the data directory; until then "+
		"freed pages of the store, or the backups under the old key, may still hold data keys wrapped under the old key: keep the old key file until then",
		e.New, e.Step, e.Err)
}

func (e *RotationPendingError) Unwrap() []error { return []error{ErrRotatedPending, e.Err} }

// rotationPendingSetting is the setting in which the store keeps, from the
// rotation's own transaction until its work on disk is done, the new key's
// fingerprint. Settings named store:… are the store's own.
const (
	storeSettingPrefix     = "store:"
	rotationPendingSetting = storeSettingPrefix + "rotation-pending"
)

// RotationPending reports whether a key rotation's work on disk (rewriting
// the file, the backup under the new key) is still owed; FinishPending
// does it.
func (db *DB) RotationPending() (bool, error) {
	var p bool
	err := db.view(func(tx *bolt.Tx) error {
		p = tx.Bucket(bucketSettings).Get([]byte(rotationPendingSetting)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: rotation pending: %w", err)
	}
	return p, nil
}

// RotateKEK re-wraps every resident's data key and the device secret under
// newKEK in one transaction, replaces the key verifier, and records an
// audit entry naming both fingerprints (never the keys). Data keys, card
// hashes, PINs and sealed templates are unchanged. The file is then
// compacted so freed pages do not keep keys wrapped under the old KEK.
// Keep the old key file until the daemon runs with the new one; if the
// rotation fails, the store still opens with the old key.
//
// With a backup directory, it then takes a fresh automatic backup under
// the new KEK and deletes the automatic backups sealed with the old one:
// the old key is retired, and the new one cannot open them. If the fresh
// backup fails, the old ones are kept.
//
// If the rotation commits but the rewrite or the fresh backup fails (a
// full disk), the error is a *RotationPendingError (ErrRotatedPending):
// the rotation is done, the store is sealed with newKEK, and it records
// that the rest is owed, which FinishPending does.
func (db *DB) RotateKEK(actor string, newKEK KEK) error {
	if !newKEK.Valid() {
		return fmt.Errorf("store: rotate key: %w: no key", ErrInvalid)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: rotate key: %w", err)
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	db.mu.Lock() // readers of db.kek wait for the re-wrap
	if db.bolt == nil {
		db.mu.Unlock()
		return ErrClosed
	}
	old := db.kek
	if hmac.Equal(old.verifier(), newKEK.verifier()) {
		db.mu.Unlock()
		return fmt.Errorf("store: rotate key: %w: the new key is the current key", ErrInvalid)
	}
	if db.readOnly {
		db.mu.Unlock()
		return fmt.Errorf("store: rotate key: %w", ErrReadOnly)
	}
	n := 0
	err = guard(func() error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			dk := tx.Bucket(bucketDataKeys)
			type kv struct{ k, v []byte }
			var upd []kv
			err := dk.ForEach(func(k, v []byte) error {
				key, err := old.unwrap(v, dataKeyAD(string(k)))
				if err != nil {
					return fmt.Errorf("data key of %s: %w", k, err)
				}
				upd = append(upd, kv{append([]byte(nil), k...), newKEK.wrap(key, dataKeyAD(string(k)))})
				clear(key)
				return nil
			})
			if err != nil {
				return err
			}
			for _, u := range upd {
				if err := dk.Put(u.k, u.v); err != nil {
					return err
				}
			}
			n = len(upd)
			m := tx.Bucket(bucketMeta)
			secret, err := old.unwrap(m.Get(metaDeviceSecret), deviceSecretAD())
			if err != nil {
				return fmt.Errorf("device secret: %w", err)
			}
			defer clear(secret)
			for _, kv := range []struct{ k, v []byte }{
				{metaDeviceSecret, newKEK.wrap(secret, deviceSecretAD())},
				{metaKEKVerifier, newKEK.verifier()},
				{metaKEKFingerprint, []byte(newKEK.Fingerprint())},
			} {
				if err := m.Put(kv.k, kv.v); err != nil {
					return err
				}
			}
			// Owed until the file is rewritten and the backups replaced.
			if err := tx.Bucket(bucketSettings).Put([]byte(rotationPendingSetting), []byte(newKEK.Fingerprint())); err != nil {
				return err
			}
			return appendAudit(tx, db.keys, now, Event{Kind: KindKeyChange, Actor: actor, Outcome: "ok",
				Detail: fmt.Sprintf("KEK rotated from %s to %s; %d data keys re-wrapped", old.Fingerprint(), newKEK.Fingerprint(), n)})
		})
	})
	if err == nil {
		db.kek = newKEK
	}
	db.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: rotate key: %w", err)
	}
	db.log.Info("store key rotated", "from", old, "to", newKEK, "data_keys", n)
	return db.finishRotation(false, false)
}

// finishRotation does what a committed rotation owes on disk: it rewrites
// the file (unless compacted: the caller just did, after the rotation),
// takes a fresh backup under the key in force and deletes the backups
// under other keys, then clears the owed record (audited when retried).
// The caller holds compactMu. A failure is a *RotationPendingError.
func (db *DB) finishRotation(compacted, retried bool) error {
	kek := db.currentKEK()
	if !compacted {
		if err := db.compact(); err != nil {
			return &RotationPendingError{New: kek.Fingerprint(), Step: "rewriting the store", Err: err}
		}
	}
	if db.opts.BackupDir != "" {
		if err := db.retireBackups(kek); err != nil {
			return &RotationPendingError{New: kek.Fingerprint(), Step: "the backup under the new key", Err: err}
		}
	}
	now, err := db.now()
	if err != nil {
		return &RotationPendingError{New: kek.Fingerprint(), Step: "recording it", Err: err}
	}
	err = db.update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSettings)
		if sb.Get([]byte(rotationPendingSetting)) == nil {
			return nil
		}
		if err := sb.Delete([]byte(rotationPendingSetting)); err != nil {
			return err
		}
		if !retried {
			return nil
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindKeyChange, Actor: "system", Outcome: "ok",
			Detail: "key rotation to " + kek.Fingerprint() + " finished on disk: file rewritten, backups under other keys replaced"})
	})
	if err != nil {
		return &RotationPendingError{New: kek.Fingerprint(), Step: "recording it", Err: err}
	}
	if retried {
		db.log.Info("key rotation finished on disk", "kek", kek)
	}
	return nil
}
