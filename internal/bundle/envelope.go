package bundle

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Kind says which way a bundle travels.
type Kind uint8

// Bundle kinds.
const (
	KindRecords Kind = 1 // office to gate
	KindEvents  Kind = 2 // gate to office
)

func (k Kind) String() string {
	switch k {
	case KindRecords:
		return "records"
	case KindEvents:
		return "events"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// MaxPayload bounds a payload (64 MiB): a compound of 10,000 residents
// needs a few MiB; the bound keeps a damaged length from allocating more.
const MaxPayload = 64 << 20

const (
	magic     = "GATEDBN1"
	headerLen = 8 + 1 + 8 + 8 + 8 + KeySize + KeySize + 32 + 4
	sigLen    = ed25519.SignatureSize
	tagLen    = 16
	hkdfInfo  = "gated/bundle/v1 payload key"
)

// Errors Open returns; each wraps ErrRefused.
var (
	ErrRefused      = errors.New("bundle refused")
	ErrForm         = fmt.Errorf("%w: not a well-formed gated bundle", ErrRefused)
	ErrWrongSender  = fmt.Errorf("%w: not from the expected sender", ErrRefused)
	ErrBadSignature = fmt.Errorf("%w: signature does not verify", ErrRefused)
	ErrNotForUs     = fmt.Errorf("%w: sealed for another recipient", ErrRefused)
	ErrDecrypt      = fmt.Errorf("%w: payload does not decrypt", ErrRefused)
)

// Header is a bundle's clear, signed header.
type Header struct {
	Kind    Kind
	Seq     uint64 // the sender's sequence number, from 1
	Base    uint64 // records: 0 for a snapshot, else the seq a delta applies to
	Created time.Time
	From    PublicKey
	To      PublicKey
}

// Snapshot reports whether a records bundle replaces everything.
func (h Header) Snapshot() bool { return h.Base == 0 }

func (h Header) check() error {
	switch {
	case h.Kind != KindRecords && h.Kind != KindEvents:
		return fmt.Errorf("%w: unknown kind %d", ErrForm, h.Kind)
	case h.Seq == 0:
		return fmt.Errorf("%w: sequence 0", ErrForm)
	case h.Base >= h.Seq:
		return fmt.Errorf("%w: base %d is not before sequence %d", ErrForm, h.Base, h.Seq)
	case h.Kind == KindEvents && h.Base != 0:
		return fmt.Errorf("%w: an event bundle has no base", ErrForm)
	}
	return nil
}

// Seal encrypts payload to h.To, signs the whole with from, and returns
// the bundle. h.From is set from from; h.Created defaults to now.
func Seal(from Identity, h Header, payload []byte) ([]byte, error) {
	if !from.Valid() {
		return nil, fmt.Errorf("bundle: seal: %w: no identity", ErrBadKey)
	}
	h.From = from.Public()
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("bundle: seal: %w", err)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("bundle: seal: payload is %d bytes, limit %d", len(payload), MaxPayload)
	}
	to, err := h.To.boxKey()
	if err != nil {
		return nil, fmt.Errorf("bundle: seal: recipient: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("bundle: seal: %w", err)
	}
	out := make([]byte, 0, headerLen+len(payload)+tagLen+sigLen)
	out = appendHeader(out, h, eph.PublicKey().Bytes(), uint32(len(payload)+tagLen))
	aead, err := payloadAEAD(eph, to, eph.PublicKey().Bytes(), h.To)
	if err != nil {
		return nil, fmt.Errorf("bundle: seal: %w", err)
	}
	out = aead.Seal(out, make([]byte, aead.NonceSize()), payload, out[:headerLen])
	return append(out, ed25519.Sign(from.sign, out)...), nil
}

func appendHeader(b []byte, h Header, eph []byte, length uint32) []byte {
	b = append(b, magic...)
	b = append(b, byte(h.Kind))
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.Base)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.Unix()))
	b = append(b, h.From[:]...)
	b = append(b, h.To[:]...)
	b = append(b, eph...)
	return binary.BigEndian.AppendUint32(b, length)
}

