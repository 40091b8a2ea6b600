package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// The compound (schema 4). A gate that joined a compound holds, besides
// its own records, the records its property office publishes in signed
// bundles (internal/bundle): residents (in the residents bucket, so face
// enrollment, the kiosk and the gate treat them as any resident, with
// their IDs listed in office-residents), cards by token, PIN hashes
// peppered with the compound secret, and visitor passes. They are
// read-only here: every local change to them fails with ErrManaged. The
// gate's bundle identity and the compound secret are sealed under a key
// derived from the device secret (like SetSecret), so a key rotation,
// which re-wraps the device secret, carries them along unchanged.

var (
	bucketCompound     = []byte("compound")         // membership, sealed identity and secret, sequence numbers
	bucketOfficeRes    = []byte("office-residents") // resident ID → office record (its PIN hash)
	bucketOfficeCards  = []byte("office-cards")     // card token → card record
	bucketOfficePasses = []byte("office-passes")    // pass ID → pass record (uses counted here)
	bucketErasures     = []byte("erasures")         // erasure ID → erasure record (orders done, opt-outs asked here)
)

// Keys in the compound bucket.
var (
	compMember    = []byte("member")
	compIdentity  = []byte("identity")
	compSecret    = []byte("secret")
	compApplied   = []byte("applied")
	compEventSeq  = []byte("event-seq")
	compAckAudit  = []byte("acked-audit")
	compAckEvents = []byte("acked-events")
	compSchedule  = []byte("schedule") // JSON {profiles, groups}
	compImports   = []byte("imports")  // JSON []importNote
)

// Labels binding the sealed compound values to their place.
const (
	labelCompoundIdentity = "gated/store/compound-identity/v1"
	labelCompoundSecret   = "gated/store/compound-secret/v1"
)

// ErrManaged: the record is the property office's; change it there.
var ErrManaged = errors.New("managed by the property office")

// ErrNotMember: this gate has not joined a compound.
var ErrNotMember = errors.New("store: this gate is not in a compound (gated compound join)")

// ErrImport wraps every reason a records bundle is refused.
var ErrImport = errors.New("records bundle refused")

// migrateV4 adds the compound's buckets.
func migrateV4(tx *bolt.Tx, _ *migrateEnv) error {
	for _, name := range [][]byte{bucketCompound, bucketOfficeRes, bucketOfficeCards, bucketOfficePasses, bucketErasures} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Compound is this gate's membership as staff see it.
type Compound struct {
	Name     string           // the compound
	Gate     string           // this gate's name at the office
	Office   bundle.PublicKey // the only key records bundles are accepted from
	Public   bundle.PublicKey // this gate's key, for `gated office gate add`
	JoinedAt time.Time
	Applied  uint64 // the newest records bundle applied (0: none)
	EventSeq uint64 // the newest event bundle made
	// AckedAudit is the last audit entry the office holds.
	AckedAudit uint64
	Residents  int // office-managed residents
	Cards      int
	Passes     int
	Profiles   bundle.Profiles
	Groups     map[string]string
}

type member struct {
	Name, Gate     string
	Office, Public bundle.PublicKey
	JoinedAt       time.Time
}

func encodeMember(m member) []byte {
	var e encoder
	e.u8(1)
	e.str(m.Name)
	e.str(m.Gate)
	e.bytes(m.Office[:])
	e.bytes(m.Public[:])
	e.time(m.JoinedAt)
	return e.b
}

func decodeMember(b []byte) (member, error) {
	d := decoder{b: b}
	d.version(1, "compound member")
	m := member{Name: d.str(maxIDLen), Gate: d.str(maxIDLen)}
	o, p := d.bytes(bundle.KeySize), d.bytes(bundle.KeySize)
	m.JoinedAt = d.time()
	if d.err == nil && (len(o) != bundle.KeySize || len(p) != bundle.KeySize) {
		d.fail("compound member: key length")
	}
	copy(m.Office[:], o)
	copy(m.Public[:], p)
	return m, d.finish()
}

// seal and unseal protect a compound value under the device keys.
func (k deviceKeys) seal(label string, v []byte) []byte {
	nonce := randomBytes(nonceSize)
	return append(append([]byte{1}, nonce...), newGCM(k.secret).Seal(nil, nonce, v, secretAD(label))...)
}

func (k deviceKeys) unseal(label string, raw []byte) ([]byte, error) {
	if len(raw) < 1+nonceSize+tagSize || raw[0] != 1 {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, label)
	}
	v, err := newGCM(k.secret).Open(nil, raw[1:1+nonceSize], raw[1+nonceSize:], secretAD(label))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrTampered, label)
	}
	return v, nil
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return uint64FromKey(v)
	}
	return 0
}

