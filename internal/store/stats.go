package store

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Stats summarise the store for `gated report`. They hold counts and
// deletion records only, no personal or biometric data.
type Stats struct {
	SchemaVersion     uint32
	KEKFingerprint    string
	FileBytes         int64
	Residents         int
	ResidentsWithFace int
	Templates         int
	Cards             int
	PINs              int
	// ConsentsByNotice counts standing (not withdrawn) consents by notice
	// version.
	ConsentsByNotice map[string]int
	WithdrawnConsent int
	Deletions        []DeletionRecord // oldest first
	AuditEntries     uint64
	// PendingDestructions counts deletions whose destruction on disk has
	// not finished (PendingDestructions lists them).
	PendingDestructions int
	// RotationPending: a key rotation is done, but its work on disk (the
	// rewrite, the backup under the new key) is owed; FinishPending does it.
	RotationPending bool
}

// Stats counts what the store holds.
func (db *DB) Stats() (Stats, error) {
	s := Stats{ConsentsByNotice: map[string]int{}}
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		if s.SchemaVersion, err = schemaVersion(tx); err != nil {
			return err
		}
		s.KEKFingerprint = db.kek.Fingerprint()
		s.FileBytes = tx.Size()
		s.Residents = tx.Bucket(bucketResidents).Stats().KeyN
		s.ResidentsWithFace = tx.Bucket(bucketDataKeys).Stats().KeyN
		s.Templates = tx.Bucket(bucketTemplates).Stats().KeyN
		s.Cards = tx.Bucket(bucketCards).Stats().KeyN
		s.PINs = tx.Bucket(bucketPINs).Stats().KeyN
		err = tx.Bucket(bucketConsents).ForEach(func(k, v []byte) error {
			c, err := decodeConsent(v)
			if err != nil {
				return fmt.Errorf("%w: consent %s: %w", ErrCorrupt, k, err)
			}
			if c.WithdrawnAt.IsZero() {
				s.ConsentsByNotice[c.NoticeVersion]++
			} else {
				s.WithdrawnConsent++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if s.Deletions, err = readDeletions(tx); err != nil {
			return err
		}
		if pb := tx.Bucket(bucketPending); pb != nil {
			s.PendingDestructions = pb.Stats().KeyN
		}
		s.RotationPending = tx.Bucket(bucketSettings).Get([]byte(rotationPendingSetting)) != nil
		if k, _ := tx.Bucket(bucketAudit).Cursor().Last(); len(k) == 8 {
			s.AuditEntries = uint64FromKey(k)
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	if fi, err := os.Stat(db.path); err == nil {
		s.FileBytes = fi.Size()
	}
	return s, nil
}
