package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Reconsent records a new consent for a resident who keeps their face data
// (a new notice version, or a retention period starting again). The
// resident must have face data (ErrNoFaceData); earlier consents stay as
// they are, as evidence of what was agreed when.
func (db *DB) Reconsent(actor, residentID string, c Consent) (Consent, error) {
	now, err := db.now()
	if err != nil {
		return Consent{}, fmt.Errorf("store: reconsent: %w", err)
	}
	if err := checkText("actor", actor, maxActorLen, true); err != nil {
		return Consent{}, fmt.Errorf("store: reconsent %s: %w", residentID, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		r, err := getResident(tx, residentID)
		if err != nil {
			return err
		}
		if tx.Bucket(bucketDataKeys).Get([]byte(residentID)) == nil {
			return ErrNoFaceData
		}
		if c.GivenAt.IsZero() {
			c.GivenAt = now
		}
		c.GivenAt = c.GivenAt.UTC().Round(0)
		if err := checkConsent(c, r, now); err != nil {
			return err
		}
		cb := tx.Bucket(bucketConsents)
		seq, err := cb.NextSequence()
		if err != nil {
			return err
		}
		c.ID = fmt.Sprintf("c-%016x", seq)
		c.ResidentID = residentID
		if err := cb.Put([]byte(residentID+"/"+c.ID), encodeConsent(c)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindEnroll, Actor: actor, Subject: residentID, Outcome: "ok",
			Detail: fmt.Sprintf("consent %s renewed: notice %s, %s, %s", c.ID, c.NoticeVersion, c.Language, c.Method)})
	})
	if err != nil {
		return Consent{}, fmt.Errorf("store: reconsent %s: %w", residentID, err)
	}
	return c, nil
}