func getMember(tx *bolt.Tx) (member, error) {
	b := tx.Bucket(bucketCompound)
	if b == nil {
		return member{}, ErrNotMember
	}
	v := b.Get(compMember)
	if v == nil {
		return member{}, ErrNotMember
	}
	m, err := decodeMember(v)
	if err != nil {
		return member{}, fmt.Errorf("%w: compound member: %w", ErrCorrupt, err)
	}
	return m, nil
}

// JoinCompound makes this gate a member of compound name under the gate
// name gate, pinning the office's key, and makes the gate's own bundle
// identity (sealed in the store). It returns the membership, whose Public
// key the office adds. A gate joins once: joining again is ErrInvalid.
func (db *DB) JoinCompound(actor, name, gate string, office bundle.PublicKey) (Compound, error) {
	if err := errors.Join(bundle.CheckName("compound", name), bundle.CheckName("gate", gate)); err != nil {
		return Compound{}, fmt.Errorf("store: join compound: %w: %w", ErrInvalid, err)
	}
	if office.IsZero() {
		return Compound{}, fmt.Errorf("store: join compound: %w: no office key", ErrInvalid)
	}
	now, err := db.now()
	if err != nil {
		return Compound{}, fmt.Errorf("store: join compound: %w", err)
	}
	id, err := bundle.NewIdentity()
	if err != nil {
		return Compound{}, fmt.Errorf("store: join compound: %w", err)
	}
	raw := id.Marshal()
	defer clear(raw)
	m := member{Name: name, Gate: gate, Office: office, Public: id.Public(), JoinedAt: now}
	err = db.update(func(tx *bolt.Tx) error {
		if old, err := getMember(tx); err == nil {
			return fmt.Errorf("%w: this gate is already gate %s of compound %s", ErrInvalid, old.Gate, old.Name)
		}
		b := tx.Bucket(bucketCompound)
		if err := b.Put(compMember, encodeMember(m)); err != nil {
			return err
		}
		if err := b.Put(compIdentity, db.keys.seal(labelCompoundIdentity, raw)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: "compound:" + name, Outcome: "ok",
			Detail: Detail(fmt.Sprintf("joined as gate %s; office key %s; gate key %s", gate, office.Fingerprint(), m.Public.Fingerprint()))})
	})
	if err != nil {
		return Compound{}, fmt.Errorf("store: join compound: %w", err)
	}
	return db.Compound()
}

// Compound returns this gate's membership, or ErrNotMember.
func (db *DB) Compound() (Compound, error) {
	var c Compound
	err := db.view(func(tx *bolt.Tx) error {
		m, err := getMember(tx)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketCompound)
		c = Compound{Name: m.Name, Gate: m.Gate, Office: m.Office, Public: m.Public, JoinedAt: m.JoinedAt,
			Applied: getU64(b, compApplied), EventSeq: getU64(b, compEventSeq), AckedAudit: getU64(b, compAckAudit),
			Residents: tx.Bucket(bucketOfficeRes).Stats().KeyN, Cards: tx.Bucket(bucketOfficeCards).Stats().KeyN,
			Passes: tx.Bucket(bucketOfficePasses).Stats().KeyN}
		c.Profiles, c.Groups, err = readSchedule(b)
		return err
	})
	if err != nil {
		return Compound{}, fmt.Errorf("store: compound: %w", err)
	}
	return c, nil
}

// CompoundIdentity returns this gate's bundle identity, or ErrNotMember.
func (db *DB) CompoundIdentity() (bundle.Identity, error) {
	var id bundle.Identity
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getMember(tx); err != nil {
			return err
		}
		raw, err := db.keys.unseal(labelCompoundIdentity, tx.Bucket(bucketCompound).Get(compIdentity))
		if err != nil {
			return err
		}
		defer clear(raw)
		id, err = bundle.UnmarshalIdentity(raw)
		return err
	})
	if err != nil {
		return bundle.Identity{}, fmt.Errorf("store: compound identity: %w", err)
	}
	return id, nil
}

type scheduleJSON struct {
	Profiles bundle.Profiles   `json:"profiles,omitempty"`
	Groups   map[string]string `json:"groups,omitempty"`
}

