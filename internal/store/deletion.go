package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DestroyFaceData destroys the resident's face data for good: the wrapped
// data key and every sealed template are deleted and the resident's
// standing consents are marked withdrawn, in one transaction that also
// stores a DeletionRecord, a pending destruction record and an audit entry
// (none holds biometric content). Then the destruction is finished on
// disk: the file is rewritten (compacted) so that no freed page keeps the
// old bytes, every automatic backup is scrubbed of the data, leftover
// temporary files are removed, and only then is the pending record
// removed, with an audit entry "destroyed on disk".
//
// If a step after the transaction fails (a full disk, say), the record is
// returned with Pending set and an error wrapping ErrPending and the
// cause: the data is gone from the store's records but not yet from the
// disk, and FinishPending retries it.
func (db *DB) DestroyFaceData(actor, residentID, reason string) (DeletionRecord, error) {
	return db.destroy(actor, residentID, reason, false, time.Time{})
}

// DestroyFaceDataRequested is DestroyFaceData for a deletion the resident
// asked for earlier (a signed cancellation form dated requestedAt, or a
// retention period that ended then): the record keeps both times, so the
// delay between request and deletion can be shown (the law allows 15
// working days). requestedAt may not be in the future.
func (db *DB) DestroyFaceDataRequested(actor, residentID, reason string, requestedAt time.Time) (DeletionRecord, error) {
	return db.destroy(actor, residentID, reason, false, requestedAt)
}

// DeleteResident removes a resident entirely: face data as in
// DestroyFaceData, cards, PIN and the resident record, then compacts the
// file. Consent records (marked withdrawn) and the DeletionRecord are kept
// as evidence; they hold no biometric content.
func (db *DB) DeleteResident(actor, residentID, reason string) (DeletionRecord, error) {
	return db.destroy(actor, residentID, reason, true, time.Time{})
}

func (db *DB) destroy(actor, residentID, reason string, whole bool, requestedAt time.Time) (DeletionRecord, error) {
	what := "destroy face data"
	if whole {
		what = "delete resident"
	}
	if err := checkText("reason", reason, maxReasonLen, true); err != nil {
		return DeletionRecord{}, fmt.Errorf("store: %s of %s: %w", what, residentID, err)
	}
	if err := checkText("actor", actor, maxActorLen, true); err != nil {
		return DeletionRecord{}, fmt.Errorf("store: %s of %s: %w", what, residentID, err)
	}
	now, err := db.now()
	if err != nil {
		return DeletionRecord{}, fmt.Errorf("store: %s: %w", what, err)
	}
	// Deletions and compactions take turns, so no other deletion commits
	// while the file is being rewritten.
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	if requestedAt.IsZero() {
		requestedAt = now
	}
	requestedAt = requestedAt.UTC().Round(0)
	if !validTime(requestedAt) || requestedAt.After(now.Add(time.Minute)) {
		return DeletionRecord{}, fmt.Errorf("store: %s of %s: %w: request time %v is not in the past", what, residentID, ErrInvalid, requestedAt)
	}
	rec := DeletionRecord{ReceiptID: "d-" + hex.EncodeToString(randomBytes(8)), ResidentID: residentID, Actor: actor, Reason: reason, At: now, RequestedAt: requestedAt}
	pending := PendingDestruction{ReceiptID: rec.ReceiptID, ResidentID: residentID, Whole: whole, Since: now}
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getResident(tx, residentID); err != nil {
			return err
		}
		if whole {
			if err := managedTx(tx, residentID); err != nil {
				return err
			}
		} else if err := noteOptOutTx(tx, residentID, reason, requestedAt, now); err != nil { // compound.go
			return err
		}
		n, err := destroyFaceTx(tx, residentID)
		if err != nil {
			return err
		}
		if n < 0 && !whole {
			return ErrNoFaceData
		}
		rec.Templates = max(n, 0)
		if err := withdrawConsents(tx, residentID, now); err != nil {
			return err
		}
		detail := fmt.Sprintf("receipt %s; face data destroyed, %d templates", rec.ReceiptID, rec.Templates)
		if whole {
			cards, err := deleteCards(tx, residentID)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketPINs).Delete([]byte(residentID)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketResidents).Delete([]byte(residentID)); err != nil {
				return err
			}
			detail = fmt.Sprintf("receipt %s; resident deleted, %d templates, %d cards", rec.ReceiptID, rec.Templates, cards)
		}
		seq, err := tx.Bucket(bucketDeletions).NextSequence()
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketDeletions).Put(be64(seq), encodeDeletion(rec)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put([]byte(rec.ReceiptID), encodePending(pending)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindDeletion, Actor: actor, Subject: residentID, Outcome: "ok", Detail: detail})
	})
	if err != nil {
		return DeletionRecord{}, fmt.Errorf("store: %s of %s: %w", what, residentID, err)
	}
	db.log.Info("face data deleted from the store", "resident", residentID, "receipt", rec.ReceiptID, "templates", rec.Templates, "whole", whole)
	if db.afterDestroyCommit != nil {
		db.afterDestroyCommit()
	}
	// Finish this destruction, and any earlier one still pending.
	ps, err := db.PendingDestructions()
	if err == nil {
		err = db.finish(ps)
	}
	if err != nil {
		rec.Pending = true
		return rec, fmt.Errorf("store: %s of %s: receipt %s: %w: %w", what, residentID, rec.ReceiptID, ErrPending, err)
	}
	return rec, nil
}

