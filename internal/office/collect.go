package office

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/store"
)

// Retention is how long the office keeps the audit entries it collects.
const Retention = 3 * 365 * 24 * time.Hour

// changeLogKeep is how long the change log keeps entries a gate has not
// acknowledged: a gate behind that gets a snapshot.
const changeLogKeep = 90 * 24 * time.Hour

// PassKeep is how long a visitor pass is kept after it ended (as on a
// gate: store.PrunePasses with 30 days).
const PassKeep = 30 * 24 * time.Hour

// Errors a collected event bundle is refused with; each wraps ErrRefused.
var (
	ErrRefused     = errors.New("event bundle refused")
	ErrReplay      = fmt.Errorf("%w: already collected (a replay or an older copy)", ErrRefused)
	ErrChainBroken = fmt.Errorf("%w: the gate's audit chain is broken", ErrRefused)
	ErrWrongGate   = fmt.Errorf("%w: not from this gate", ErrRefused)
)

// Collected says what happened to one event bundle file.
type Collected struct {
	Gate     string `json:"gate"`
	File     string `json:"file"`
	Seq      uint64 `json:"seq,omitempty"`
	Audit    int    `json:"audit,omitempty"`    // new audit entries kept
	Receipts int    `json:"receipts,omitempty"` // new erasure receipts
	OptOuts  int    `json:"opt_outs,omitempty"` // new erasure orders made from the gate's opt-outs
	Applied  uint64 `json:"applied,omitempty"`
	Error    string `json:"error,omitempty"` // refused (or already collected: Replay)
	Replay   bool   `json:"replay,omitempty"`
	Err      error  `json:"-"` // the refusal, for errors.Is
}

// CollectReport is the result of Collect.
type CollectReport struct {
	Files  []Collected `json:"files"`
	Pruned int         `json:"pruned"` // audit entries past Retention removed
	// Unknown lists subdirectories that name no gate.
	Unknown []string `json:"unknown,omitempty"`
}

// Refused counts the files refused for a reason other than a replay.
func (r CollectReport) Refused() int {
	n := 0
	for _, f := range r.Files {
		if f.Error != "" && !f.Replay {
			n++
		}
	}
	return n
}

// Collect reads every gate's event bundles from dir/<gate>/*.gevents, in
// sequence order, and keeps what verifies (CollectFile); then removes
// audit entries older than Retention and change-log entries every gate
// has applied.
func (o *Office) Collect(actor, dir string) (CollectReport, error) {
	var rep CollectReport
	gates, err := o.Gates()
	if err != nil {
		return rep, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rep, fmt.Errorf("office: collect: %w", err)
	}
	known := map[string]bool{}
	for _, g := range gates {
		known[g.Name] = true
	}
	for _, e := range ents {
		if e.IsDir() && !known[e.Name()] {
			rep.Unknown = append(rep.Unknown, e.Name())
		}
	}
	for _, g := range gates {
		sub := filepath.Join(dir, g.Name)
		files, err := os.ReadDir(sub)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("office: collect: %w", err)
		}
		type f struct {
			path string
			seq  uint64
		}
		var fs []f
		for _, x := range files {
			if x.IsDir() || filepath.Ext(x.Name()) != ".gevents" {
				continue
			}
			seq, _ := bundleSeq(x.Name(), "events-", ".gevents") // an odd name sorts first, then Open judges it
			fs = append(fs, f{filepath.Join(sub, x.Name()), seq})
		}
		slices.SortFunc(fs, func(a, b f) int {
			if a.seq != b.seq {
				if a.seq < b.seq {
					return -1
				}
				return 1
			}
			return 0
		})
		for _, x := range fs {
			rep.Files = append(rep.Files, o.CollectFile(actor, g.Name, x.path))
		}
	}
	n, err := o.prune()
	rep.Pruned = n
	return rep, err
}

// CollectFile verifies one event bundle from gate and keeps it: the
// signature (the gate's pinned key), that it is sealed to this office,
// its payload, its sequence (newer than the last collected: else a
// replay, ErrReplay), and the audit chain (each entry's hash recomputed
// with the gate store's encoding, each link, the first new entry linked to
// the last the office holds, entries already held unchanged:
// ErrChainBroken). A refused bundle changes nothing but the gate's
// refusal note (and, for a broken chain, its chain status).
func (o *Office) CollectFile(actor, gate, path string) Collected {
	res := Collected{Gate: gate, File: path}
	err := o.collectFile(actor, gate, path, &res)
	if err != nil {
		res.Error, res.Err = err.Error(), err
		res.Replay = errors.Is(err, ErrReplay)
		if !res.Replay {
			o.noteRefusal(actor, gate, path, err)
		}
	}
	return res
}

