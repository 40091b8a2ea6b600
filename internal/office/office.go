package office

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/store"
)

// DBName is the store's file name inside the office directory.
const DBName = "office.db"

// Errors callers branch on.
var (
	ErrWrongKey = errors.New("office: wrong key: this store was sealed with another key-encryption key")
	ErrLocked   = errors.New("office: the store is in use by another gated office")
	ErrNotFound = errors.New("office: not found")
	ErrInvalid  = errors.New("office: invalid")
	ErrExists   = errors.New("office: already exists")
	ErrTampered = errors.New("office: a sealed value does not open (damaged or moved)")
	ErrNoStore  = errors.New("office: no office store here (run gated office init)")
)

const schemaVersion = 1

var (
	bucketMeta      = []byte("meta")      // clear: schema, verifier
	bucketConf      = []byte("conf")      // identity, secret, compound, counters
	bucketResidents = []byte("residents") // resident ID → Resident
	bucketCards     = []byte("cards")     // token → Card
	bucketPasses    = []byte("passes")    // pass ID → Pass
	bucketProfiles  = []byte("profiles")  // name → []string
	bucketGroups    = []byte("groups")    // name → profile
	bucketGates     = []byte("gates")     // name → Gate
	bucketPubs      = []byte("pubs")      // gate \x00 seq → pub
	bucketChanges   = []byte("changes")   // rev → change
	bucketErasures  = []byte("erasures")  // erasure ID → Erasure
	bucketAudit     = []byte("audit")     // gate \x00 seq → bundle.AuditEntry (collected)
	bucketLog       = []byte("log")       // seq → LogEntry (the office's own log)
	allBuckets      = [][]byte{bucketMeta, bucketConf, bucketResidents, bucketCards, bucketPasses, bucketProfiles,
		bucketGroups, bucketGates, bucketPubs, bucketChanges, bucketErasures, bucketAudit, bucketLog}
)

// PINParams are argon2id parameters for PIN and visitor-code hashes: the
// gate store's.
type PINParams = store.PINParams

// DefaultPINParams are the gate store's: 3 passes, 32 MiB, 1 thread.
func DefaultPINParams() PINParams { return store.DefaultPINParams() }

// Options configure Open and Init. The zero value is usable.
type Options struct {
	Now func() time.Time // nil: time.Now
	PIN PINParams        // zero: DefaultPINParams
	// NoSync skips fsync on commit: for benchmarks and bulk loads in
	// tests only (a crash may lose the last changes).
	NoSync bool
}

// Office is an open office store.
type Office struct {
	db       *bolt.DB
	kek      KEK
	opts     Options
	id       bundle.Identity
	secret   bundle.Secret
	compound string
}

// conf is what the store knows of itself.
type conf struct {
	Compound string        `json:"compound"`
	Identity []byte        `json:"identity"`
	Secret   bundle.Secret `json:"secret"`
	Created  time.Time     `json:"created"`
}

// counters hold the monotonic numbers.
type counters struct {
	Rev        uint64        `json:"rev"`         // last change-log revision
	PrunedRev  uint64        `json:"pruned_rev"`  // change-log entries up to this are gone
	Seq        uint64        `json:"seq"`         // last records-bundle sequence (all gates)
	LogSeq     uint64        `json:"log_seq"`     // last office log entry
	LogHash    bundle.Digest `json:"log_hash"`    // its hash
	LastChange time.Time     `json:"last_change"` // when Rev last moved
}

func (o *Office) now() time.Time {
	if o.opts.Now != nil {
		return o.opts.Now().UTC()
	}
	return time.Now().UTC()
}

func dbPath(dir string) string { return filepath.Join(dir, DBName) }

