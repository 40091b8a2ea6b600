package store

import (
	"bytes"
	"errors"
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
	member    bool     // the replaced store was a member
	optOuts   []string // its opt-outs (residents) the office had not acknowledged
}

// ErrLeftCompound is carryCompound's error when the backup predates the
// gate's joining: the restored store is no member, so nothing the
// replaced one owed the office (opt-outs asked here) can be sent.
var ErrLeftCompound = errors.New("the backup predates this gate's joining the compound: the gate is no longer a member")

// readCompoundCarry reads it from the replaced store (damaged records
// are skipped: the erasures that decode are carried).
func readCompoundCarry(tx *bolt.Tx) compoundCarry {
	var c compoundCarry
	cb := tx.Bucket(bucketCompound)
	if cb == nil {
		return c
	}
	c.haveState = true
	c.member = cb.Get(compMember) != nil
	c.eventSeq = getU64(cb, compEventSeq)
	if eb := tx.Bucket(bucketErasures); eb != nil {
		c.erasures = map[string][]byte{}
		eb.ForEach(func(k, v []byte) error {
			if r, err := decodeErasure(v); err == nil {
				c.erasures[string(k)] = bytes.Clone(v)
				if !r.Order && !r.Acked {
					c.optOuts = append(c.optOuts, r.Resident)
				}
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
			if c.member { // the backup predates joining: nothing to carry into
				return fmt.Errorf("%w: join it again (gated compound join; the office must then take its new key); opt-outs asked here that the office never collected, to ask again at the office: %v", ErrLeftCompound, c.optOuts)
			}
			return nil
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
