package bundle

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// SecretSize is the length of the compound secret.
const SecretSize = 32

// Secret is the compound secret: random, made by the office, held by the
// office and every gate (it travels inside each records bundle, sealed to
// the gate). Card tokens, PIN and visitor-code peppers derive from it, so
// neither a card number nor a PIN appears in a bundle even after
// decryption.
type Secret [SecretSize]byte

// NewSecret makes a random compound secret.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("bundle: new secret: %w", err)
	}
	return s, nil
}

func (s Secret) derive(label string) []byte {
	m := hmac.New(sha256.New, s[:])
	m.Write([]byte("gated/compound/v1 " + label))
	return m.Sum(nil)
}

// CardToken is the card number's token: HMAC-SHA-256 under a key derived
// from the secret. A gate computes it from a swiped number and looks it
// up; without the secret a token reveals nothing and cannot be cloned
// onto a card.
func (s Secret) CardToken(number string) []byte {
	m := hmac.New(sha256.New, s.derive("card"))
	m.Write([]byte(number))
	return m.Sum(nil)
}

// PINPepper is the key a PIN is peppered with before argon2id (the gate's
// own PINs use its device secret the same way).
func (s Secret) PINPepper() []byte { return s.derive("pin") }

// CodePepper and CodeHintKey peppers and indexes visitor codes.
func (s Secret) CodePepper() []byte { return s.derive("visitor-code") }

// CodeHintKey keys the 2-byte hint that narrows a typed code to a few
// passes before argon2id runs.
func (s Secret) CodeHintKey() []byte { return s.derive("visitor-hint") }

// MarshalText writes the secret as base64 (inside the sealed payload).
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(base64.StdEncoding.EncodeToString(s[:])), nil
}

// UnmarshalText reads what MarshalText wrote.
func (s *Secret) UnmarshalText(b []byte) error {
	raw, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(raw) != SecretSize {
		return fmt.Errorf("%w: compound secret is not %d bytes of base64", ErrPayload, SecretSize)
	}
	copy(s[:], raw)
	clear(raw)
	return nil
}
