package store

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// newID returns prefix and 12 random hex digits.
func newID(prefix string) string { return prefix + hex.EncodeToString(randomBytes(6)) }

// checkID accepts IDs as the store makes them: a short prefix, a dash, hex.
func checkID(field, id string) error {
	if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("%w: %s %q", ErrInvalid, field, id)
	}
	return nil
}

func (db *DB) now() (time.Time, error) {
	t := db.opts.Now().UTC().Round(0)
	if !validTime(t) || t.IsZero() {
		return time.Time{}, fmt.Errorf("%w: clock reads %v", ErrInvalid, t)
	}
	return t, nil
}

func checkResident(r Resident) error {
	if err := checkText("name", r.Name, maxNameLen, true); err != nil {
		return err
	}
	if err := checkText("unit", r.Unit, maxUnitLen, false); err != nil {
		return err
	}
	if !r.Status.valid() {
		return fmt.Errorf("%w: status %d", ErrInvalid, r.Status)
	}
	if err := checkAccess(r.Access); err != nil {
		return err
	}
	if r.GuardianID != "" {
		if err := checkID("guardian ID", r.GuardianID); err != nil {
			return err
		}
	}
	return nil
}

func getResident(tx *bolt.Tx, id string) (Resident, error) {
	v := tx.Bucket(bucketResidents).Get([]byte(id))
	if v == nil {
		return Resident{}, fmt.Errorf("%w: resident %s", ErrNotFound, id)
	}
	r, err := decodeResident(v)
	if err != nil {
		return Resident{}, fmt.Errorf("%w: resident %s: %w", ErrCorrupt, id, err)
	}
	return r, nil
}

// AddResident stores a new resident and returns it with its ID and times
// set. A zero Status means StatusActive.
func (db *DB) AddResident(actor string, r Resident) (Resident, error) {
	if r.Status == 0 {
		r.Status = StatusActive
	}
	if err := checkResident(r); err != nil {
		return Resident{}, fmt.Errorf("store: add resident: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return Resident{}, fmt.Errorf("store: add resident: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = now, now
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResidents)
		if r.GuardianID != "" {
			if _, err := getResident(tx, r.GuardianID); err != nil {
				return fmt.Errorf("guardian: %w", err)
			}
		}
		for {
			r.ID = newID("r-")
			if b.Get([]byte(r.ID)) == nil {
				break
			}
		}
		if err := b.Put([]byte(r.ID), encodeResident(r)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: r.ID, Outcome: "ok", Detail: "resident added"})
	})
	if err != nil {
		return Resident{}, fmt.Errorf("store: add resident: %w", err)
	}
	return r, nil
}

// Resident returns the resident with the given ID, or ErrNotFound.
func (db *DB) Resident(id string) (Resident, error) {
	var r Resident
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getResident(tx, id)
		return err
	})
	if err != nil {
		return Resident{}, fmt.Errorf("store: resident: %w", err)
	}
	return r, nil
}

// UpdateResident replaces the name, unit, status and minor fields of an
// existing resident (matched by r.ID).
func (db *DB) UpdateResident(actor string, r Resident) (Resident, error) {
	if err := checkResident(r); err != nil {
		return Resident{}, fmt.Errorf("store: update resident: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return Resident{}, fmt.Errorf("store: update resident: %w", err)
	}
	var out Resident
	err = db.update(func(tx *bolt.Tx) error {
		old, err := getResident(tx, r.ID)
		if err != nil {
			return err
		}
		if err := managedTx(tx, r.ID); err != nil {
			return err
		}
		if r.GuardianID != "" {
			if _, err := getResident(tx, r.GuardianID); err != nil {
				return fmt.Errorf("guardian: %w", err)
			}
		}
		out = old
		out.Name, out.Unit, out.Status, out.Minor, out.GuardianID = r.Name, r.Unit, r.Status, r.Minor, r.GuardianID
		out.UpdatedAt = now
		if err := tx.Bucket(bucketResidents).Put([]byte(r.ID), encodeResident(out)); err != nil {
			return err
		}
		detail := "resident updated"
		if old.Status != out.Status {
			detail = "resident status " + out.Status.String()
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: r.ID, Outcome: "ok", Detail: detail})
	})
	if err != nil {
		return Resident{}, fmt.Errorf("store: update resident %s: %w", r.ID, err)
	}
	return out, nil
}

// ForEachResident calls fn for every resident in ID order.
func (db *DB) ForEachResident(fn func(Resident) error) error {
	return db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResidents).ForEach(func(k, v []byte) error {
			r, err := decodeResident(v)
			if err != nil {
				return fmt.Errorf("store: %w: resident %s: %w", ErrCorrupt, k, err)
			}
			return callFn(fn, r)
		})
	})
}
