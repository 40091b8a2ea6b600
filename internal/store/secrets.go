package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// secretPrefix marks sealed values in the settings bucket.
const secretPrefix = "secret:"

// SetSecret stores a small secret (such as an OSDP reader's secure channel
// key) sealed with AES-256-GCM under a key derived from the device secret,
// bound to its name. Like SetSetting, the audit entry names it without its
// value. Names follow SetSetting's rules.
func (db *DB) SetSecret(actor, name string, value []byte) error {
	if !validSettingKey(secretPrefix+name) || len(value) > maxSettingVal-nonceSize-tagSize-1 {
		return fmt.Errorf("store: set secret %q: %w: name or value size", name, ErrInvalid)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: set secret: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		nonce := randomBytes(nonceSize)
		sealed := newGCM(db.keys.secret).Seal(nil, nonce, value, secretAD(name))
		v := append(append([]byte{1}, nonce...), sealed...)
		if err := tx.Bucket(bucketSettings).Put([]byte(secretPrefix+name), v); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Outcome: "ok", Detail: "secret " + name + " changed"})
	})
	if err != nil {
		return fmt.Errorf("store: set secret %q: %w", name, err)
	}
	return nil
}

// Secret returns a secret stored with SetSecret, or ErrNotFound; a value
// altered or moved in the file gives ErrTampered.
func (db *DB) Secret(name string) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketSettings).Get([]byte(secretPrefix + name))
		if raw == nil {
			return fmt.Errorf("%w: secret %q", ErrNotFound, name)
		}
		if len(raw) < 1+nonceSize+tagSize || raw[0] != 1 {
			return fmt.Errorf("%w: secret %q", ErrCorrupt, name)
		}
		v, err := newGCM(db.keys.secret).Open(nil, raw[1:1+nonceSize], raw[1+nonceSize:], secretAD(name))
		if err != nil {
			return fmt.Errorf("%w: secret %q", ErrTampered, name)
		}
		out = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: secret: %w", err)
	}
	return out, nil
}

func secretAD(name string) []byte {
	var e encoder
	e.str(labelSecret)
	e.str(name)
	return e.b
}