// Init creates the office store in dir (made 0700 if missing) with fresh
// office keys and compound secret, sealed under kek. It refuses a dir that
// already holds a store.
func Init(dir string, kek KEK, compound string, opts Options) (*Office, error) {
	if err := bundle.CheckName("compound", compound); err != nil {
		return nil, err
	}
	if kek.m == nil {
		return nil, fmt.Errorf("office: init: no key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("office: init: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("office: init: %w", err)
	}
	p := dbPath(dir)
	if _, err := os.Lstat(p); err == nil {
		return nil, fmt.Errorf("%w: %s holds an office store already", ErrExists, p)
	}
	id, err := bundle.NewIdentity()
	if err != nil {
		return nil, err
	}
	secret, err := bundle.NewSecret()
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: time.Second, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("office: init %s: %w", p, err)
	}
	o := &Office{db: db, kek: kek, opts: opts, id: id, secret: secret, compound: compound}
	raw := id.Marshal()
	defer clear(raw)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put([]byte("schema"), []byte{schemaVersion}); err != nil {
			return err
		}
		if err := m.Put([]byte("verifier"), kek.verifier()); err != nil {
			return err
		}
		if err := o.put(tx, bucketConf, []byte("conf"), conf{Compound: compound, Identity: raw, Secret: secret, Created: o.now()}); err != nil {
			return err
		}
		if err := o.put(tx, bucketConf, []byte("counters"), counters{}); err != nil {
			return err
		}
		return o.logTx(tx, "system", "init", compound, "office store created; office key "+id.Public().Fingerprint())
	})
	if err != nil {
		db.Close()
		os.Remove(p)
		return nil, fmt.Errorf("office: init: %w", err)
	}
	return o, nil
}

// Open opens the office store in dir with kek. A wrong key is refused
// (ErrWrongKey) before anything changes.
func Open(dir string, kek KEK, opts Options) (*Office, error) {
	p := dbPath(dir)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoStore, p)
	}
	if kek.m == nil {
		return nil, fmt.Errorf("office: open: no key")
	}
	db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: time.Second, NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, p)
		}
		return nil, fmt.Errorf("office: open %s: %w", p, err)
	}
	o := &Office{db: db, kek: kek, opts: opts}
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("%w: %s is not an office store", ErrNoStore, p)
		}
		if v := m.Get([]byte("schema")); len(v) != 1 || v[0] != schemaVersion {
			return fmt.Errorf("office: %s: schema %v, this gated reads %d", p, v, schemaVersion)
		}
		if !bytesEqualCT(m.Get([]byte("verifier")), kek.verifier()) {
			return fmt.Errorf("%w (key %s)", ErrWrongKey, kek.Fingerprint())
		}
		var c conf
		if ok, err := o.get(tx, bucketConf, []byte("conf"), &c); err != nil || !ok {
			return fmt.Errorf("office: %s: configuration: %w", p, errors.Join(err, ErrTampered))
		}
		defer clear(c.Identity)
		id, err := bundle.UnmarshalIdentity(c.Identity)
		if err != nil {
			return err
		}
		o.id, o.secret, o.compound = id, c.Secret, c.Compound
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return o, nil
}

// Close closes the store.
func (o *Office) Close() error { return o.db.Close() }

// PublicKey is the office's public key: gates pin it.
func (o *Office) PublicKey() bundle.PublicKey { return o.id.Public() }

// Compound is the compound's name.
func (o *Office) Compound() string { return o.compound }

func bytesEqualCT(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && subtleEq(a, b)
}

// ad binds a sealed value to its bucket and key.
func ad(bucket, key []byte) []byte {
	b := make([]byte, 0, 32+len(bucket)+len(key))
	b = append(b, "gated/office/v1\x00"...)
	b = binary.AppendUvarint(b, uint64(len(bucket)))
	b = append(b, bucket...)
	return append(b, key...)
}

func (o *Office) seal(bucket, key, plain []byte) []byte {
	g := o.kek.aead()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append([]byte{1}, nonce...)
	return g.Seal(out, nonce, plain, ad(bucket, key))
}

