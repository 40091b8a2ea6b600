package store

import (
	"crypto/hmac"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

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
// backup fails, the old ones are kept and the error says so.
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
	if err := db.compact(); err != nil {
		return fmt.Errorf("store: rotate key: rotated, but the file was not rewritten (call Compact): %w", err)
	}
	if db.opts.BackupDir != "" {
		if err := db.retireBackups(newKEK); err != nil {
			return fmt.Errorf("store: rotate key: rotated, but: %w", err)
		}
	}
	return nil
}
