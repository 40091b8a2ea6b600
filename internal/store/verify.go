package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Open-time verification. Everything the gate serves from is checked
// before the first caller sees the DB, so that a damaged file is refused
// at once with a description an operator can act on, instead of failing
// (or faulting) later in the middle of an access decision:
//
//  1. checkPages: the page structure, with bounds-checked reads, so that
//     bbolt never follows a damaged page outside its memory map;
//  2. bbolt's own Tx.Check: key order, page accounting, freelist;
//  3. every record of every bucket decodes strictly, references what it
//     must (a card its resident, a template its data key), and every
//     sealed record opens with the KEK: data keys, templates, secrets, the
//     device secret; the audit head's seal, and the last audit entry.
//
// Audit entries before the last one are not decoded at open: the gate
// only appends to the chain, bbolt's check covers their pages, and
// VerifyAudit (or Check) walks the whole chain; docs/store.md has the
// measurements behind that choice.

// Check verifies the store at path the way Open does, read-only, and
// returns nil or the first problem found: ErrCorrupt (with what is
// damaged), ErrWrongKey, ErrNotStore, ErrSchemaTooNew, ErrLocked while
// another process holds the store. It also walks the whole audit chain
// (ErrAuditBroken). It changes nothing, not even the file's mode. It is
// meant for `gated check --store` and for the daemon to say what is
// damaged.
func Check(path string, kek KEK) error {
	if !kek.Valid() {
		return fmt.Errorf("store: check %s: %w: no key", path, ErrInvalid)
	}
	opts := Options{}.withDefaults()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if err := deepCheck(path, kek, uint32(len(opts.migrations)), opts.LockTimeout); err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	return nil
}

// guard runs fn with faults turned into panics, and turns a panic (bbolt
// asserting on a damaged page, a fault reading a damaged or vanished part
// of the memory map) into ErrCorrupt. A panic in a caller's callback
// (callFn) is the caller's bug, not damage: it goes on.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if cp, ok := r.(callerPanic); ok {
				panic(cp.v)
			}
			err = fmt.Errorf("%w: reading the file failed: %v (damaged page, or the disk returned an error)", ErrCorrupt, r)
		}
	}()
	return fn()
}

// callerPanic carries a panic out of a caller's callback through guard.
type callerPanic struct{ v any }

// callFn calls a caller's callback, marking a panic in it as the caller's.
func callFn[T any](fn func(T) error, v T) error {
	defer func() {
		if r := recover(); r != nil {
			panic(callerPanic{r})
		}
	}()
	return fn(v)
}

// verified is what verifyFile learnt about a store that passed.
type verified struct {
	version uint32
	meta    pageMeta
	counts  verifyCounts
}

type verifyCounts struct {
	Residents, DataKeys, Templates, Cards, PINs, Consents, Deletions, Failures, Pending, Settings int
	AuditEntries                                                                                  uint64
	// AuditBreaks are the entries of the audit chain that do not verify,
	// when the walk accepts them (Options.auditEntryBreaksOK).
	AuditBreaks     []AuditBreak
	AuditBreaksMore bool
}

// verifyFile checks the store at path completely, read-only, and returns
// the bbolt handle it checked through, still open and read-only, when keep
// is true. bbolt's open reads only the two meta pages; the page walk runs
// once the shared lock is held, so no commit can land between the walk and
// what bbolt reads.
func verifyFile(path string, kek KEK, current uint32, opts Options, keep bool) (v verified, bdb *bolt.DB, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return v, nil, err
	}
	if fi.Size() == 0 {
		// bbolt would try to initialise it.
		return v, nil, fmt.Errorf("%w: empty file", ErrNotStore)
	}
	err = guard(func() error {
		var err error
		bdb, err = openBolt(path, true, opts)
		return err
	})
	if errors.Is(err, ErrNotStore) || errors.Is(err, ErrCorrupt) {
		// Say why in our words: the walk reads the meta pages too.
		if _, perr := checkPages(path); perr != nil {
			err = perr
		}
	}
	if err != nil {
		return v, nil, err
	}
	h := bdb
	defer func() {
		if err != nil || !keep {
			h.Close()
			bdb = nil
		}
	}()
	if v.meta, err = checkPages(path); err != nil {
		return v, nil, err
	}
	err = guard(func() error {
		return bdb.View(func(tx *bolt.Tx) error {
			if uint64(tx.ID()) != v.meta.txid {
				return fmt.Errorf("%w: bbolt reads transaction %d, the page check chose meta page of transaction %d", ErrCorrupt, tx.ID(), v.meta.txid)
			}
			var err error
			v.version, v.counts, err = verifyTx(tx, kek, current, opts)
			return err
		})
	})
	return v, bdb, err
}