func (o *Office) noteRefusal(actor, gate, path string, err error) {
	o.db.Update(func(tx *bolt.Tx) error {
		g, gerr := o.gate(tx, gate)
		if gerr != nil {
			return gerr
		}
		g.Refusal, g.RefusedAt = filepath.Base(path)+": "+bundle.Truncate(err.Error(), 300), o.now()
		if errors.Is(err, ErrChainBroken) {
			g.ChainError = g.Refusal
		}
		if perr := o.put(tx, bucketGates, []byte(gate), g); perr != nil {
			return perr
		}
		return o.logTx(tx, actor, "collect refused", gate, g.Refusal)
	})
}

func (o *Office) collectFile(actor, gate, path string, res *Collected) error {
	var g Gate
	if err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		g, err = o.gate(tx, gate)
		return err
	}); err != nil {
		return err
	}
	key, err := g.PublicKey()
	if err != nil {
		return err
	}
	b, err := bundle.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	h, payload, err := bundle.Open(b, key, o.id)
	if err != nil {
		return err
	}
	defer clear(payload)
	if h.Kind != bundle.KindEvents {
		return fmt.Errorf("%w: a %s bundle, not an event bundle", ErrRefused, h.Kind)
	}
	res.Seq = h.Seq
	ev, err := bundle.DecodeEvents(payload)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if ev.Compound != o.compound || ev.Gate != gate {
		return fmt.Errorf("%w: it says compound %q gate %q, this is %q gate %q", ErrWrongGate, ev.Compound, ev.Gate, o.compound, gate)
	}
	for _, x := range ev.OptOuts {
		if x.Origin != gate {
			return fmt.Errorf("%w: opt-out %s says it was asked at %q", ErrWrongGate, x.ID, x.Origin)
		}
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		g, err := o.gate(tx, gate) // again, inside the transaction
		if err != nil {
			return err
		}
		if h.Seq <= g.EventsSeq {
			return fmt.Errorf("%w: event bundle %d, collected up to %d", ErrReplay, h.Seq, g.EventsSeq)
		}
		fresh, err := o.checkChain(tx, g, ev.Audit)
		if err != nil {
			return err
		}
		for _, a := range fresh {
			if err := o.put(tx, bucketAudit, gateKey(gate, a.Seq), a); err != nil {
				return err
			}
		}
		if n := len(fresh); n > 0 {
			g.AuditSeq, g.AuditHash = fresh[n-1].Seq, fresh[n-1].Hash
			g.AuditHeld += n
		}
		g.ChainError = ""
		g.EventsSeq, g.EventsAt, g.CollectedAt = h.Seq, h.Created, o.now()
		g.Faces = ev.Faces
		g.Imports = append(g.Imports, ev.Imports...)
		if len(g.Imports) > 20 {
			g.Imports = slices.Clone(g.Imports[len(g.Imports)-20:])
		}
		g.Applied = ev.Applied
		c, err := o.counters(tx)
		if err != nil {
			return err
		}
		if ev.Applied > c.Seq { // the office's store is older than the gate's news (restored): never reuse a seq
			c.Seq = ev.Applied
			if err := o.setCounters(tx, c); err != nil {
				return err
			}
		}
		if err := o.put(tx, bucketGates, []byte(gate), g); err != nil {
			return err
		}
		nr, err := o.takeReceipts(tx, gate, ev.Receipts)
		if err != nil {
			return err
		}
		no, err := o.takeOptOuts(tx, gate, ev.OptOuts)
		if err != nil {
			return err
		}
		res.Audit, res.Receipts, res.OptOuts, res.Applied = len(fresh), nr, no, ev.Applied
		return o.logTx(tx, actor, "collect", gate, fmt.Sprintf("events %d: %d audit entries, %d receipts, %d opt-outs, applied %d",
			h.Seq, len(fresh), nr, no, ev.Applied))
	})
	if errors.Is(err, ErrChainBroken) {
		o.noteApplied(gate, ev.Applied)
	}
	return err
}