func readSchedule(b *bolt.Bucket) (bundle.Profiles, map[string]string, error) {
	v := b.Get(compSchedule)
	if v == nil {
		return nil, nil, nil
	}
	var s scheduleJSON
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, nil, fmt.Errorf("%w: compound schedule: %v", ErrCorrupt, err)
	}
	return s.Profiles, s.Groups, nil
}

// compoundSecret returns the compound secret, ok false before the first
// import (or outside a compound).
func compoundSecret(tx *bolt.Tx, keys deviceKeys) (bundle.Secret, bool, error) {
	b := tx.Bucket(bucketCompound)
	if b == nil {
		return bundle.Secret{}, false, nil
	}
	raw := b.Get(compSecret)
	if raw == nil {
		return bundle.Secret{}, false, nil
	}
	v, err := keys.unseal(labelCompoundSecret, raw)
	if err != nil {
		return bundle.Secret{}, false, err
	}
	defer clear(v)
	var s bundle.Secret
	if len(v) != len(s) {
		return s, false, fmt.Errorf("%w: compound secret length", ErrCorrupt)
	}
	copy(s[:], v)
	return s, true, nil
}

// managedTx refuses a local change to an office-managed resident.
func managedTx(tx *bolt.Tx, residentID string) error {
	if b := tx.Bucket(bucketOfficeRes); b != nil && b.Get([]byte(residentID)) != nil {
		return fmt.Errorf("resident %s: %w", residentID, ErrManaged)
	}
	return nil
}

// Managed reports whether the resident is the property office's.
func (db *DB) Managed(residentID string) (bool, error) {
	var ok bool
	err := db.view(func(tx *bolt.Tx) error {
		ok = managedTx(tx, residentID) != nil
		return nil
	})
	return ok, err
}

// officeResident is what the office-residents bucket holds: the PIN hash,
// if the office set one.
type officeResident struct {
	PIN *pinRecord
}

func encodeOfficeResident(o officeResident) []byte {
	var e encoder
	e.u8(1)
	e.bool(o.PIN != nil)
	if o.PIN != nil {
		e.bytes(encodePIN(*o.PIN))
	}
	return e.b
}

func decodeOfficeResident(b []byte) (officeResident, error) {
	d := decoder{b: b}
	d.version(1, "office resident")
	var o officeResident
	if d.bool() {
		raw := d.bytes(256)
		if d.err == nil {
			p, err := decodePIN(raw)
			if err != nil {
				d.fail("office PIN: %v", err)
			}
			o.PIN = &p
		}
	}
	return o, d.finish()
}

// officePIN returns the office PIN record of residentID and the compound
// pepper; ok false when the resident is not the office's.
func officePIN(tx *bolt.Tx, keys deviceKeys, residentID string) (rec *pinRecord, pepper []byte, ok bool, err error) {
	b := tx.Bucket(bucketOfficeRes)
	if b == nil {
		return nil, nil, false, nil
	}
	v := b.Get([]byte(residentID))
	if v == nil {
		return nil, nil, false, nil
	}
	o, err := decodeOfficeResident(v)
	if err != nil {
		return nil, nil, true, fmt.Errorf("%w: office resident %s: %w", ErrCorrupt, residentID, err)
	}
	if o.PIN == nil {
		return nil, nil, true, nil
	}
	s, have, err := compoundSecret(tx, keys)
	if err != nil || !have {
		return nil, nil, true, err
	}
	return o.PIN, s.PINPepper(), true, nil
}

// officeCard looks a card number up among the office's cards.
func officeCard(tx *bolt.Tx, keys deviceKeys, number string) (cardRecord, bool, error) {
	b := tx.Bucket(bucketOfficeCards)
	if b == nil || b.Stats().KeyN == 0 {
		return cardRecord{}, false, nil
	}
	s, have, err := compoundSecret(tx, keys)
	if err != nil || !have {
		return cardRecord{}, false, err
	}
	tok := s.CardToken(number)
	v := b.Get(tok)
	if v == nil {
		return cardRecord{}, false, nil
	}
	c, err := decodeCard(v)
	if err != nil {
		return cardRecord{}, false, fmt.Errorf("%w: office card %s: %w", ErrCorrupt, cardTag(tok), err)
	}
	return c, true, nil
}