// bucketSpec names a bucket and the schema version that created it.
type bucketSpec struct {
	name  []byte
	since uint32
}

var schemaBuckets = []bucketSpec{
	{bucketMeta, 1}, {bucketSettings, 1}, {bucketResidents, 1}, {bucketDataKeys, 1}, {bucketTemplates, 1},
	{bucketCards, 1}, {bucketPINs, 1}, {bucketConsents, 1}, {bucketDeletions, 1}, {bucketAudit, 1},
	{bucketFailures, 2}, {bucketPending, 2},
	{bucketVisitors, 3},
	{bucketCompound, 4}, {bucketOfficeRes, 4}, {bucketOfficeCards, 4}, {bucketOfficePasses, 4}, {bucketErasures, 4},
}

// knownSchema is the newest schema verifyTx knows every bucket of.
const knownSchema = 4

// damaged formats a record-level problem: bucket, key, what failed.
func damaged(bucket []byte, key []byte, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if key == nil {
		return fmt.Errorf("%w: bucket %s: %s", ErrCorrupt, bucket, msg)
	}
	return fmt.Errorf("%w: bucket %s, key %s: %s", ErrCorrupt, bucket, printableKey(key), msg)
}

// verifyTx checks every record the gate serves from, in tx.
func verifyTx(tx *bolt.Tx, kek KEK, current uint32, opts Options) (uint32, verifyCounts, error) {
	var n verifyCounts
	var problems []string
	for err := range tx.Check() {
		if len(problems) < 3 {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return 0, n, fmt.Errorf("%w: bbolt consistency check: %s", ErrCorrupt, strings.Join(problems, "; "))
	}

	// The bucket set: a file without gated's meta bucket is foreign,
	// unless it has other buckets of gated's, then it is damaged.
	present := map[string]bool{}
	err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		present[string(name)] = true
		return nil
	})
	if err != nil {
		return 0, n, fmt.Errorf("%w: root bucket: %v", ErrCorrupt, err)
	}
	m := tx.Bucket(bucketMeta)
	if m == nil || !bytes.Equal(m.Get(metaMagic), []byte(magic)) {
		for _, b := range schemaBuckets[1:] {
			if present[string(b.name)] {
				return 0, n, fmt.Errorf("%w: bucket meta is missing or has no gated magic, but bucket %s is there", ErrCorrupt, b.name)
			}
		}
		return 0, n, fmt.Errorf("%w: a bbolt file without gated's meta bucket", ErrNotStore)
	}
	version, secret, err := checkStore(tx, kek, current)
	if err != nil {
		return version, n, err
	}
	keys := deriveDeviceKeys(secret)
	clear(secret)
	for _, b := range schemaBuckets {
		switch have := present[string(b.name)]; {
		case b.since <= version && !have:
			return version, n, fmt.Errorf("%w: bucket %s is missing", ErrCorrupt, b.name)
		case b.since > version && have:
			// Migrations commit with the new number: a bucket of a later
			// schema proves the number was damaged (a bit flipped 2 to 1),
			// and migrating again would fail on it.
			return version, n, fmt.Errorf("%w: bucket meta, key schema: version %d, but bucket %s of schema %d is there (the schema record is damaged)",
				ErrCorrupt, version, b.name, b.since)
		}
		delete(present, string(b.name))
	}
	if version <= knownSchema {
		for name := range present {
			return version, n, fmt.Errorf("%w: unexpected bucket %s", ErrCorrupt, printableKey([]byte(name)))
		}
	}
	// gated's buckets hold no nested buckets; bbolt gives them a nil value.
	for _, b := range schemaBuckets {
		bk := tx.Bucket(b.name)
		if bk == nil {
			continue
		}
		if err := bk.ForEachBucket(func(k []byte) error {
			return damaged(b.name, k, "a nested bucket where a record belongs")
		}); err != nil {
			return version, n, err
		}
	}

	checks := []func(*bolt.Tx, KEK, deviceKeys, *verifyCounts) error{
		verifyMeta, verifySettings, verifyResidents, verifyCards, verifyPINs, verifyConsents,
		verifyDeletions, verifyDataKeysAndTemplates,
	}
	if version >= 2 {
		checks = append(checks, verifyFailures, verifyPending)
	}
	if version >= 3 {
		checks = append(checks, verifyVisitors)
	}
	if version >= 4 {
		checks = append(checks, verifyCompound)
	}
	for _, check := range checks {
		if err := check(tx, kek, keys, &n); err != nil {
			return version, n, err
		}
	}
	if opts.verifyAllAudit {
		if err := verifyWholeAudit(tx, keys, opts.auditEntryBreaksOK, &n); err != nil {
			return version, n, err
		}
	}
	return version, n, nil
}