// payloadAEAD derives the one-message AES-256-GCM key from an X25519
// exchange between priv and pub (the sender's ephemeral key and the
// recipient's, or the other way round), salted with eph || to (the
// ephemeral and the recipient's X25519 public keys).
func payloadAEAD(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, eph []byte, to PublicKey) (cipher.AEAD, error) {
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	salt := append(append(make([]byte, 0, 64), eph...), to[ed25519.PublicKeySize:]...)
	key, err := hkdf.Key(sha256.New, shared, salt, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ParseHeader reads the clear header of a bundle without verifying it:
// for listing and ordering files before Open. Never act on it alone.
func ParseHeader(b []byte) (Header, error) {
	h, _, err := parse(b)
	return h, err
}

func parse(b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < headerLen+tagLen+sigLen {
		return h, nil, fmt.Errorf("%w: %d bytes is too short", ErrForm, len(b))
	}
	if string(b[:8]) != magic {
		return h, nil, fmt.Errorf("%w: wrong magic (not a bundle, or a newer format)", ErrForm)
	}
	p := b[8:]
	h.Kind = Kind(p[0])
	h.Seq = binary.BigEndian.Uint64(p[1:])
	h.Base = binary.BigEndian.Uint64(p[9:])
	created := binary.BigEndian.Uint64(p[17:])
	if created > 1<<40 {
		return h, nil, fmt.Errorf("%w: creation time out of range", ErrForm)
	}
	h.Created = time.Unix(int64(created), 0).UTC()
	copy(h.From[:], p[25:])
	copy(h.To[:], p[25+KeySize:])
	eph := p[25+2*KeySize : 25+2*KeySize+32]
	length := binary.BigEndian.Uint32(p[25+2*KeySize+32:])
	if length < tagLen || length > MaxPayload+tagLen || int(length) != len(b)-headerLen-sigLen {
		return h, nil, fmt.Errorf("%w: length %d does not match the file (%d bytes): truncated or damaged", ErrForm, length, len(b))
	}
	if err := h.check(); err != nil {
		return h, nil, err
	}
	return h, eph, nil
}

// Open verifies a bundle from the expected sender and decrypts it with
// us. Nothing is returned but an error unless every check passes.
func Open(b []byte, from PublicKey, us Identity) (Header, []byte, error) {
	h, eph, err := parse(b)
	if err != nil {
		return Header{}, nil, err
	}
	if subtle.ConstantTimeCompare(h.From[:], from[:]) != 1 {
		return Header{}, nil, fmt.Errorf("%w: signed by %s, expected %s", ErrWrongSender, h.From.Fingerprint(), from.Fingerprint())
	}
	signed := b[:len(b)-sigLen]
	if !ed25519.Verify(from.signKey(), signed, b[len(b)-sigLen:]) {
		return Header{}, nil, ErrBadSignature
	}
	if !us.Valid() {
		return Header{}, nil, fmt.Errorf("bundle: open: %w: no identity", ErrBadKey)
	}
	me := us.Public()
	if subtle.ConstantTimeCompare(h.To[:], me[:]) != 1 {
		return Header{}, nil, fmt.Errorf("%w: for %s, this is %s", ErrNotForUs, h.To.Fingerprint(), me.Fingerprint())
	}
	ephKey, err := ecdh.X25519().NewPublicKey(eph)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%w: ephemeral key: %v", ErrDecrypt, err)
	}
	aead, err := payloadAEAD(us.box, ephKey, eph, h.To)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	payload, err := aead.Open(nil, make([]byte, aead.NonceSize()), signed[headerLen:], signed[:headerLen])
	if err != nil {
		return Header{}, nil, ErrDecrypt
	}
	return h, payload, nil
}
