package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

const (
	keySize   = 32
	nonceSize = 12
	tagSize   = 16
	// wrappedSize is the length of a wrapped 32-byte key record.
	wrappedSize = 1 + nonceSize + keySize + tagSize
)

// Domain labels for additional data and derived keys. Changing one makes
// every existing record undecryptable: they are part of the file format.
const (
	adDataKey      = "gated/store/dek/v1"
	adDeviceSecret = "gated/store/device-secret/v1"
	adTemplate     = "gated/store/template/v1"
	labelCard      = "gated/store/card/v1"
	labelPIN       = "gated/store/pin/v1"
	labelAuditHead = "gated/store/audit-head/v1"
	labelSecret    = "gated/store/secret/v1"
	labelFailures  = "gated/store/failures/v1"
)

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil { // only for a wrong key length, a programming error
		panic(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported systems (Go 1.24+).
		panic(err)
	}
	return b
}

// wrappedKey is a 32-byte key sealed under the KEK: version 1, nonce, then
// AES-256-GCM ciphertext and tag. The additional data names what the key is
// for (a resident's data key, the device secret), so a wrapped key copied to
// another slot does not unwrap.
type wrappedKey struct {
	Nonce  []byte
	Sealed []byte
}

func encodeWrapped(w wrappedKey) []byte {
	b := make([]byte, 0, wrappedSize)
	b = append(b, 1)
	b = append(b, w.Nonce...)
	return append(b, w.Sealed...)
}

func decodeWrapped(b []byte) (wrappedKey, error) {
	d := decoder{b: b}
	d.version(1, "wrapped key")
	w := wrappedKey{Nonce: d.fixed(nonceSize), Sealed: d.fixed(keySize + tagSize)}
	return w, d.finish()
}

func dataKeyAD(residentID string) []byte {
	var e encoder
	e.str(adDataKey)
	e.str(residentID)
	return e.b
}

func deviceSecretAD() []byte {
	var e encoder
	e.str(adDeviceSecret)
	return e.b
}

func (k KEK) wrap(key, ad []byte) []byte {
	nonce := randomBytes(nonceSize)
	g := newGCM(k.m.wrap[:])
	return encodeWrapped(wrappedKey{Nonce: nonce, Sealed: g.Seal(nil, nonce, key, ad)})
}

func (k KEK) unwrap(rec, ad []byte) ([]byte, error) {
	return unwrapWith(k.aead(), rec, ad)
}

// aead is the cipher that wraps keys under k; callers unwrapping many keys
// make one and reuse it (one goroutine at a time).
func (k KEK) aead() cipher.AEAD { return newGCM(k.m.wrap[:]) }

func unwrapWith(g cipher.AEAD, rec, ad []byte) ([]byte, error) {
	w, err := decodeWrapped(rec)
	if err != nil {
		return nil, err
	}
	key, err := g.Open(nil, w.Nonce, w.Sealed, ad)
	if err != nil {
		return nil, ErrTampered
	}
	return key, nil
}

// deviceKeys are derived from the device secret, a random value stored
// wrapped under the KEK, so rotating the KEK keeps card lookups, PINs and
// the audit head seal working.
type deviceKeys struct {
	card   []byte // HMAC key for card numbers
	pin    []byte // HMAC key peppering PINs before argon2id
	audit  []byte // HMAC key sealing the audit head
	secret []byte // AES-256-GCM key sealing secret settings
	fail   []byte // HMAC key naming lock-out counters
}

func deriveDeviceKeys(secret []byte) deviceKeys {
	d := func(label string) []byte {
		h := hmac.New(sha256.New, secret)
		h.Write([]byte(label))
		return h.Sum(nil)
	}
	return deviceKeys{card: d(labelCard), pin: d(labelPIN), audit: d(labelAuditHead), secret: d(labelSecret), fail: d(labelFailures)}
}

// cardHash is the keyed hash that indexes a card number.
func (k deviceKeys) cardHash(number string) []byte {
	h := hmac.New(sha256.New, k.card)
	h.Write([]byte(number))
	return h.Sum(nil)
}

