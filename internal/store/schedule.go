package store

import (
	"fmt"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Access limits when a resident (or a card) lets its holder in: a window
// of dates and a weekly time profile, named directly or through a group.
// The store keeps it; the gate decides with it (internal/schedule). The
// zero Access limits nothing.
type Access struct {
	ValidFrom  time.Time // zero: from always
	ValidUntil time.Time // exclusive; zero: for ever
	Profile    string    // a profile of the configuration, or ""
	Group      string    // a group of the configuration, or ""
}

// Zero reports whether a limits nothing.
func (a Access) Zero() bool { return a == Access{} }

var accessNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func checkAccess(a Access) error {
	switch {
	case !validTime(a.ValidFrom) || !validTime(a.ValidUntil):
		return fmt.Errorf("%w: validity outside 1970-2261", ErrInvalid)
	case !a.ValidFrom.IsZero() && !a.ValidUntil.IsZero() && !a.ValidFrom.Before(a.ValidUntil):
		return fmt.Errorf("%w: valid from %s is not before valid until %s", ErrInvalid, a.ValidFrom.Format(time.RFC3339), a.ValidUntil.Format(time.RFC3339))
	case a.Profile != "" && !accessNameRE.MatchString(a.Profile):
		return fmt.Errorf("%w: profile %q: lower-case letters, digits, - and _ (up to 32)", ErrInvalid, a.Profile)
	case a.Group != "" && !accessNameRE.MatchString(a.Group):
		return fmt.Errorf("%w: group %q: lower-case letters, digits, - and _ (up to 32)", ErrInvalid, a.Group)
	}
	return nil
}

// Resident records are version 1 while their Access is zero (byte for
// byte what older gated wrote, and reads), version 2 with the Access
// appended otherwise. A version 2 record with a zero Access is refused:
// every record has one encoding.
func residentVersion(r Resident) uint8 {
	if r.Access.Zero() {
		return 1
	}
	return 2
}

func (e *encoder) access(a Access) {
	e.time(a.ValidFrom)
	e.time(a.ValidUntil)
	e.str(a.Profile)
	e.str(a.Group)
}

func (d *decoder) access() Access {
	a := Access{ValidFrom: d.time(), ValidUntil: d.time(), Profile: d.str(maxIDLen), Group: d.str(maxIDLen)}
	if d.err == nil && a.Zero() {
		d.fail("version 2 record with no access limits (it is written as version 1)")
	}
	return a
}

// version12 reads a leading version byte that may be 1 or 2.
func (d *decoder) version12(what string) uint8 {
	v := d.u8()
	if d.err == nil && v != 1 && v != 2 {
		d.fail("%s: unknown version %d", what, v)
	}
	return v
}

// Card records: version 1 is the resident and the time of assignment;
// version 2 appends the card's own validity window (ValidFrom,
// ValidUntil; Profile and Group stay empty: a card's hours are its
// holder's), written only when the card has one.
func cardVersion(c cardRecord) uint8 {
	if c.Access.Zero() {
		return 1
	}
	return 2
}

// SetResidentAccess replaces the resident's Access (dates, profile,
// group). The caller checks that profile and group exist in the
// configuration; the store checks their form and the dates' order. It is
// audited with the new limits.
func (db *DB) SetResidentAccess(actor, residentID string, a Access) (Resident, error) {
	a.ValidFrom, a.ValidUntil = utc(a.ValidFrom), utc(a.ValidUntil)
	if err := checkAccess(a); err != nil {
		return Resident{}, fmt.Errorf("store: set access of %s: %w", residentID, err)
	}
	now, err := db.now()
	if err != nil {
		return Resident{}, fmt.Errorf("store: set access: %w", err)
	}
	var out Resident
	err = db.update(func(tx *bolt.Tx) error {
		r, err := getResident(tx, residentID)
		if err != nil {
			return err
		}
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		r.Access, r.UpdatedAt = a, now
		if err := tx.Bucket(bucketResidents).Put([]byte(residentID), encodeResident(r)); err != nil {
			return err
		}
		out = r
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: Detail("access " + describeAccess(a))})
	})
	if err != nil {
		return Resident{}, fmt.Errorf("store: set access of %s: %w", residentID, err)
	}
	return out, nil
}

