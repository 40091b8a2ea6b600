package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// compoundCarry is what a restore keeps from the replaced store of a
// compound gate: its event bundle sequence (a restored, lower one would
// make the office skip the gate's next bundles as already collected) and
// the erasures the backup lacks (an opt-out asked here after the backup
// and not yet acknowledged by the office would otherwise never reach the
// compound's other gates; an order carried out here would be carried out
// again, harmlessly, but receipted twice).
type compoundCarry struct {
	eventSeq  uint64
	erasures  map[string][]byte // ID -> record as stored
	haveState bool
}

// readCompoundCarry reads it from the replaced store (damaged records
// are skipped: the erasures that decode are carried).
func readCompoundCarry(tx *bolt.Tx) compoundCarry {
	var c compoundCarry
	cb := tx.Bucket(bucketCompound)
	if cb == nil {
		return c
	}
	c.haveState = true
	c.eventSeq = getU64(cb, compEventSeq)
	if eb := tx.Bucket(bucketErasures); eb != nil {
		c.erasures = map[string][]byte{}
		eb.ForEach(func(k, v []byte) error {
			if _, err := decodeErasure(v); err == nil {
				c.erasures[string(k)] = bytes.Clone(v)
			}
			return nil
		})
	}
	return c
}

// carryCompound applies c to the restored store, if it is a member.
// It returns how many erasures it added.
func (db *DB) carryCompound(c compoundCarry) (int, error) {
	if !c.haveState {
		return 0, nil
	}
	added := 0
	err := db.update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCompound)
		if cb == nil || cb.Get(compMember) == nil {
			return nil // the backup predates joining: nothing to carry into
		}
		if c.eventSeq > getU64(cb, compEventSeq) {
			if err := cb.Put(compEventSeq, be64(c.eventSeq)); err != nil {
				return err
			}
		}
		eb := tx.Bucket(bucketErasures)
		for id, v := range c.erasures {
			if eb.Get([]byte(id)) != nil {
				continue
			}
			if err := eb.Put([]byte(id), v); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: restore: carry the compound's state: %w", err)
	}
	return added, nil
}