func verifyMeta(tx *bolt.Tx, _ KEK, keys deviceKeys, n *verifyCounts) error {
	m := tx.Bucket(bucketMeta)
	err := m.ForEach(func(k, v []byte) error {
		switch string(k) {
		case string(metaMagic), string(metaSchema), string(metaKEKVerifier), string(metaDeviceSecret):
			// checkStore read these.
		case string(metaKEKFingerprint):
			if len(v) > 64 || !strings.HasPrefix(string(v), "kek:") {
				return damaged(bucketMeta, k, "not a key fingerprint")
			}
		case string(metaCreated):
			if len(v) != 8 || int64(uint64FromKey(v)) < 0 {
				return damaged(bucketMeta, k, "creation time of %d bytes", len(v))
			}
		case string(metaAuditHead):
			// Below.
		case string(metaJournalLast):
			if _, err := decodeJournalMark(v); err != nil {
				return damaged(bucketMeta, k, "%v", err)
			}
		default:
			return damaged(bucketMeta, k, "unknown meta record")
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The audit head, and the last entry it seals. Earlier entries are
	// the chain's business (VerifyAudit).
	ab := tx.Bucket(bucketAudit)
	lastK, lastV := ab.Cursor().Last()
	raw := m.Get(metaAuditHead)
	if raw == nil {
		if lastK != nil {
			return damaged(bucketMeta, metaAuditHead, "missing, but the audit log has entries")
		}
		return nil
	}
	h, err := decodeAuditHead(raw)
	if err != nil {
		return damaged(bucketMeta, metaAuditHead, "%v", err)
	}
	if h.MAC != h.mac(keys) {
		return damaged(bucketMeta, metaAuditHead, "seal does not verify: the audit chain was rewritten without the key")
	}
	if len(lastK) != 8 || uint64FromKey(lastK) != h.Seq {
		return damaged(bucketAudit, lastK, "last entry is not the sealed head's entry %d", h.Seq)
	}
	a, err := decodeAudit(lastV)
	if err != nil {
		return damaged(bucketAudit, lastK, "%v", err)
	}
	if a.Seq != h.Seq || a.Hash != h.Hash || a.computeHash() != a.Hash {
		return damaged(bucketAudit, lastK, "last entry differs from the sealed audit head")
	}
	n.AuditEntries = h.Seq
	return nil
}

// verifyWholeAudit decodes and links every audit entry (the cost that
// docs/store.md measures; Open does not do it). With entryBreaksOK,
// entries that do not verify are collected in n, not refused; a problem
// with the sealed head still is: a store whose head does not verify
// cannot record anything.
func verifyWholeAudit(tx *bolt.Tx, keys deviceKeys, entryBreaksOK bool, n *verifyCounts) error {
	w := walkChain(tx, keys, !entryBreaksOK)
	switch {
	case w.report.OK():
		return nil
	case !entryBreaksOK:
		return fmt.Errorf("%w at entry %d: %s", ErrAuditBroken, w.report.FirstBad, w.report.Problem)
	case w.head != "":
		return fmt.Errorf("%w: sealed head: %s", ErrAuditBroken, w.head)
	}
	n.AuditBreaks, n.AuditBreaksMore = w.breaks, w.more
	return nil
}

func verifySettings(tx *bolt.Tx, _ KEK, keys deviceKeys, n *verifyCounts) error {
	g := newGCM(keys.secret)
	return tx.Bucket(bucketSettings).ForEach(func(k, v []byte) error {
		n.Settings++
		if !validSettingKey(string(k)) {
			return damaged(bucketSettings, k, "not a valid setting name")
		}
		if len(v) > maxSettingVal {
			return damaged(bucketSettings, k, "value of %d bytes", len(v))
		}
		if string(k) == rotationPendingSetting && (len(v) > 64 || !strings.HasPrefix(string(v), "kek:")) {
			return damaged(bucketSettings, k, "not a key fingerprint")
		}
		if name, ok := strings.CutPrefix(string(k), secretPrefix); ok {
			if len(v) < 1+nonceSize+tagSize || v[0] != 1 {
				return damaged(bucketSettings, k, "sealed secret record of %d bytes", len(v))
			}
			plain, err := g.Open(nil, v[1:1+nonceSize], v[1+nonceSize:], secretAD(name))
			clear(plain)
			if err != nil {
				return fmt.Errorf("%w: bucket settings, key %s: %w", ErrCorrupt, printableKey(k), ErrTampered)
			}
		}
		return nil
	})
}

func verifyResidents(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	return tx.Bucket(bucketResidents).ForEach(func(k, v []byte) error {
		n.Residents++
		if checkID("resident ID", string(k)) != nil {
			return damaged(bucketResidents, k, "not a resident ID")
		}
		r, err := decodeResident(v)
		if err != nil {
			return damaged(bucketResidents, k, "%v", err)
		}
		if r.ID != string(k) {
			return damaged(bucketResidents, k, "record is of resident %s", r.ID)
		}
		return nil
	})
}

func verifyCards(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	rb := tx.Bucket(bucketResidents)
	return tx.Bucket(bucketCards).ForEach(func(k, v []byte) error {
		n.Cards++
		if len(k) != 32 {
			return damaged(bucketCards, k, "card key of %d bytes, want 32", len(k))
		}
		c, err := decodeCard(v)
		if err != nil {
			return damaged(bucketCards, k, "%v", err)
		}
		if rb.Get([]byte(c.ResidentID)) == nil {
			return damaged(bucketCards, k, "card of resident %s, who is not in the store", c.ResidentID)
		}
		return nil
	})
}

func verifyPINs(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	rb := tx.Bucket(bucketResidents)
	return tx.Bucket(bucketPINs).ForEach(func(k, v []byte) error {
		n.PINs++
		if rb.Get(k) == nil {
			return damaged(bucketPINs, k, "PIN of a resident who is not in the store")
		}
		if _, err := decodePIN(v); err != nil {
			return damaged(bucketPINs, k, "%v", err)
		}
		return nil
	})
}

func verifyConsents(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	return tx.Bucket(bucketConsents).ForEach(func(k, v []byte) error {
		n.Consents++
		res, id, ok := splitKey(k)
		if !ok {
			return damaged(bucketConsents, k, "key is not resident/consent")
		}
		c, err := decodeConsent(v)
		if err != nil {
			return damaged(bucketConsents, k, "%v", err)
		}
		if c.ID != string(id) || c.ResidentID != string(res) {
			return damaged(bucketConsents, k, "record is consent %s of %s", c.ID, c.ResidentID)
		}
		return nil
	})
}

func verifyDeletions(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	return tx.Bucket(bucketDeletions).ForEach(func(k, v []byte) error {
		n.Deletions++
		if len(k) != 8 {
			return damaged(bucketDeletions, k, "key of %d bytes, want 8", len(k))
		}
		if _, err := decodeDeletion(v); err != nil {
			return damaged(bucketDeletions, k, "%v", err)
		}
		return nil
	})
}

// verifyDataKeysAndTemplates checks that data keys and templates come
// together (a resident has a data key exactly while it has 1 to 16
// templates) and decrypts every template with its unwrapped data key, on
// every CPU, as the gallery load does.
func verifyDataKeysAndTemplates(tx *bolt.Tx, kek KEK, _ deviceKeys, n *verifyCounts) error {
	rb := tx.Bucket(bucketResidents)
	dk := tx.Bucket(bucketDataKeys)
	err := dk.ForEach(func(k, v []byte) error {
		n.DataKeys++
		if rb.Get(k) == nil {
			return damaged(bucketDataKeys, k, "data key of a resident who is not in the store")
		}
		if _, err := decodeWrapped(v); err != nil {
			return damaged(bucketDataKeys, k, "%v", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var (
		cur     string
		count   int
		withKey int
	)
	done := func() error {
		if cur != "" && count > maxTemplates {
			return damaged(bucketTemplates, []byte(cur), "%d templates, at most %d", count, maxTemplates)
		}
		return nil
	}
	err = forEachTemplate(tx, kek, "", runtime.GOMAXPROCS(0), false, func(t Template) error {
		n.Templates++
		if t.ResidentID != cur {
			if err := done(); err != nil {
				return err
			}
			cur, count = t.ResidentID, 0
			withKey++
		}
		count++
		return nil
	})
	if err == nil {
		err = done()
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: bucket templates: %w", ErrCorrupt, err)
	}
	// Every template found its data key; a data key without templates is
	// left over from a half-done change.
	if withKey != n.DataKeys {
		var orphan []byte
		c := tx.Bucket(bucketTemplates).Cursor()
		dk.ForEach(func(k, _ []byte) error {
			if orphan == nil {
				if tk, _ := c.Seek(append(bytes.Clone(k), '/')); tk == nil || !bytes.HasPrefix(tk, append(bytes.Clone(k), '/')) {
					orphan = bytes.Clone(k)
				}
			}
			return nil
		})
		return damaged(bucketDataKeys, orphan, "data key without templates (%d data keys, %d residents with templates)", n.DataKeys, withKey)
	}
	return nil
}

func verifyFailures(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	b := tx.Bucket(bucketFailures)
	err := b.ForEach(func(k, v []byte) error {
		n.Failures++
		if len(k) != 32 {
			return damaged(bucketFailures, k, "key of %d bytes, want 32", len(k))
		}
		if _, err := decodeFailures(v); err != nil {
			return damaged(bucketFailures, k, "%v", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n.Failures > maxFailureEntries || b.Sequence() != uint64(n.Failures) {
		return damaged(bucketFailures, nil, "%d entries, count says %d (limit %d)", n.Failures, b.Sequence(), maxFailureEntries)
	}
	return nil
}

func verifyPending(tx *bolt.Tx, _ KEK, _ deviceKeys, n *verifyCounts) error {
	receipts := map[string]bool{}
	tx.Bucket(bucketDeletions).ForEach(func(_, v []byte) error {
		if d, err := decodeDeletion(v); err == nil {
			receipts[d.ReceiptID] = true
		}
		return nil
	})
	return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
		n.Pending++
		p, err := decodePending(v)
		if err != nil {
			return damaged(bucketPending, k, "%v", err)
		}
		if p.ReceiptID != string(k) {
			return damaged(bucketPending, k, "record is of receipt %s", p.ReceiptID)
		}
		if !receipts[p.ReceiptID] {
			return damaged(bucketPending, k, "no deletion record with this receipt")
		}
		return nil
	})
}

// deepCheck verifies a candidate store file completely, read-only: what
// Open verifies, and the whole audit chain.
func deepCheck(path string, kek KEK, current uint32, timeout time.Duration) error {
	_, _, err := verifyFile(path, kek, current, Options{LockTimeout: timeout, verifyAllAudit: true}.withDefaults(), false)
	return err
}

// auditDamage is what deepCheckCopy found wrong with a copy's audit chain:
// entries that do not verify, and whether there were more than it lists.
type auditDamage struct {
	breaks []AuditBreak
	more   bool
}

// err describes the damage, nil when there is none.
func (d auditDamage) err() *AuditDamageError {
	if len(d.breaks) == 0 {
		return nil
	}
	return &AuditDamageError{First: d.breaks[0], Count: len(d.breaks), More: d.more}
}

// deepCheckCopy is deepCheck for a copy of a store (a backup taken, staged
// or restored, a backup scrubbed): everything is verified as deepCheck
// does, except that entries of the audit chain that do not verify are
// returned rather than refused, for the caller to judge. A chain whose
// sealed head does not verify is still refused.
func deepCheckCopy(path string, kek KEK, current uint32, timeout time.Duration) (auditDamage, error) {
	v, _, err := verifyFile(path, kek, current, Options{LockTimeout: timeout, verifyAllAudit: true, auditEntryBreaksOK: true}.withDefaults(), false)
	return auditDamage{v.counts.AuditBreaks, v.counts.AuditBreaksMore}, err
}

// sameMeta reports whether the file at path still has the meta page m
// (nothing committed since it was verified).
func sameMeta(path string, m pageMeta) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	w := &pageWalker{r: f, size: fi.Size()}
	got, err := w.pickMeta()
	return err == nil && got.txid == m.txid && got.checksum == m.checksum
}