// hashFromBundle turns an office argon2id hash into the store's record.
func hashFromBundle(h bundle.Hash, at time.Time) pinRecord {
	return pinRecord{Params: PINParams{Time: h.Time, MemoryKiB: h.MemoryKiB, Threads: h.Threads},
		Salt: bytes.Clone(h.Salt), Hash: bytes.Clone(h.Sum), SetAt: at}
}

// erasureRecord is an erasure this gate knows: an order it carried out
// (Order), or an opt-out asked here (not Order). Acked: the office holds
// its receipt or the opt-out. SentIn: the first event bundle it went in.
type erasureRecord struct {
	ID, Resident, Origin, Reason string
	Requested, At                time.Time
	Order                        bool
	Templates                    int
	Acked                        bool
}

func encodeErasure(r erasureRecord) []byte {
	var e encoder
	e.u8(1)
	e.str(r.ID)
	e.str(r.Resident)
	e.str(r.Origin)
	e.str(r.Reason)
	e.time(r.Requested)
	e.time(r.At)
	e.bool(r.Order)
	e.u32(uint32(r.Templates))
	e.bool(r.Acked)
	return e.b
}

func decodeErasure(b []byte) (erasureRecord, error) {
	d := decoder{b: b}
	d.version(1, "erasure")
	r := erasureRecord{ID: d.str(maxIDLen), Resident: d.str(maxIDLen), Origin: d.str(maxIDLen), Reason: d.str(maxReasonLen),
		Requested: d.time(), At: d.time(), Order: d.bool(), Templates: int(d.u32()), Acked: d.bool()}
	return r, d.finish()
}

// noteOptOutTx records an opt-out of an office-managed resident asked at
// this gate (already carried out) as an erasure order for the office to
// send to the compound's other gates. A local resident needs none.
func noteOptOutTx(tx *bolt.Tx, residentID, reason string, requested, now time.Time) error {
	if managedTx(tx, residentID) == nil {
		return nil
	}
	// A damaged membership record must not stop a person's face data
	// being destroyed: the order is kept without its origin, which the
	// event bundle fills in once the membership reads again.
	m, err := getMember(tx)
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return err
	}
	b := tx.Bucket(bucketErasures)
	id := "e-" + hex.EncodeToString(randomBytes(6))
	for b.Get([]byte(id)) != nil {
		id = "e-" + hex.EncodeToString(randomBytes(6))
	}
	return b.Put([]byte(id), encodeErasure(erasureRecord{ID: id, Resident: residentID, Origin: m.Gate,
		Reason: bundle.Truncate(reason, 160), Requested: requested, At: now}))
}

// verifyCompound checks the compound's records decode.
func verifyCompound(tx *bolt.Tx, _ KEK, keys deviceKeys, _ *verifyCounts) error {
	if _, err := getMember(tx); err != nil && !errors.Is(err, ErrNotMember) {
		return damaged(bucketCompound, compMember, "%v", err)
	}
	if _, _, err := compoundSecret(tx, keys); err != nil {
		return damaged(bucketCompound, compSecret, "%v", err)
	}
	for _, c := range []struct {
		name []byte
		dec  func([]byte) error
	}{
		{bucketOfficeRes, func(v []byte) error { _, err := decodeOfficeResident(v); return err }},
		{bucketOfficeCards, func(v []byte) error { _, err := decodeCard(v); return err }},
		{bucketOfficePasses, func(v []byte) error { _, err := decodePass(v); return err }},
		{bucketErasures, func(v []byte) error { _, err := decodeErasure(v); return err }},
	} {
		if err := tx.Bucket(c.name).ForEach(func(k, v []byte) error {
			if err := c.dec(v); err != nil {
				return damaged(c.name, k, "%v", err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// officePassCandidates returns the office's passes whose hint matches
// code under the compound hint key, and the code pepper.
func officePassCandidates(tx *bolt.Tx, keys deviceKeys, code string) ([]passRecord, []byte, error) {
	b := tx.Bucket(bucketOfficePasses)
	if b == nil || b.Stats().KeyN == 0 {
		return nil, nil, nil
	}
	s, have, err := compoundSecret(tx, keys)
	if err != nil || !have {
		return nil, nil, err
	}
	m := hmac.New(sha256.New, s.CodeHintKey())
	m.Write([]byte(code))
	hint := m.Sum(nil)[:passHintLen]
	var out []passRecord
	err = b.ForEach(func(_, v []byte) error {
		r, err := decodePass(v)
		if err == nil && hmac.Equal(r.Hint, hint) {
			out = append(out, r)
		}
		return nil
	})
	return out, s.CodePepper(), err
}
