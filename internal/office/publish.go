package office

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// pub is what the office remembers of a records bundle it published.
type pub struct {
	Seq    uint64    `json:"seq"`
	Base   uint64    `json:"base,omitempty"`
	Rev    uint64    `json:"rev"`    // the change-log revision it holds up to
	Digest string    `json:"digest"` // of its complete parts (profiles, groups, erase, acked)
	At     time.Time `json:"at"`
}

// PublishOptions choose what Publish writes.
type PublishOptions struct {
	Snapshot bool     // a snapshot even where a delta would do
	Gates    []string // only these gates (empty: every gate)
}

// Published says what Publish wrote for one gate.
type Published struct {
	Gate      string `json:"gate"`
	Seq       uint64 `json:"seq,omitempty"`
	Base      uint64 `json:"base,omitempty"` // 0: a snapshot
	File      string `json:"file,omitempty"`
	Bytes     int    `json:"bytes,omitempty"`
	Residents int    `json:"residents"`
	Cards     int    `json:"cards"`
	Passes    int    `json:"passes"`
	Removals  int    `json:"removals"`
	Erase     int    `json:"erase"`
	Pruned    int    `json:"pruned,omitempty"` // older files removed from the outbox
	UpToDate  bool   `json:"up_to_date,omitempty"`
}

// BundleName is a records bundle's file name.
func BundleName(seq uint64) string { return fmt.Sprintf("records-%020d.gbundle", seq) }

