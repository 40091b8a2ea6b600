package store

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. The schema is documented in docs/store.md; change both
// together, and only through a migration.
var (
	bucketMeta      = []byte("meta")      // magic, schema version, KEK verifier, wrapped device secret, audit head
	bucketSettings  = []byte("settings")  // name → opaque value
	bucketResidents = []byte("residents") // resident ID → resident record
	bucketDataKeys  = []byte("datakeys")  // resident ID → wrapped data key (only while it has face data)
	bucketTemplates = []byte("templates") // resident ID "/" template ID → sealed template
	bucketCards     = []byte("cards")     // HMAC(card number) → card record
	bucketPINs      = []byte("pins")      // resident ID → PIN hash record
	bucketConsents  = []byte("consents")  // resident ID "/" consent ID → consent record
	bucketDeletions = []byte("deletions") // big-endian seq → deletion record
	bucketAudit     = []byte("audit")     // big-endian seq → audit entry
	// Schema 2.
	bucketFailures = []byte("failures") // HMAC(lock-out key) → failure count; sequence = entry count
	bucketPending  = []byte("pending")  // receipt ID → pending destruction record
)

// Keys in the meta bucket.
var (
	metaMagic          = []byte("magic")
	metaSchema         = []byte("schema")
	metaKEKVerifier    = []byte("kek-verifier")
	metaKEKFingerprint = []byte("kek-fingerprint")
	metaDeviceSecret   = []byte("device-secret")
	metaCreated        = []byte("created")
	metaAuditHead      = []byte("audit-head")
	metaJournalLast    = []byte("journal-last") // schema 2: the last journal imported
)

// magic marks a bbolt file as a gated store.
const magic = "gated-store"

// migration upgrades the schema by one version inside the open transaction.
type migration func(tx *bolt.Tx, env *migrateEnv) error

type migrateEnv struct {
	kek KEK
	now time.Time
}

// defaultMigrations returns the schema history: element i upgrades version i
// to i+1, so the current version is the length of the slice. Never edit a
// released element; append a new one.
func defaultMigrations() []migration {
	return []migration{
		migrateV1,
		migrateV2,
		migrateV3,
		migrateV4, // compound.go
	}
}