// Template is one face descriptor of a resident.
type Template struct {
	ID         string // set by the store: "t-" and 12 hex digits
	ResidentID string // set by the store
	Model      string // descriptor model, e.g. "dlib-resnet-v1"
	Vector     []float32
	CreatedAt  time.Time // set by the store
}

// templateHeader is the clear part of a template envelope: version, model,
// creation time. It is authenticated (part of the additional data) but not
// encrypted, so ForEachTemplate can filter by model without decrypting.
func templateHeader(model string, created time.Time) []byte {
	var e encoder
	e.u8(1)
	e.str(model)
	e.time(created)
	return e.b
}

// templateAD binds a sealed template to its resident, its template ID and
// its clear header. A ciphertext moved to another key fails to open.
func templateAD(dst []byte, residentID, templateID string, header []byte) []byte {
	e := encoder{b: dst[:0]}
	e.str(adTemplate)
	e.str(residentID)
	e.str(templateID)
	e.bytes(header)
	return e.b
}

// sealTemplate encrypts t's vector under the resident's data key.
func sealTemplate(g cipher.AEAD, t Template) []byte {
	h := templateHeader(t.Model, t.CreatedAt)
	nonce := randomBytes(nonceSize)
	plain := appendFloats(make([]byte, 0, 4*len(t.Vector)), t.Vector)
	out := make([]byte, 0, len(h)+nonceSize+len(plain)+tagSize)
	out = append(out, h...)
	out = append(out, nonce...)
	out = g.Seal(out, nonce, plain, templateAD(nil, t.ResidentID, t.ID, h))
	clear(plain)
	return out
}

// envelope is a template record split into its parts, still sealed.
type envelope struct {
	Header  []byte // version, model, created
	Model   string
	Created time.Time
	Nonce   []byte
	Sealed  []byte // ciphertext and tag; the vector has (len-16)/4 values
}

// decodeEnvelope splits a stored template record without decrypting it.
// The returned slices alias b.
func decodeEnvelope(b []byte) (envelope, error) {
	d := decoder{b: b}
	d.version(1, "template")
	var env envelope
	env.Model = d.str(maxModelLen)
	env.Created = d.time()
	if d.err != nil {
		return envelope{}, d.err
	}
	env.Header = b[:len(b)-len(d.b)]
	env.Nonce = d.take(nonceSize)
	rest := d.take(len(d.b))
	if d.err != nil {
		return envelope{}, d.err
	}
	n := len(rest) - tagSize
	if n < 4 || n%4 != 0 || n/4 > maxDims {
		return envelope{}, fmt.Errorf("%w: template: sealed vector of %d bytes", errDecode, len(rest))
	}
	env.Sealed = rest
	return env, nil
}

// dims is the vector length the envelope holds.
func (env envelope) dims() int { return (len(env.Sealed) - tagSize) / 4 }

// openTemplate decrypts env into vec (len env.dims()), using scratch for the
// plaintext and additional data; it returns the grown scratch buffers.
func openTemplate(g cipher.AEAD, env envelope, residentID, templateID string, vec []float32, plain, ad []byte) ([]byte, []byte, error) {
	ad = templateAD(ad, residentID, templateID, env.Header)
	plain, err := g.Open(plain[:0], env.Nonce, env.Sealed, ad)
	if err != nil {
		return plain, ad, fmt.Errorf("%w: template %s/%s", ErrTampered, residentID, templateID)
	}
	readFloats(vec, plain)
	clear(plain)
	return plain, ad, nil
}

// checkVector validates a descriptor before it is sealed.
func checkVector(v []float32) error {
	if len(v) == 0 || len(v) > maxDims {
		return fmt.Errorf("%w: vector has %d values, want 1 to %d", ErrInvalid, len(v), maxDims)
	}
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("%w: vector value %d is not finite", ErrInvalid, i)
		}
	}
	return nil
}

// be64 is a big-endian sequence key.
func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func uint64FromKey(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