// Publish writes, for each gate, a records bundle into outbox/<gate>/: a
// delta against the bundle the gate reported applied when the office
// still has the changes since, else a snapshot. A gate with nothing new
// (and no refusal of the last bundle) gets nothing. Older files the new
// one supersedes are removed, except the newest snapshot the gate applied.
func (o *Office) Publish(actor, outbox string, opt PublishOptions) ([]Published, error) {
	var names []string
	err := o.db.View(func(tx *bolt.Tx) error {
		names = o.gateNames(tx)
		return o.checkGates(tx, opt.Gates)
	})
	if err != nil {
		return nil, fmt.Errorf("office: publish: %w", err)
	}
	if len(opt.Gates) > 0 {
		names = opt.Gates
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("office: publish: %w: no gates (gated office gate add)", ErrInvalid)
	}
	var out []Published
	for _, name := range names {
		p, err := o.publishGate(actor, outbox, name, opt.Snapshot)
		if err != nil {
			return out, fmt.Errorf("office: publish to %s: %w", name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (o *Office) publishGate(actor, outbox, name string, snapshot bool) (Published, error) {
	res := Published{Gate: name}
	var file []byte
	var applied uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		g, err := o.gate(tx, name)
		if err != nil {
			return err
		}
		key, err := g.PublicKey()
		if err != nil {
			return err
		}
		applied = g.Applied
		c, err := o.counters(tx)
		if err != nil {
			return err
		}
		rec := &bundle.Records{Version: bundle.PayloadVersion, Compound: o.compound, Gate: name, Secret: o.secret}
		if rec.Profiles, rec.Groups, err = o.schedules(tx); err != nil {
			return err
		}
		if rec.Erase, rec.Acked, err = o.erasuresFor(tx, g); err != nil {
			return err
		}
		digest := completeDigest(rec)

		var last pub
		haveLast, err := o.get(tx, bucketPubs, gateKey(name, g.Published), &last)
		if err != nil {
			return err
		}
		// A gate that applied more than this store ever wrote (the store was
		// restored from a backup) is not up to date, whatever else holds.
		if !snapshot && haveLast && digest == last.Digest && !refused(g, last.Seq) && g.Applied <= last.Seq && !o.changedSince(tx, name, last.Rev) {
			res.UpToDate = true
			return nil
		}
		var base pub
		delta := false
		if !snapshot && g.Applied > 0 {
			ok, err := o.get(tx, bucketPubs, gateKey(name, g.Applied), &base)
			if err != nil {
				return err
			}
			delta = ok && base.Rev >= c.PrunedRev
		}
		if delta {
			err = o.buildDelta(tx, name, base.Rev, rec)
		} else {
			base = pub{}
			err = o.buildSnapshot(tx, name, rec)
		}
		if err != nil {
			return err
		}
		if err := rec.Check(!delta); err != nil {
			return fmt.Errorf("the bundle does not pass its own checks: %w", err)
		}
		payload, err := rec.Encode()
		if err != nil {
			return err
		}
		defer clear(payload)
		c.Seq = max(c.Seq, g.Published, g.Applied) + 1
		h := bundle.Header{Kind: bundle.KindRecords, Seq: c.Seq, Base: base.Seq, Created: o.now(), To: key}
		if file, err = bundle.Seal(o.id, h, payload); err != nil {
			return err
		}
		if err := o.setCounters(tx, c); err != nil {
			return err
		}
		if err := o.put(tx, bucketPubs, gateKey(name, c.Seq), pub{Seq: c.Seq, Base: base.Seq, Rev: c.Rev, Digest: digest, At: h.Created}); err != nil {
			return err
		}
		g.Published, g.PublishedAt = c.Seq, h.Created
		if err := o.put(tx, bucketGates, []byte(name), g); err != nil {
			return err
		}
		res.Seq, res.Base, res.Bytes = c.Seq, base.Seq, len(file)
		res.Residents, res.Cards, res.Passes, res.Erase = len(rec.Residents), len(rec.Cards), len(rec.Passes), len(rec.Erase)
		res.Removals = len(rec.Remove.Residents) + len(rec.Remove.Cards) + len(rec.Remove.Passes)
		kind := "snapshot"
		if delta {
			kind = "delta against " + strconv.FormatUint(base.Seq, 10)
		}
		return o.logTx(tx, actor, "publish", name, fmt.Sprintf("records %d, %s: %d residents, %d cards, %d passes, %d removals, %d erasure orders",
			c.Seq, kind, res.Residents, res.Cards, res.Passes, res.Removals, res.Erase))
	})
	if err != nil || res.UpToDate {
		return res, err
	}
	dir := filepath.Join(outbox, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	res.File = filepath.Join(dir, BundleName(res.Seq))
	if err := bundle.WriteFile(res.File, file, 0o640); err != nil {
		return res, err
	}
	res.Pruned = pruneOutbox(dir, res.Seq, applied)
	return res, nil
}

// refused reports whether the gate refused records bundle seq.
func refused(g Gate, seq uint64) bool {
	for _, im := range g.Imports {
		if im.Seq == seq && !im.OK {
			return true
		}
	}
	return false
}

func completeDigest(r *bundle.Records) string {
	ids := make([]string, len(r.Erase))
	for i, e := range r.Erase {
		ids[i] = e.ID
	}
	b, _ := json.Marshal(struct {
		P bundle.Profiles
		G map[string]string
		E []string
		A bundle.Acks
	}{r.Profiles, r.Groups, ids, r.Acked})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// changedSince reports whether a change after rev touches gate.
func (o *Office) changedSince(tx *bolt.Tx, gate string, rev uint64) bool {
	found := false
	c := tx.Bucket(bucketChanges).Cursor()
	for k, s := c.Seek(be64(rev + 1)); k != nil && !found; k, s = c.Next() {
		plain, err := o.open(bucketChanges, k, s)
		if err != nil {
			return true
		}
		var ch change
		err = json.Unmarshal(plain, &ch)
		found = err != nil || contains(ch.Before, gate) || contains(ch.After, gate)
	}
	return found
}

// erasuresFor is what a gate's bundle carries of erasures: the orders it
// has not receipted, and the acknowledgements.
func (o *Office) erasuresFor(tx *bolt.Tx, g Gate) ([]bundle.Erasure, bundle.Acks, error) {
	acks := bundle.Acks{Audit: g.AuditSeq, Events: g.EventsSeq}
	var erase []bundle.Erasure
	err := each(o, tx, bucketErasures, nil, func(_ []byte, e *Erasure) error {
		if e.Origin == g.Name {
			acks.OptOuts = append(acks.OptOuts, e.ID)
		}
		if _, ok := e.Receipts[g.Name]; ok {
			acks.Receipts = append(acks.Receipts, e.ID)
		} else if contains(e.Targets, g.Name) {
			erase = append(erase, e.Erasure)
		}
		return nil
	})
	return erase, acks, err
}

func (o *Office) buildSnapshot(tx *bolt.Tx, gate string, rec *bundle.Records) error {
	var rs []Resident
	in := map[string]bool{}
	err := each(o, tx, bucketResidents, nil, func(_ []byte, r *Resident) error {
		if contains(o.expand(tx, r.Gates), gate) {
			rs = append(rs, *r)
			in[r.ID] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rs {
		rec.Residents = append(rec.Residents, o.toBundle(r, in[r.Guardian]))
	}
	err = each(o, tx, bucketCards, nil, func(_ []byte, c *Card) error {
		if in[c.Resident] {
			rec.Cards = append(rec.Cards, bundle.Card{Token: c.Token, Resident: c.Resident, ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return each(o, tx, bucketPasses, nil, func(_ []byte, p *Pass) error {
		if contains(o.expand(tx, p.Gates), gate) {
			rec.Passes = append(rec.Passes, p.toBundle())
		}
		return nil
	})
}

func (p Pass) toBundle() bundle.Pass {
	return bundle.Pass{ID: p.ID, Name: p.Name, From: p.From, Until: p.Until, Uses: p.Uses, Revoked: p.Revoked, Hint: p.Hint, Code: p.Code}
}

type fold struct {
	first, last byte // 'a' added, 'u' updated, 'r' removed (for this gate)
	resident    string
}

// buildDelta folds the change log after rev for gate into rec.
func (o *Office) buildDelta(tx *bolt.Tx, gate string, rev uint64, rec *bundle.Records) error {
	ops := map[string]*fold{} // kind + ID
	var order []string
	c := tx.Bucket(bucketChanges).Cursor()
	for k, s := c.Seek(be64(rev + 1)); k != nil; k, s = c.Next() {
		plain, err := o.open(bucketChanges, k, s)
		if err != nil {
			return err
		}
		var ch change
		err = json.Unmarshal(plain, &ch)
		clear(plain)
		if err != nil {
			return fmt.Errorf("%w: change %d: %v", ErrTampered, uint64FromKey(k), err)
		}
		was, is := contains(ch.Before, gate), contains(ch.After, gate)
		var op byte
		switch {
		case !was && is:
			op = 'a'
		case was && is:
			op = 'u'
		case was && !is:
			op = 'r'
		default:
			continue
		}
		key := string(ch.Kind) + ch.ID
		f := ops[key]
		if f == nil {
			f = &fold{first: op, resident: ch.Resident}
			ops[key] = f
			order = append(order, key)
		}
		f.last = op
	}
	removed := map[string]bool{}
	for _, key := range order {
		if f := ops[key]; key[0] == 'r' && f.last == 'r' && f.first != 'a' {
			removed[key[1:]] = true
			rec.Remove.Residents = append(rec.Remove.Residents, key[1:])
		}
	}
	for _, key := range order {
		f, kind, id := ops[key], key[0], key[1:]
		if f.last == 'r' {
			switch {
			case f.first == 'a' || kind == 'r':
			case kind == 'c' && !removed[f.resident]:
				t, err := hex.DecodeString(id)
				if err != nil {
					return err
				}
				rec.Remove.Cards = append(rec.Remove.Cards, t)
			case kind == 'v':
				rec.Remove.Passes = append(rec.Remove.Passes, id)
			}
			continue
		}
		switch kind {
		case 'r':
			var r Resident
			if ok, err := o.get(tx, bucketResidents, []byte(id), &r); err != nil {
				return err
			} else if ok && contains(o.expand(tx, r.Gates), gate) {
				rec.Residents = append(rec.Residents, o.toBundle(r, o.appliesTo(tx, r.Guardian, gate)))
			}
		case 'c':
			t, err := hex.DecodeString(id)
			if err != nil {
				return err
			}
			var cd Card
			if ok, err := o.get(tx, bucketCards, t, &cd); err != nil {
				return err
			} else if ok && o.appliesTo(tx, cd.Resident, gate) {
				rec.Cards = append(rec.Cards, bundle.Card{Token: cd.Token, Resident: cd.Resident, ValidFrom: cd.ValidFrom, ValidUntil: cd.ValidUntil})
			}
		case 'v':
			var p Pass
			if ok, err := o.get(tx, bucketPasses, []byte(id), &p); err != nil {
				return err
			} else if ok && contains(o.expand(tx, p.Gates), gate) {
				rec.Passes = append(rec.Passes, p.toBundle())
			}
		}
	}
	return nil
}

// appliesTo reports whether resident id is sent to gate.
func (o *Office) appliesTo(tx *bolt.Tx, id, gate string) bool {
	if id == "" {
		return false
	}
	var r Resident
	ok, err := o.get(tx, bucketResidents, []byte(id), &r)
	return err == nil && ok && contains(o.expand(tx, r.Gates), gate)
}

// pruneOutbox removes from a gate's outbox dir the records bundles older
// than newest (applied, or superseded by it) except the newest snapshot
// the gate applied, and leftover temporary files. It returns how many it
// removed.
func pruneOutbox(dir string, newest, applied uint64) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	type f struct {
		name string
		seq  uint64
		snap bool
	}
	var files []f
	n := 0
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			if os.Remove(filepath.Join(dir, name)) == nil {
				n++
			}
			continue
		}
		seq, ok := bundleSeq(name, "records-", ".gbundle")
		if !ok || seq >= newest {
			continue
		}
		snap := false
		if seq <= applied {
			if b, err := readHead(filepath.Join(dir, name)); err == nil {
				if h, err := bundle.ParseHeader(b); err == nil {
					snap = h.Snapshot()
				}
			}
		}
		files = append(files, f{name, seq, snap})
	}
	keep := -1
	for i, x := range files {
		if x.snap && (keep < 0 || x.seq > files[keep].seq) {
			keep = i
		}
	}
	for i, x := range files {
		if i != keep && os.Remove(filepath.Join(dir, x.name)) == nil {
			n++
		}
	}
	return n
}

func bundleSeq(name, prefix, suffix string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// readHead reads a whole bundle file (a header parse needs its length to
// match).
func readHead(path string) ([]byte, error) { return bundle.ReadFile(path) }
