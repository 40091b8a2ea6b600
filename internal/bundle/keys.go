package bundle

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a public key: Ed25519 then X25519.
const KeySize = ed25519.PublicKeySize + 32

// identitySize is the length of a marshalled Identity: the Ed25519 seed and
// the X25519 private key.
const identitySize = ed25519.SeedSize + 32

// ErrBadKey is returned for a public key or identity that does not parse.
var ErrBadKey = errors.New("bundle: bad key")

// Identity is a party's private keys: it signs what it sends and opens
// what is sealed to it.
type Identity struct {
	sign ed25519.PrivateKey
	box  *ecdh.PrivateKey
}

// PublicKey is what a party shows others: the Ed25519 key its bundles are
// signed with and the X25519 key bundles for it are sealed to.
type PublicKey [KeySize]byte

// NewIdentity makes fresh random keys.
func NewIdentity() (Identity, error) {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("bundle: new identity: %w", err)
	}
	box, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("bundle: new identity: %w", err)
	}
	return Identity{sign: sign, box: box}, nil
}

// Marshal returns the private keys as bytes for the caller to store sealed
// (the store wraps them with its key-encryption key). Clear the result
// after use.
func (id Identity) Marshal() []byte {
	out := make([]byte, 0, identitySize)
	out = append(out, id.sign.Seed()...)
	return append(out, id.box.Bytes()...)
}

// UnmarshalIdentity reads what Marshal wrote.
func UnmarshalIdentity(b []byte) (Identity, error) {
	if len(b) != identitySize {
		return Identity{}, fmt.Errorf("%w: identity is %d bytes, want %d", ErrBadKey, len(b), identitySize)
	}
	box, err := ecdh.X25519().NewPrivateKey(b[ed25519.SeedSize:])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return Identity{sign: ed25519.NewKeyFromSeed(b[:ed25519.SeedSize]), box: box}, nil
}

// Valid reports whether id holds keys (the zero Identity does not).
func (id Identity) Valid() bool { return id.sign != nil && id.box != nil }

// Public returns id's public key.
func (id Identity) Public() PublicKey {
	var p PublicKey
	copy(p[:ed25519.PublicKeySize], id.sign.Public().(ed25519.PublicKey))
	copy(p[ed25519.PublicKeySize:], id.box.PublicKey().Bytes())
	return p
}

func (p PublicKey) signKey() ed25519.PublicKey { return ed25519.PublicKey(p[:ed25519.PublicKeySize]) }

func (p PublicKey) boxKey() (*ecdh.PublicKey, error) {
	k, err := ecdh.X25519().NewPublicKey(p[ed25519.PublicKeySize:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return k, nil
}

// IsZero reports whether p is the zero key.
func (p PublicKey) IsZero() bool { return p == PublicKey{} }

// keyPrefix starts a public key's text form.
const keyPrefix = "gated1-"

// String returns the key as "gated1-" and unpadded base64url of the key
// and a 4-byte SHA-256 checksum, so a key mistyped or cut when copied
// between machines is refused rather than trusted.
func (p PublicKey) String() string {
	sum := sha256.Sum256(p[:])
	return keyPrefix + base64.RawURLEncoding.EncodeToString(append(p[:], sum[:4]...))
}

// Fingerprint is a short form for people to compare by eye: the first 8
// bytes of the key's SHA-256, hex in groups of four.
func (p PublicKey) Fingerprint() string {
	sum := sha256.Sum256(p[:])
	const hexd = "0123456789abcdef"
	var b strings.Builder
	for i, c := range sum[:8] {
		if i > 0 && i%2 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// ParsePublicKey reads what String wrote.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), keyPrefix)
	if !ok {
		return p, fmt.Errorf("%w: a key starts with %q", ErrBadKey, keyPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) != KeySize+4 {
		return p, fmt.Errorf("%w: not a gated public key (cut or mistyped?)", ErrBadKey)
	}
	copy(p[:], raw[:KeySize])
	sum := sha256.Sum256(p[:])
	if !bytes.Equal(sum[:4], raw[KeySize:]) {
		return PublicKey{}, fmt.Errorf("%w: checksum does not match (mistyped?)", ErrBadKey)
	}
	if _, err := p.boxKey(); err != nil {
		return PublicKey{}, err
	}
	return p, nil
}