func (o *Office) open(bucket, key, sealed []byte) ([]byte, error) {
	g := o.kek.aead()
	if len(sealed) < 1+g.NonceSize()+g.Overhead() || sealed[0] != 1 {
		return nil, fmt.Errorf("%w: %s/%x", ErrTampered, bucket, key)
	}
	n := 1 + g.NonceSize()
	plain, err := g.Open(nil, sealed[1:n], sealed[n:], ad(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%x", ErrTampered, bucket, key)
	}
	return plain, nil
}

func (o *Office) put(tx *bolt.Tx, bucket, key []byte, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	defer clear(plain)
	return tx.Bucket(bucket).Put(key, o.seal(bucket, key, plain))
}

func (o *Office) get(tx *bolt.Tx, bucket, key []byte, v any) (bool, error) {
	s := tx.Bucket(bucket).Get(key)
	if s == nil {
		return false, nil
	}
	plain, err := o.open(bucket, key, s)
	if err != nil {
		return false, err
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, v); err != nil {
		return false, fmt.Errorf("%w: %s/%x: %v", ErrTampered, bucket, key, err)
	}
	return true, nil
}

// each decodes every value of bucket whose key starts with prefix, in key
// order, into a fresh T.
func each[T any](o *Office, tx *bolt.Tx, bucket, prefix []byte, fn func(k []byte, v *T) error) error {
	c := tx.Bucket(bucket).Cursor()
	for k, s := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, s = c.Next() {
		plain, err := o.open(bucket, k, s)
		if err != nil {
			return err
		}
		var v T
		err = json.Unmarshal(plain, &v)
		clear(plain)
		if err != nil {
			return fmt.Errorf("%w: %s/%x: %v", ErrTampered, bucket, k, err)
		}
		if err := fn(k, &v); err != nil {
			return err
		}
	}
	return nil
}

func (o *Office) counters(tx *bolt.Tx) (counters, error) {
	var c counters
	ok, err := o.get(tx, bucketConf, []byte("counters"), &c)
	if err == nil && !ok {
		err = fmt.Errorf("%w: counters missing", ErrTampered)
	}
	return c, err
}

func (o *Office) setCounters(tx *bolt.Tx, c counters) error {
	return o.put(tx, bucketConf, []byte("counters"), c)
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func gateKey(gate string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(gate), 0), seq)
}

// LogEntry is one entry of the office's own hash-chained log of changes.
type LogEntry struct {
	Seq     uint64        `json:"seq"`
	Time    time.Time     `json:"time"`
	Actor   string        `json:"actor"`
	Action  string        `json:"action"`
	Subject string        `json:"subject,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	Prev    bundle.Digest `json:"prev"`
	Hash    bundle.Digest `json:"hash"`
}

func (e LogEntry) hash() bundle.Digest {
	var b []byte
	b = append(b, "gated/office/log/v1"...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, s := range []string{e.Actor, e.Action, e.Subject, e.Detail} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, e.Prev[:]...)
	return sha256.Sum256(b)
}

func (o *Office) logTx(tx *bolt.Tx, actor, action, subject, detail string) error {
	c, err := o.counters(tx)
	if err != nil {
		return err
	}
	e := LogEntry{Seq: c.LogSeq + 1, Time: o.now(), Actor: actor, Action: action, Subject: subject, Detail: bundle.Truncate(detail, 300), Prev: c.LogHash}
	e.Hash = e.hash()
	c.LogSeq, c.LogHash = e.Seq, e.Hash
	if err := o.put(tx, bucketLog, be64(e.Seq), e); err != nil {
		return err
	}
	return o.setCounters(tx, c)
}

// Log returns the office log from entry from on.
func (o *Office) Log(from uint64) ([]LogEntry, error) {
	var out []LogEntry
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketLog, nil, func(_ []byte, e *LogEntry) error {
			if e.Seq >= from {
				out = append(out, *e)
			}
			return nil
		})
	})
	return out, err
}

// VerifyLog checks the office log's chain: each entry's hash, each link,
// and that the last is the head the counters hold.
func (o *Office) VerifyLog() (int, error) {
	n := 0
	err := o.db.View(func(tx *bolt.Tx) error {
		c, err := o.counters(tx)
		if err != nil {
			return err
		}
		var prev bundle.Digest
		var seq uint64
		err = each(o, tx, bucketLog, nil, func(_ []byte, e *LogEntry) error {
			if e.Seq != seq+1 || e.Prev != prev || e.hash() != e.Hash {
				return fmt.Errorf("office: log entry %d: broken chain", e.Seq)
			}
			seq, prev = e.Seq, e.Hash
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if seq != c.LogSeq || prev != c.LogHash {
			return fmt.Errorf("office: log ends at %d, the head says %d: cut off", seq, c.LogSeq)
		}
		return nil
	})
	return n, err
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
