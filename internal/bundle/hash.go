package bundle

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// PepperedHash is how gated hashes a PIN or a visitor code, at a gate
// (with its device secret's pepper) and at the office (with the compound
// secret's): HMAC-SHA-256 of the secret under the pepper, stretched with
// argon2id. Without the pepper a copied hash does not allow an offline
// guess of even a 4-digit PIN. It is the one construction both sides
// share, so a gate checks an office PIN as it checks its own.
func PepperedHash(pepper []byte, secret string, salt []byte, time, memoryKiB uint32, threads uint8, n uint32) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	peppered := m.Sum(nil)
	defer clear(peppered)
	return argon2.IDKey(peppered, salt, time, memoryKiB, threads, n)
}

// NewHash hashes secret with a fresh 16-byte salt into a 32-byte sum.
func NewHash(pepper []byte, secret string, time, memoryKiB uint32, threads uint8) (Hash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Hash{}, fmt.Errorf("bundle: hash: %w", err)
	}
	h := Hash{Time: time, MemoryKiB: memoryKiB, Threads: threads, Salt: salt, Sum: make([]byte, 32)}
	if err := h.Check(); err != nil { // the parameters, before they cost anything
		return Hash{}, err
	}
	h.Sum = PepperedHash(pepper, secret, salt, time, memoryKiB, threads, 32)
	return h, nil
}

// Matches reports, in constant time, whether secret hashes to h. h must
// have passed Check (its parameters bound the work).
func (h Hash) Matches(pepper []byte, secret string) bool {
	got := PepperedHash(pepper, secret, h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Sum)))
	return len(h.Sum) > 0 && subtle.ConstantTimeCompare(got, h.Sum) == 1
}

// CodeHint is the 2-byte keyed hint of a visitor code: it narrows a typed
// code to the few passes whose hash is worth checking.
func CodeHint(key []byte, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(code))
	return m.Sum(nil)[:2]
}