// migrateV1 creates a new store: all buckets, the KEK verifier and a fresh
// wrapped device secret.
func migrateV1(tx *bolt.Tx, env *migrateEnv) error {
	for _, name := range [][]byte{bucketMeta, bucketSettings, bucketResidents, bucketDataKeys,
		bucketTemplates, bucketCards, bucketPINs, bucketConsents, bucketDeletions, bucketAudit} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	m := tx.Bucket(bucketMeta)
	secret := randomBytes(keySize)
	defer clear(secret)
	var created encoder
	created.time(env.now)
	for _, kv := range []struct{ k, v []byte }{
		{metaMagic, []byte(magic)},
		{metaKEKVerifier, env.kek.verifier()},
		{metaKEKFingerprint, []byte(env.kek.Fingerprint())},
		{metaDeviceSecret, env.kek.wrap(secret, deviceSecretAD())},
		{metaCreated, created.b},
	} {
		if err := m.Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// migrateV2 adds the lock-out counters and pending destructions.
func migrateV2(tx *bolt.Tx, _ *migrateEnv) error {
	for _, name := range [][]byte{bucketFailures, bucketPending} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion reads the version from meta; a store without one is 0.
func schemaVersion(tx *bolt.Tx) (uint32, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0, nil
	}
	v := m.Get(metaSchema)
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: schema version record is %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}

func putSchemaVersion(tx *bolt.Tx, v uint32) error {
	return tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint32(nil, v))
}

// maxPlausibleSchema bounds the schema numbers a gated could have written:
// one migration per release at most, so a number above it (or 0 in an
// existing file) is a damaged record, not a newer program. The red team's
// one flipped bit turned 2 into 0x01000002.
const maxPlausibleSchema = 1000

// checkStore checks, in any transaction, that tx holds a gated store of a
// version this code knows, sealed with kek. It returns the schema version
// and the unwrapped device secret.
//
// A damaged schema or verifier record is ErrCorrupt, not ErrSchemaTooNew
// or ErrWrongKey, so that the caller falls back to a backup instead of
// asking for another program or another key: a schema number no gated
// wrote (0, or above maxPlausibleSchema), and a verifier that does not
// match although the key is right (the device secret opens with it, or
// the store's fingerprint is the given key's).
func checkStore(tx *bolt.Tx, kek KEK, current uint32) (uint32, []byte, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil || !bytes.Equal(m.Get(metaMagic), []byte(magic)) {
		return 0, nil, fmt.Errorf("%w: a bbolt file without gated's meta bucket", ErrNotStore)
	}
	v, err := schemaVersion(tx)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case v == 0:
		return 0, nil, fmt.Errorf("%w: bucket meta, key schema: version 0, which no gated writes (the record is damaged)", ErrCorrupt)
	case v > maxPlausibleSchema:
		return v, nil, fmt.Errorf("%w: bucket meta, key schema: version %d, which no gated wrote (this one knows %d; the record is damaged)", ErrCorrupt, v, current)
	case v > current:
		return v, nil, fmt.Errorf("%w: file has schema %d, this program knows up to %d (upgrade gated; if no newer gated ever opened this file, the record is damaged: restore a backup)", ErrSchemaTooNew, v, current)
	}
	if !hmac.Equal(m.Get(metaKEKVerifier), kek.verifier()) {
		return v, nil, verifierMismatch(m, kek)
	}
	secret, err := kek.unwrap(m.Get(metaDeviceSecret), deviceSecretAD())
	if err != nil {
		return v, nil, fmt.Errorf("%w: device secret: %w", ErrCorrupt, err)
	}
	return v, secret, nil
}

// verifierMismatch says why the stored KEK verifier does not match kek's:
// a damaged verifier (ErrCorrupt) when the key is evidently right, else a
// wrong key (ErrWrongKey). The key is right when the device secret, sealed
// with AES-GCM under it, opens (a wrong key passes GCM's 128-bit tag with
// probability 2^-128), or when the stored fingerprint is the given key's
// (two keys share a 48-bit fingerprint with probability 2^-48): then the
// verifier, and perhaps the device secret too, is what is damaged.
func verifierMismatch(m *bolt.Bucket, kek KEK) error {
	stored := m.Get(metaKEKVerifier)
	if len(stored) != len(kek.verifier()) {
		return fmt.Errorf("%w: bucket meta, key kek-verifier: %d bytes, want %d (the record is damaged)", ErrCorrupt, len(stored), len(kek.verifier()))
	}
	if secret, err := kek.unwrap(m.Get(metaDeviceSecret), deviceSecretAD()); err == nil {
		clear(secret)
		return fmt.Errorf("%w: bucket meta, key kek-verifier: damaged (the key given, %s, opens the device secret, so it is the right key)", ErrCorrupt, kek.Fingerprint())
	}
	fp := m.Get(metaKEKFingerprint)
	if string(fp) == kek.Fingerprint() {
		return fmt.Errorf("%w: bucket meta, keys kek-verifier and device-secret: damaged (the store names the key given, %s, but neither record matches it)", ErrCorrupt, kek.Fingerprint())
	}
	return fmt.Errorf("%w: store is sealed with %s, key given is %s", ErrWrongKey, printableKey(fp), kek.Fingerprint())
}

// migrate runs migrations from version from up to len(migs) in tx.
func migrate(tx *bolt.Tx, migs []migration, from uint32, env *migrateEnv) error {
	for v := from; v < uint32(len(migs)); v++ {
		if err := migs[v](tx, env); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return putSchemaVersion(tx, uint32(len(migs)))
}
