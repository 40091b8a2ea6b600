package office

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gated-dev/gated/internal/store"
)

// Key-file errors.
var (
	ErrBadKeyFile      = store.ErrBadKeyFile
	ErrInsecureKeyFile = store.ErrInsecureKeyFile
)

// KEK is the office key-encryption key. It is never printed: every verb
// shows its fingerprint only.
type KEK struct{ m *kekMaterial }

type kekMaterial struct {
	seal   [32]byte
	verify [32]byte
	fp     string
}

func newKEK(raw []byte) (KEK, error) {
	if len(raw) != 32 {
		return KEK{}, fmt.Errorf("%w: key is %d bytes, want 32", ErrBadKeyFile, len(raw))
	}
	m := &kekMaterial{}
	derive := func(dst []byte, info string) {
		k, err := hkdf.Key(sha256.New, raw, nil, info, len(dst))
		if err != nil {
			panic(err) // only for absurd lengths
		}
		copy(dst, k)
		clear(k)
	}
	derive(m.seal[:], "gated/office/kek/seal/v1")
	derive(m.verify[:], "gated/office/kek/verify/v1")
	var fp [32]byte
	derive(fp[:], "gated/office/kek/fingerprint/v1")
	m.fp = "kek:" + hex.EncodeToString(fp[:6])
	return KEK{m: m}, nil
}

// Fingerprint names the key without revealing it.
func (k KEK) Fingerprint() string {
	if k.m == nil {
		return "kek:none"
	}
	return k.m.fp
}

// String returns the fingerprint.
func (k KEK) String() string { return k.Fingerprint() }

// Format prints the fingerprint for every verb.
func (k KEK) Format(f fmt.State, _ rune) { io.WriteString(f, k.Fingerprint()) }

func (k KEK) verifier() []byte {
	m := hmac.New(sha256.New, k.m.verify[:])
	m.Write([]byte("gated/office/kek-verifier/v1"))
	return m.Sum(nil)
}

func (k KEK) aead() cipher.AEAD {
	b, err := aes.NewCipher(k.m.seal[:])
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

// LoadKEKFile reads the office key with the gate's rules
// (store.LoadNewKEKFile: a regular file, not a link, FIFO or device, mode
// exactly 0600, owned by the effective user, 64 hex digits or 32 raw
// bytes, not evidently typed text), and derives the office's key from it.
func LoadKEKFile(path string) (KEK, error) {
	k, err := store.LoadNewKEKFile(path)
	if err != nil {
		return KEK{}, fmt.Errorf("office: key file: %w", err)
	}
	return fromStore(k)
}

// GenerateKEKFile creates a new key file at path (0600, its directory
// 0700 if it is made; failing if the file exists) with a random key in
// hex, as gated keygen does.
func GenerateKEKFile(path string) (KEK, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return KEK{}, fmt.Errorf("office: key file: %w", err)
	}
	k, err := store.GenerateKEKFile(path)
	if err != nil {
		return KEK{}, fmt.Errorf("office: key file: %w", err)
	}
	return fromStore(k)
}

// fromStore derives the office's key from the key file's.
func fromStore(k store.KEK) (KEK, error) {
	raw := k.Derive("office/v1")
	defer clear(raw)
	return newKEK(raw)
}