// SetCardValidity gives the resident's card a window of dates (zero times:
// none), or ErrNotFound if the resident does not hold it.
func (db *DB) SetCardValidity(actor, residentID, number string, from, until time.Time) error {
	a := Access{ValidFrom: utc(from), ValidUntil: utc(until)}
	if err := checkAccess(a); err != nil {
		return fmt.Errorf("store: card validity: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: card validity: %w", err)
	}
	h := db.keys.cardHash(number)
	err = db.update(func(tx *bolt.Tx) error {
		if err := managedTx(tx, residentID); err != nil {
			return err
		}
		b, c, err := heldCard(tx, h, residentID)
		if err != nil {
			return err
		}
		c.Access = a
		if err := b.Put(h, encodeCard(c)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: Detail(cardTag(h) + " " + describeAccess(a))})
	})
	if err != nil {
		return fmt.Errorf("store: card validity of %s: %w", residentID, err)
	}
	return nil
}

// CardValidity returns the card's own window of dates (zero: none), or
// ErrNotFound for a card nobody holds.
func (db *DB) CardValidity(number string) (from, until time.Time, err error) {
	h := db.keys.cardHash(number)
	err = db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCards).Get(h)
		if v == nil {
			c, ok, err := officeCard(tx, db.keys, number)
			if err == nil && !ok {
				err = fmt.Errorf("%w: card", ErrNotFound)
			}
			from, until = c.Access.ValidFrom, c.Access.ValidUntil
			return err
		}
		c, err := decodeCard(v)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, cardTag(h), err)
		}
		from, until = c.Access.ValidFrom, c.Access.ValidUntil
		return nil
	})
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("store: card validity: %w", err)
	}
	return from, until, nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Round(0)
}

func describeAccess(a Access) string {
	if a.Zero() {
		return "valid always"
	}
	s := "valid"
	if !a.ValidFrom.IsZero() {
		s += " from " + a.ValidFrom.Format("2006-01-02T15:04Z")
	}
	if !a.ValidUntil.IsZero() {
		s += " until " + a.ValidUntil.Format("2006-01-02T15:04Z")
	}
	if a.Profile != "" {
		s += " profile " + a.Profile
	}
	if a.Group != "" {
		s += " group " + a.Group
	}
	return s
}

// Anti-passback state: where each resident last passed a gate with an
// entry and an exit reader, kept in the settings bucket under
// "store:passback/" and the resident ID (no schema change), so that a
// restart does not let a card that entered in again.
const passbackPrefix = storeSettingPrefix + "passback/"

// Passback records are version 1: inside (bool), when.
func encodePassback(inside bool, at time.Time) []byte {
	var e encoder
	e.u8(1)
	e.bool(inside)
	e.time(at)
	return e.b
}

func decodePassback(b []byte) (inside bool, at time.Time, err error) {
	d := decoder{b: b}
	d.version(1, "passback")
	inside, at = d.bool(), d.time()
	return inside, at, d.finish()
}

// SetPassback records that the resident passed in (inside) or out at at.
// It is not audited: the access decision that caused it is.
func (db *DB) SetPassback(residentID string, inside bool, at time.Time) error {
	if err := checkID("resident ID", residentID); err != nil {
		return fmt.Errorf("store: passback: %w", err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSettings).Put([]byte(passbackPrefix+residentID), encodePassback(inside, utc(at)))
	})
	if err != nil {
		return fmt.Errorf("store: passback of %s: %w", residentID, err)
	}
	return nil
}

// Passback returns where the resident last passed, or ErrNotFound if they
// never passed (or staff cleared it).
func (db *DB) Passback(residentID string) (inside bool, at time.Time, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(passbackPrefix + residentID))
		if v == nil {
			return fmt.Errorf("%w: passback of %s", ErrNotFound, residentID)
		}
		var err error
		if inside, at, err = decodePassback(v); err != nil {
			return fmt.Errorf("%w: passback of %s: %w", ErrCorrupt, residentID, err)
		}
		return nil
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("store: %w", err)
	}
	return inside, at, nil
}

// ClearPassback forgets where the resident last passed (staff, when a
// card that left by another way is refused at the entry); audited.
func (db *DB) ClearPassback(actor, residentID string) error {
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: clear passback: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getResident(tx, residentID); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSettings).Delete([]byte(passbackPrefix + residentID)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: residentID, Outcome: "ok", Detail: "anti-passback cleared"})
	})
	if err != nil {
		return fmt.Errorf("store: clear passback of %s: %w", residentID, err)
	}
	return nil
}
