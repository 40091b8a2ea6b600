package store

import (
	"bytes"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

const maxCardLen = 128

func checkCard(number string) error {
	if number == "" || len(number) > maxCardLen {
		return fmt.Errorf("%w: card number must be 1 to %d bytes", ErrInvalid, maxCardLen)
	}
	return nil
}

// cardTag is a short, non-reversible name for a card in the audit log.
func cardTag(h []byte) string { return "card:" + hex.EncodeToString(h[:4]) }

// AssignCard lets the resident in with the card. The number is stored only
// as an HMAC-SHA-256 under the device secret; it is compared byte for byte,
// so callers normalise it (case, leading zeros) the same way every time.
// Assigning a card held by another resident fails with ErrCardInUse;
// assigning it again to the same resident is a no-op.
func (db *DB) AssignCard(actor, residentID, number string) error {
	if err := checkCard(number); err != nil {
		return fmt.Errorf("store: assign card: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: assign card: %w", err)
	}
	h := db.keys.cardHash(number)
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getResident(tx, residentID); err != nil {
			return err
		}
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		b := tx.Bucket(bucketCards)
		if v := b.Get(h); v != nil {
			c, err := decodeCard(v)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, cardTag(h), err)
			}
			if c.ResidentID == residentID {
				return nil
			}
			return fmt.Errorf("%w: %s", ErrCardInUse, cardTag(h))
		}
		// A local card is looked up first: one with the number of an
		// office card would take that card over here, out of the
		// office's reach (its revocation would not stop it).
		if _, ok, err := officeCard(tx, db.keys, number); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: %s is the property office's", ErrCardInUse, cardTag(h))
		}
		if err := b.Put(h, encodeCard(cardRecord{ResidentID: residentID, AssignedAt: now})); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: cardTag(h) + " assigned"})
	})
	if err != nil {
		return fmt.Errorf("store: assign card to %s: %w", residentID, err)
	}
	return nil
}

// heldCard returns the cards bucket and the record of the card with hash
// h, which residentID must hold (else ErrNotFound; a record that does not
// decode is ErrCorrupt).
func heldCard(tx *bolt.Tx, h []byte, residentID string) (*bolt.Bucket, cardRecord, error) {
	b := tx.Bucket(bucketCards)
	v := b.Get(h)
	if v == nil {
		return nil, cardRecord{}, fmt.Errorf("%w: card", ErrNotFound)
	}
	c, err := decodeCard(v)
	if err != nil {
		return nil, cardRecord{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, cardTag(h), err)
	}
	if c.ResidentID != residentID {
		return nil, cardRecord{}, fmt.Errorf("%w: card of this resident", ErrNotFound)
	}
	return b, c, nil
}

// RevokeCard removes the card from the resident, or returns ErrNotFound if
// the resident does not hold it.
func (db *DB) RevokeCard(actor, residentID, number string) error {
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: revoke card: %w", err)
	}
	h := db.keys.cardHash(number)
	err = db.update(func(tx *bolt.Tx) error {
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		b, _, err := heldCard(tx, h, residentID)
		if err != nil {
			return err
		}
		if err := b.Delete(h); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: cardTag(h) + " revoked"})
	})
	if err != nil {
		return fmt.Errorf("store: revoke card of %s: %w", residentID, err)
	}
	return nil
}

// LookupCard returns the ID of the resident holding the card, or
// ErrNotFound.
func (db *DB) LookupCard(number string) (string, error) {
	h := db.keys.cardHash(number)
	var id string
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCards).Get(h)
		if v == nil {
			c, ok, err := officeCard(tx, db.keys, number) // compound.go
			if err == nil && !ok {
				err = fmt.Errorf("%w: card", ErrNotFound)
			}
			id = c.ResidentID
			return err
		}
		c, err := decodeCard(v)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, cardTag(h), err)
		}
		id = c.ResidentID
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: lookup card: %w", err)
	}
	return id, nil
}

// deleteCards removes every card of the resident; it returns how many.
func deleteCards(tx *bolt.Tx, residentID string) (int, error) {
	b := tx.Bucket(bucketCards)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		c, err := decodeCard(v)
		if err != nil {
			return fmt.Errorf("%w: card record: %w", ErrCorrupt, err)
		}
		if c.ResidentID == residentID {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// SetPIN sets or replaces the resident's PIN (4 to 32 digits). It is
// stored as argon2id (parameters recorded with the hash) of the PIN
// peppered with a key derived from the device secret.
func (db *DB) SetPIN(actor, residentID, pin string) error {
	if err := checkPIN(pin); err != nil {
		return fmt.Errorf("store: set PIN: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: set PIN: %w", err)
	}
	if !db.opts.PIN.valid() {
		return fmt.Errorf("store: set PIN: %w: argon2id parameters %+v", ErrInvalid, db.opts.PIN)
	}
	rec := encodePIN(newPINRecord(db.keys.pin, pin, db.opts.PIN, now)) // slow: outside the transaction
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getResident(tx, residentID); err != nil {
			return err
		}
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPINs).Put([]byte(residentID), rec); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: "PIN set"})
	})
	if err != nil {
		return fmt.Errorf("store: set PIN of %s: %w", residentID, err)
	}
	return nil
}

// ClearPIN removes the resident's PIN, or returns ErrNotFound.
func (db *DB) ClearPIN(actor, residentID string) error {
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: clear PIN: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		b := tx.Bucket(bucketPINs)
		if b.Get([]byte(residentID)) == nil {
			return fmt.Errorf("%w: PIN", ErrNotFound)
		}
		if err := b.Delete([]byte(residentID)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: "PIN cleared"})
	})
	if err != nil {
		return fmt.Errorf("store: clear PIN of %s: %w", residentID, err)
	}
	return nil
}

// VerifyPIN reports whether pin is the resident's PIN, comparing in
// constant time. A resident without a PIN gives ErrNotFound. It takes as
// long as the argon2id parameters the PIN was set with; rate-limiting
// attempts is the caller's job.
func (db *DB) VerifyPIN(residentID, pin string) (bool, error) {
	var rec pinRecord
	pepper := db.keys.pin
	err := db.view(func(tx *bolt.Tx) error {
		if o, p, ok, err := officePIN(tx, db.keys, residentID); ok || err != nil { // compound.go
			if err == nil && o == nil {
				err = fmt.Errorf("%w: PIN of %s", ErrNotFound, residentID)
			}
			if err == nil {
				rec, pepper = *o, p
			}
			return err
		}
		v := tx.Bucket(bucketPINs).Get([]byte(residentID))
		if v == nil {
			return fmt.Errorf("%w: PIN of %s", ErrNotFound, residentID)
		}
		var err error
		if rec, err = decodePIN(v); err != nil {
			return fmt.Errorf("%w: PIN of %s: %w", ErrCorrupt, residentID, err)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: verify PIN: %w", err)
	}
	if checkPIN(pin) != nil {
		return false, nil
	}
	return rec.matches(pepper, pin), nil
}
