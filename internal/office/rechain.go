package office

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// Rechain accepts a gate's audit chain afresh after the gate was restored
// from a backup (gated restore): a restore replaces the gate's audit log
// with the backup's, so from the backup's point on its entries differ from
// those the office collected, and collect refuses them (ErrChainBroken:
// "rewritten at the gate"). An office that has checked why (the gate's
// restore is in its log, and the replaced log was saved beside its store
// as .audit-replaced-*.jsonl) runs Rechain: the entries held for the gate
// are kept, unchanged, as an archived chain (they count toward the three
// years like the rest and are pruned with them), the gate's chain is held
// from nothing, and the next records bundle acknowledges nothing, so the
// gate sends its chain again from its first entry. Audited in the office
// log with the reason. It returns how many entries were archived.
func (o *Office) Rechain(actor, gate, reason string) (int, error) {
	if reason == "" {
		return 0, fmt.Errorf("office: rechain %s: %w: a reason is required", gate, ErrInvalid)
	}
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		g, err := o.gate(tx, gate)
		if err != nil {
			return err
		}
		at := o.now()
		var keys [][]byte
		var entries []bundle.AuditEntry
		err = each(o, tx, bucketAudit, append([]byte(gate), 0), func(k []byte, a *bundle.AuditEntry) error {
			keys = append(keys, slices.Clone(k))
			entries = append(entries, *a)
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := o.put(tx, bucketAudit, archiveKey(gate, uint64(at.UnixNano()), entries[i].Seq), entries[i]); err != nil {
				return err
			}
			if err := tx.Bucket(bucketAudit).Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		g.AuditSeq, g.AuditHash, g.AuditHeld, g.ChainError = 0, bundle.Digest{}, 0, ""
		if err := o.put(tx, bucketGates, []byte(gate), g); err != nil {
			return err
		}
		return o.logTx(tx, actor, "rechain", gate, bundle.Truncate(fmt.Sprintf("audit chain accepted afresh, %d entries archived: %s", n, reason), 300))
	})
	if err != nil {
		return 0, fmt.Errorf("office: rechain %s: %w", gate, err)
	}
	return n, nil
}

// archiveKey keys an archived chain's entry: the gate, byte 1 (live
// entries have 0), when it was archived, the entry's seq.
func archiveKey(gate string, epoch, seq uint64) []byte {
	k := append([]byte(gate), 1)
	k = binary.BigEndian.AppendUint64(k, epoch)
	return binary.BigEndian.AppendUint64(k, seq)
}

// ArchivedAuditEntries returns a gate's archived chains' entries, oldest
// archive first.
func (o *Office) ArchivedAuditEntries(gate string) ([]bundle.AuditEntry, error) {
	var out []bundle.AuditEntry
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketAudit, append([]byte(gate), 1), func(_ []byte, a *bundle.AuditEntry) error {
			out = append(out, *a)
			return nil
		})
	})
	return out, err
}
