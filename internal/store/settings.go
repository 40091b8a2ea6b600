package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SetSetting stores an opaque value under a name (printable ASCII, no
// spaces, up to 128 bytes; values up to 64 KiB). Names starting "store:"
// are the store's own and refused. The audit entry names the setting but
// not its value.
func (db *DB) SetSetting(actor, name string, value []byte) error {
	if !validSettingKey(name) || len(value) > maxSettingVal {
		return fmt.Errorf("store: set setting %q: %w: name or value size", name, ErrInvalid)
	}
	if strings.HasPrefix(name, storeSettingPrefix) {
		return fmt.Errorf("store: set setting %q: %w: names starting %q are the store's own", name, ErrInvalid, storeSettingPrefix)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: set setting: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSettings).Put([]byte(name), bytes.Clone(value)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Outcome: "ok", Detail: "setting " + name + " changed"})
	})
	if err != nil {
		return fmt.Errorf("store: set setting %q: %w", name, err)
	}
	return nil
}

// Setting returns a copy of the named setting's value, or ErrNotFound.
func (db *DB) Setting(name string) ([]byte, error) {
	var v []byte
	err := db.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketSettings).Get([]byte(name))
		if raw == nil {
			return fmt.Errorf("%w: setting %q", ErrNotFound, name)
		}
		v = bytes.Clone(raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: setting: %w", err)
	}
	return v, nil
}

// StatePrefix starts the names PutState accepts.
const StatePrefix = "state:"

// PutState stores a small value of the daemon's own bookkeeping, under a
// name starting "state:", WITHOUT an audit entry: it is for facts the
// audit log already holds in other words (which door alarms stand now,
// so a restart after a power cut can close them). Nothing that decides
// access may be kept here. A nil value deletes the name.
func (db *DB) PutState(name string, value []byte) error {
	if !validSettingKey(name) || !strings.HasPrefix(name, StatePrefix) || len(value) > maxSettingVal {
		return fmt.Errorf("store: put state %q: %w: a name starting %q, a value up to %d bytes", name, ErrInvalid, StatePrefix, maxSettingVal)
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		if value == nil {
			return b.Delete([]byte(name))
		}
		return b.Put([]byte(name), bytes.Clone(value))
	})
	if err != nil {
		return fmt.Errorf("store: put state %q: %w", name, err)
	}
	return nil
}