// destroyFaceTx deletes the resident's data key and templates. It returns
// how many templates it deleted, or -1 if the resident had no face data.
func destroyFaceTx(tx *bolt.Tx, residentID string) (int, error) {
	dk := tx.Bucket(bucketDataKeys)
	hadKey := dk.Get([]byte(residentID)) != nil
	if err := dk.Delete([]byte(residentID)); err != nil {
		return 0, err
	}
	tb := tx.Bucket(bucketTemplates)
	prefix := []byte(residentID + "/")
	var keys [][]byte
	c := tb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := tb.Delete(k); err != nil {
			return 0, err
		}
	}
	if !hadKey && len(keys) == 0 {
		return -1, nil
	}
	return len(keys), nil
}

func withdrawConsents(tx *bolt.Tx, residentID string, now time.Time) error {
	cb := tx.Bucket(bucketConsents)
	prefix := []byte(residentID + "/")
	type kv struct{ k, v []byte }
	var upd []kv
	c := cb.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		cr, err := decodeConsent(v)
		if err != nil {
			return fmt.Errorf("%w: consent %s: %w", ErrCorrupt, k, err)
		}
		if cr.WithdrawnAt.IsZero() {
			cr.WithdrawnAt = now
			upd = append(upd, kv{bytes.Clone(k), encodeConsent(cr)})
		}
	}
	for _, u := range upd {
		if err := cb.Put(u.k, u.v); err != nil {
			return err
		}
	}
	return nil
}

// Deletions returns every deletion record, oldest first, with Pending set
// on those whose destruction on disk has not finished.
func (db *DB) Deletions() ([]DeletionRecord, error) {
	var out []DeletionRecord
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		out, err = readDeletions(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: deletions: %w", err)
	}
	return out, nil
}

// readDeletions decodes the deletion records and marks the pending ones.
func readDeletions(tx *bolt.Tx) ([]DeletionRecord, error) {
	pb := tx.Bucket(bucketPending)
	var out []DeletionRecord
	err := tx.Bucket(bucketDeletions).ForEach(func(k, v []byte) error {
		r, err := decodeDeletion(v)
		if err != nil {
			return fmt.Errorf("%w: deletion %x: %w", ErrCorrupt, k, err)
		}
		r.Pending = pb != nil && pb.Get([]byte(r.ReceiptID)) != nil
		out = append(out, r)
		return nil
	})
	return out, err
}
