package office

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Key-file errors.
var (
	ErrBadKeyFile      = errors.New("office: bad key file")
	ErrInsecureKeyFile = errors.New("office: insecure key file")
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

// LoadKEKFile reads the office key: a regular file (not a link, FIFO or
// device), mode exactly 0600, owned by the effective user, holding 64 hex
// digits or 32 raw bytes: the rules of the gate's store.LoadKEKFile.
func LoadKEKFile(path string) (KEK, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return KEK{}, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	if !fi.Mode().IsRegular() {
		return KEK{}, fmt.Errorf("%w: %s is not a regular file (a link, a directory or a device): give the key file itself", ErrInsecureKeyFile, path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return KEK{}, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	defer f.Close()
	ofi, err := f.Stat()
	if err != nil || !os.SameFile(fi, ofi) {
		return KEK{}, fmt.Errorf("%w: %s was replaced while it was opened", ErrBadKeyFile, path)
	}
	if m := ofi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); m != 0o600 {
		return KEK{}, fmt.Errorf("%w: %s has mode %#o, want 0600 (fix: chmod 600 %s)", ErrInsecureKeyFile, path, uint32(m), path)
	}
	if st, ok := ofi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		return KEK{}, fmt.Errorf("%w: %s is not owned by uid %d, the user running gated office (fix: chown)", ErrInsecureKeyFile, path, os.Geteuid())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return KEK{}, fmt.Errorf("%w: %s: %v", ErrBadKeyFile, path, err)
	}
	defer clear(b)
	if len(b) == 32 {
		return newKEK(b)
	}
	t := bytes.TrimSpace(b)
	if len(t) != 64 {
		return KEK{}, fmt.Errorf("%w: %s: want 32 raw bytes or 64 hex digits, got %d bytes", ErrBadKeyFile, path, len(b))
	}
	raw := make([]byte, 32)
	defer clear(raw)
	if _, err := hex.Decode(raw, t); err != nil {
		return KEK{}, fmt.Errorf("%w: %s: not hex", ErrBadKeyFile, path)
	}
	return newKEK(raw)
}

// GenerateKEKFile creates a new key file at path (0600, its directory
// 0700 if it is made; failing if the file exists) with a random key in hex.
func GenerateKEKFile(path string) (KEK, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return KEK{}, fmt.Errorf("office: key directory: %w", err)
	}
	raw := make([]byte, 32)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return KEK{}, err
	}
	text := append(hex.AppendEncode(nil, raw), '\n')
	defer clear(text)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return KEK{}, fmt.Errorf("office: create key file: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return KEK{}, fmt.Errorf("office: write key file %s: %w", path, err)
	}
	return newKEK(raw)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