// noteApplied keeps what a gate says it applied from an event bundle
// refused only for its audit chain (signed by the gate, sealed to this
// office, its payload and names checked). An office store restored from
// a backup holds fewer of the gate's entries than the gate has been
// told are acknowledged, so the gate's bundles go on past a gap until a
// records bundle it applies acknowledges less; without this the office
// would go on publishing deltas against, and sequence numbers below,
// what the gate applied, which it refuses: the two would never get
// back in step. With it the next publish is a snapshot above the gate's
// sequence (no record of its base here), whose Acked brings the gate's
// entries back from where this office's copy ends.
func (o *Office) noteApplied(gate string, applied uint64) {
	o.db.Update(func(tx *bolt.Tx) error {
		g, err := o.gate(tx, gate)
		if err != nil || g.Applied == applied {
			return err
		}
		g.Applied = applied
		if err := o.put(tx, bucketGates, []byte(gate), g); err != nil {
			return err
		}
		c, err := o.counters(tx)
		if err != nil {
			return err
		}
		if applied > c.Seq {
			c.Seq = applied
			if err := o.setCounters(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkChain checks a gate's audit entries against the office's copy and
// returns those the office does not hold yet.
func (o *Office) checkChain(tx *bolt.Tx, g Gate, audit []bundle.AuditEntry) ([]bundle.AuditEntry, error) {
	held, last := g.AuditSeq, g.AuditHash
	var fresh []bundle.AuditEntry
	for _, a := range audit {
		if bundle.Digest(store.AuditEntryHash(a.Seq, a.Time, a.Kind, a.Actor, a.Subject, a.Outcome, a.Detail, a.Prev)) != a.Hash {
			return nil, fmt.Errorf("%w: entry %d does not hash to its recorded hash (altered)", ErrChainBroken, a.Seq)
		}
		if a.Seq <= held {
			var mine bundle.AuditEntry
			ok, err := o.get(tx, bucketAudit, gateKey(g.Name, a.Seq), &mine)
			if err != nil {
				return nil, err
			}
			if ok && mine.Hash != a.Hash {
				return nil, fmt.Errorf("%w: entry %d differs from the copy the office collected (rewritten at the gate)", ErrChainBroken, a.Seq)
			}
			continue
		}
		if a.Seq != held+1 {
			return nil, fmt.Errorf("%w: the office holds entries up to %d, the bundle goes on at %d (entries missing)", ErrChainBroken, held, a.Seq)
		}
		if a.Prev != last {
			return nil, fmt.Errorf("%w: entry %d does not link to entry %d the office holds", ErrChainBroken, a.Seq, held)
		}
		held, last = a.Seq, a.Hash
		fresh = append(fresh, a)
	}
	return fresh, nil
}

func (o *Office) takeReceipts(tx *bolt.Tx, gate string, rs []bundle.Receipt) (int, error) {
	n := 0
	for _, r := range rs {
		var e Erasure
		ok, err := o.get(tx, bucketErasures, []byte(r.Erasure), &e)
		if err != nil {
			return n, err
		}
		if !ok || !contains(e.Targets, gate) {
			continue // not an order of this office to this gate: nothing to record
		}
		if _, done := e.Receipts[gate]; done {
			continue
		}
		if e.Receipts == nil {
			e.Receipts = map[string]bundle.Receipt{}
		}
		e.Receipts[gate] = r
		if len(e.Pending()) == 0 {
			e.Done = o.now()
		}
		if err := o.put(tx, bucketErasures, []byte(e.ID), e); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// takeOptOuts turns opt-outs made at gate into orders for every other
// gate the resident applies to or has face data at.
func (o *Office) takeOptOuts(tx *bolt.Tx, gate string, os []bundle.Erasure) (int, error) {
	n := 0
	for _, x := range os {
		if tx.Bucket(bucketErasures).Get([]byte(x.ID)) != nil {
			continue // recorded already (the gate repeats it until acknowledged)
		}
		var applies []string
		var r Resident
		if ok, err := o.get(tx, bucketResidents, []byte(x.Resident), &r); err != nil {
			return n, err
		} else if ok {
			applies = o.expand(tx, r.Gates)
		}
		e := Erasure{Erasure: x, Targets: targetsFor(applies, o.faceGates(tx, x.Resident), gate)}
		if len(e.Targets) == 0 {
			e.Done = o.now()
		}
		if err := o.put(tx, bucketErasures, []byte(e.ID), e); err != nil {
			return n, err
		}
		if err := o.logTx(tx, "gate:"+gate, "optout", x.Resident, "erasure "+x.ID+" asked at "+gate+", ordered at "+gatesText(e.Targets)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// pruneSlack is how far the office's clock may run ahead of the newest
// event bundle a gate made before pruning stops trusting it.
const pruneSlack = 24 * time.Hour

// pruneClock is the time prune judges ages at: the office's clock, but no
// later than a day after the newest event bundle any gate made (their
// clocks, on other machines). An office clock set years ahead would
// otherwise delete the three years of records it must keep, and one set
// a month ahead every live visitor pass; with no bundle collected yet
// there is nothing to prune, and the zero time prunes nothing.
func (o *Office) pruneClock(tx *bolt.Tx) (time.Time, error) {
	var newest time.Time
	for _, name := range o.gateNames(tx) {
		g, err := o.gate(tx, name)
		if err != nil {
			return time.Time{}, err
		}
		if g.EventsAt.After(newest) {
			newest = g.EventsAt
		}
	}
	now := o.now()
	if newest.IsZero() {
		return time.Time{}, nil
	}
	if limit := newest.Add(pruneSlack); now.After(limit) {
		return limit, nil
	}
	return now, nil
}

// prune removes collected audit entries older than Retention, erasure
// orders done longer ago, and change-log entries every gate has applied
// or older than changeLogKeep.
func (o *Office) prune() (int, error) {
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		now, err := o.pruneClock(tx)
		if err != nil {
			return err
		}
		cut := now.Add(-Retention)
		gates := o.gateNames(tx)
		var minRev uint64 = 1<<64 - 1
		for _, name := range gates {
			g, err := o.gate(tx, name)
			if err != nil {
				return err
			}
			var old [][]byte
			err = each(o, tx, bucketAudit, append([]byte(name), 0), func(k []byte, a *bundle.AuditEntry) error {
				if a.Time.Before(cut) {
					old = append(old, slices.Clone(k))
					return nil
				}
				return errStop
			})
			if err != nil && err != errStop {
				return err
			}
			// Archived chains (rechain.go) age out the same way; they are
			// not counted in AuditHeld.
			var archived [][]byte
			err = each(o, tx, bucketAudit, append([]byte(name), 1), func(k []byte, a *bundle.AuditEntry) error {
				if a.Time.Before(cut) {
					archived = append(archived, slices.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range archived {
				if err := tx.Bucket(bucketAudit).Delete(k); err != nil {
					return err
				}
			}
			n += len(archived)
			for _, k := range old {
				if err := tx.Bucket(bucketAudit).Delete(k); err != nil {
					return err
				}
			}
			if len(old) > 0 {
				n += len(old)
				g.AuditHeld -= len(old)
				if err := o.put(tx, bucketGates, []byte(name), g); err != nil {
					return err
				}
			}
			var p pub
			ok, err := o.get(tx, bucketPubs, gateKey(name, g.Applied), &p)
			if err != nil {
				return err
			}
			if !ok {
				minRev = 0 // this gate needs a snapshot: it holds nothing back, but keep the log for now
				continue
			}
			minRev = min(minRev, p.Rev)
			// Bundles before the applied one are no longer a delta's base.
			var stale [][]byte
			c := tx.Bucket(bucketPubs).Cursor()
			pre := append([]byte(name), 0)
			for k, _ := c.Seek(pre); k != nil && len(k) == len(pre)+8 && string(k[:len(pre)]) == string(pre); k, _ = c.Next() {
				if binary.BigEndian.Uint64(k[len(pre):]) < g.Applied {
					stale = append(stale, slices.Clone(k))
				}
			}
			for _, k := range stale {
				if err := tx.Bucket(bucketPubs).Delete(k); err != nil {
					return err
				}
			}
		}
		// Visitor passes ended more than PassKeep ago leave the office and,
		// through the next deltas, the gates (as a gate prunes its own).
		var ended []Pass
		err = each(o, tx, bucketPasses, nil, func(_ []byte, p *Pass) error {
			if p.Until.Before(now.Add(-PassKeep)) {
				ended = append(ended, *p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, p := range ended {
			if err := tx.Bucket(bucketPasses).Delete([]byte(p.ID)); err != nil {
				return err
			}
			if err := o.logChange(tx, 'v', p.ID, "", o.expand(tx, p.Gates), nil); err != nil {
				return err
			}
		}
		if len(ended) > 0 {
			if err := o.logTx(tx, "office", "visitor prune", "", fmt.Sprintf("%d passes ended before %s", len(ended), now.Add(-PassKeep).Format(time.DateOnly))); err != nil {
				return err
			}
		}
		cnt, err := o.counters(tx)
		if err != nil {
			return err
		}
		var drop [][]byte
		err = each(o, tx, bucketChanges, nil, func(k []byte, ch *change) error {
			if ch.Rev <= minRev || ch.At.Before(now.Add(-changeLogKeep)) {
				drop = append(drop, slices.Clone(k))
				cnt.PrunedRev = max(cnt.PrunedRev, ch.Rev)
				return nil
			}
			return errStop
		})
		if err != nil && err != errStop {
			return err
		}
		for _, k := range drop {
			if err := tx.Bucket(bucketChanges).Delete(k); err != nil {
				return err
			}
		}
		var gone [][]byte
		err = each(o, tx, bucketErasures, nil, func(k []byte, e *Erasure) error {
			if !e.Done.IsZero() && e.Done.Before(cut) {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := tx.Bucket(bucketErasures).Delete(k); err != nil {
				return err
			}
		}
		return o.setCounters(tx, cnt)
	})
	return n, err
}

var errStop = errors.New("stop")

func uint64FromKey(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// AuditEntries returns the audit entries collected from gate, in order.
func (o *Office) AuditEntries(gate string) ([]bundle.AuditEntry, error) {
	var out []bundle.AuditEntry
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketAudit, append([]byte(gate), 0), func(_ []byte, a *bundle.AuditEntry) error {
			out = append(out, *a)
			return nil
		})
	})
	return out, err
}
