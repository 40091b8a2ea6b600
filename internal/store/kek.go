package store

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KEKSize is the length of a key-encryption key in bytes.
const KEKSize = 32

// KEK is the device key-encryption key. It wraps the per-resident data keys
// and the device secret; it is never written to the database and never
// printed: every fmt verb, %#v and slog print only its fingerprint
// ("kek:3f2a9b1c0d4e"). The zero KEK is invalid.
type KEK struct {
	m *kekMaterial // pointer, so printing the struct shows no key bytes
}

type kekMaterial struct {
	wrap   [32]byte // AES-256 key that wraps data keys and the device secret
	verify [32]byte // HMAC key for the verifier stored in meta
	fp     string
}

// NewKEK makes a KEK from 32 secret bytes. It does not judge the bytes:
// the caller must give random ones. Key material from files and
// credentials goes through LoadKEKFile or LoadKEKCredential, which flag
// text and patterned keys (ErrWeakKey), or LoadNewKEKFile, which refuses
// them; use those.
func NewKEK(key []byte) (KEK, error) {
	if len(key) != KEKSize {
		return KEK{}, fmt.Errorf("%w: key is %d bytes, want %d", ErrBadKeyFile, len(key), KEKSize)
	}
	m := &kekMaterial{}
	derive := func(dst []byte, info string) {
		k, err := hkdf.Key(sha256.New, key, nil, info, len(dst))
		if err != nil { // only for absurd lengths
			panic(err)
		}
		copy(dst, k)
		clear(k)
	}
	derive(m.wrap[:], "gated/store/kek/wrap/v1")
	derive(m.verify[:], "gated/store/kek/verify/v1")
	var fp [32]byte
	derive(fp[:], "gated/store/kek/fingerprint/v1")
	m.fp = "kek:" + hex.EncodeToString(fp[:6])
	return KEK{m: m}, nil
}

// GenerateKEK returns a new random KEK.
func GenerateKEK() (KEK, error) {
	var b [KEKSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return KEK{}, fmt.Errorf("store: generate key: %w", err)
	}
	defer clear(b[:])
	return NewKEK(b[:])
}

// Valid reports whether k holds a key.
func (k KEK) Valid() bool { return k.m != nil }

// Fingerprint is a short, non-secret name for the key ("kek:" and 12 hex
// digits), safe to log and to show operators.
func (k KEK) Fingerprint() string {
	if k.m == nil {
		return "kek:none"
	}
	return k.m.fp
}

// String returns the fingerprint, never the key.
func (k KEK) String() string { return k.Fingerprint() }

// GoString returns the fingerprint, never the key.
func (k KEK) GoString() string { return "store.KEK(" + k.Fingerprint() + ")" }

// Format prints the fingerprint for every verb, so no verb (%x, %d, %v...)
// can print the key.
func (k KEK) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.Fingerprint())
}

// LogValue makes slog print the fingerprint only.
func (k KEK) LogValue() slog.Value { return slog.StringValue(k.Fingerprint()) }

// MarshalText returns the fingerprint, so encoders cannot leak the key.
func (k KEK) MarshalText() ([]byte, error) { return []byte(k.Fingerprint()), nil }

// verifier is the value stored in meta to recognise this key: an HMAC of a
// fixed label under a key derived from the KEK. It reveals nothing about the
// key and lets Open tell a wrong key before touching anything.
func (k KEK) verifier() []byte {
	h := hmac.New(sha256.New, k.m.verify[:])
	h.Write([]byte("gated/store/kek-verifier/v1"))
	return h.Sum(nil)
}

// parseKEK reads a key file's contents: 32 raw bytes, or 64 hex digits
// with optional surrounding white space (as written by GenerateKEKFile or
// `openssl rand -hex 32`). Anything else is ErrBadKeyFile, with no key.
// Key material that is evidently not random (checkKeyMaterial) is a key
// all the same, returned with weak saying why: an earlier gated took such
// keys, and stores sealed with them must still open.
func parseKEK(b []byte) (k KEK, weak string, err error) {
	if len(b) == KEKSize {
		k, err = NewKEK(b)
		return k, checkKeyMaterial(b, true), err
	}
	t := bytes.TrimSpace(b)
	if len(t) != 2*KEKSize {
		return KEK{}, "", fmt.Errorf("%w: want 32 raw bytes or 64 hex digits, got %d bytes", ErrBadKeyFile, len(b))
	}
	var raw [KEKSize]byte
	defer clear(raw[:])
	if _, err := hex.Decode(raw[:], t); err != nil {
		return KEK{}, "", fmt.Errorf("%w: not hex: want 32 raw bytes or 64 hex digits", ErrBadKeyFile)
	}
	k, err = NewKEK(raw[:])
	return k, checkKeyMaterial(raw[:], false), err
}

// minKeyDistinct is the fewest different byte values a key may have.
const minKeyDistinct = 16

// checkKeyMaterial says why 32 key bytes are evidently not random, or ""
// when they may be:
//
//   - fewer than minKeyDistinct different byte values (32 NUL bytes,
//     32 × 0x01, "0" × 64 in hex, a short pattern repeated). 32 random
//     bytes have 30.1 different values on average, and fewer than 16 with
//     probability 3.2e-17 (exact: the sum over k < 16 of
//     S(32,k)·256!/(256-k)! / 256^32, S the Stirling numbers of the second
//     kind).
//   - raw bytes (not hex) that are valid UTF-8: a typed passphrase of
//     exactly 32 bytes, in any script ("我的门禁密码是秘密啊ab" is 32
//     bytes), or a truncated hex key. 32 random bytes are valid UTF-8 (by
//     utf8.Valid's rules: no overlong forms, no surrogates, at most
//     U+10FFFF) with probability 1.0e-8 (exact, by dynamic programming
//     over the lengths of valid sequences: 128 of 1 byte, 1920 of 2,
//     61440 of 3, 1048576 of 4), so about one raw key in 100 million that
//     someone made by hand is called weak; gated keygen writes hex, which
//     never is for this.
func checkKeyMaterial(key []byte, raw bool) string {
	var seen [256]bool
	distinct := 0
	for _, c := range key {
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	text := raw && utf8.Valid(key)
	switch {
	case text && printable(key):
		return "it looks like typed text, not a key"
	case distinct < minKeyDistinct:
		return fmt.Sprintf("it has only %d different byte values, a random key about 30: not random key material", distinct)
	case period(key) > 0:
		return fmt.Sprintf("it repeats a pattern of %d bytes: not random key material", period(key))
	case equalSteps(key):
		return "it counts up or down in equal steps: not random key material"
	case text:
		return "its 32 bytes are valid UTF-8 text, not random key material"
	}
	return ""
}

// period returns the length of a pattern of at most half the key that the
// whole key repeats, or 0. A random key repeats one with a chance of 2^-128.
func period(key []byte) int {
	for p := 1; p <= len(key)/2; p++ {
		if bytes.Equal(key[p:], key[:len(key)-p]) {
			return p
		}
	}
	return 0
}

// equalSteps reports whether every byte differs from the one before by
// the same amount (00 01 02 ..., or 20 1e 1c ...).
func equalSteps(key []byte) bool {
	if len(key) < 3 {
		return false
	}
	step := key[1] - key[0]
	for i := 2; i < len(key); i++ {
		if key[i]-key[i-1] != step {
			return false
		}
	}
	return true
}

// WeakKeyError is the error LoadKEKFile and LoadKEKCredential return
// together with a usable key that is weak. It matches ErrWeakKey (not
// ErrBadKeyFile), and says how to rotate; it never advises overwriting the
// key in use, which would lock the store out.
type WeakKeyError struct {
	Source string // the key file's path, or `credential "name"`
	Reason string // why the key is not random key material
	// NewKeyPath is where the advice puts a new key: kek.new beside the
	// key file, or /etc/gated/kek.new for a credential.
	NewKeyPath string
}

func (e *WeakKeyError) Error() string {
	return fmt.Sprintf("%s: %v: %s. The store opens with it, but rotate to a random key while the gate runs: "+
		"gated keygen --out %s && gated keys rotate --new-key %s, then put the new key in place as gated says. "+
		"Do not replace or regenerate %s before the rotation: the store is sealed with it, and without it the store cannot be opened",
		e.Source, ErrWeakKey, e.Reason, e.NewKeyPath, e.NewKeyPath, e.Source)
}

// Is makes errors.Is(err, ErrWeakKey) hold.
func (e *WeakKeyError) Is(target error) bool { return target == ErrWeakKey }

// newKeyPathBeside names a file for the new key next to the key at path.
func newKeyPathBeside(path string) string {
	p := filepath.Join(filepath.Dir(path), "kek.new")
	if filepath.Clean(path) == p {
		p = filepath.Join(filepath.Dir(path), "kek.next")
	}
	return p
}

// printable reports whether the valid UTF-8 b is printable text and white
// space only, as typed.
func printable(b []byte) bool {
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// LoadKEKFile reads the configured KEK from a key file. The file must be a
// regular file (not a symbolic link, FIFO, socket or device: those are
// refused before they are opened, so no path can make the caller wait)
// with mode exactly 0600 owned by the effective user; anything else is
// refused with ErrInsecureKeyFile and an error naming the path and the
// fix. A file that is not a key (wrong length, not hex) is ErrBadKeyFile.
//
// A key that is evidently not random (typed text, under 16 different byte
// values) is returned, usable, together with a *WeakKeyError (ErrWeakKey):
// an earlier gated accepted such keys, and refusing the key a store is
// sealed with would lock the gate out of its own store. The caller opens
// the store with it and raises the alarm; the error says how to rotate.
// For a key about to be put in use (a rotation's new key), use
// LoadNewKEKFile, which refuses weak keys.
func LoadKEKFile(path string) (KEK, error) {
	return loadKEKFile(path, os.Geteuid())
}

// LoadNewKEKFile reads a key about to be put in use, such as the new key
// of a rotation: as LoadKEKFile, but a weak key is refused (ErrBadKeyFile,
// with the fix: make one with gated keygen) and no key returned.
func LoadNewKEKFile(path string) (KEK, error) {
	k, err := loadKEKFile(path, os.Geteuid())
	var weak *WeakKeyError
	if errors.As(err, &weak) {
		return KEK{}, fmt.Errorf("%w: %s: %s: make one with gated keygen (64 hex digits)", ErrBadKeyFile, path, weak.Reason)
	}
	return k, err
}

func loadKEKFile(path string, euid int) (KEK, error) {
	f, fi, err := openKeyFile(path, false)
	if err != nil {
		return KEK{}, err
	}
	defer f.Close()
	if m := fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); m != 0o600 {
		return KEK{}, fmt.Errorf("%w: %s has mode %#o, want 0600 (fix: chmod 600 %s)", ErrInsecureKeyFile, path, uint32(m), path)
	}
	uid, ok := fileOwner(fi)
	if !ok {
		return KEK{}, fmt.Errorf("%w: %s: cannot read the owner on this system", ErrInsecureKeyFile, path)
	}
	if uid != euid {
		return KEK{}, fmt.Errorf("%w: %s is owned by uid %d, want uid %d, the daemon's user (fix: chown %d %s)", ErrInsecureKeyFile, path, uid, euid, euid, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return KEK{}, fmt.Errorf("%w: %s: %v", ErrBadKeyFile, path, err)
	}
	defer clear(b)
	k, weak, err := parseKEK(b)
	if err != nil {
		return KEK{}, fmt.Errorf("%s: %w", path, err)
	}
	if weak != "" {
		return k, &WeakKeyError{Source: path, Reason: weak, NewKeyPath: newKeyPathBeside(path)}
	}
	return k, nil
}

// openKeyFile opens a key file for reading without ever blocking. open(2)
// of a FIFO waits for a writer, and opening a device can act on it (a
// serial port raises its modem lines), so the path is looked at first
// (without following a symbolic link, unless follow) and anything but a
// regular file is refused (ErrInsecureKeyFile) before it is opened. The
// open itself uses O_NONBLOCK and O_NOCTTY (and O_NOFOLLOW unless follow),
// so a file swapped in between cannot block it either, and the opened
// file must be the one looked at.
func openKeyFile(path string, follow bool) (*os.File, os.FileInfo, error) {
	stat, flags := os.Lstat, openKeyFlags|openNoFollow
	if follow {
		stat, flags = os.Stat, openKeyFlags
	}
	fi, err := stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	if err := regularKeyFile(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|flags, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	ofi, err := f.Stat() // fstat of the opened file: no race with a swap
	if err == nil {
		err = regularKeyFile(path, ofi)
	}
	if err == nil && !os.SameFile(fi, ofi) {
		err = fmt.Errorf("%w: %s was replaced while it was opened", ErrBadKeyFile, path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, ofi, nil
}

// regularKeyFile refuses a key path that is not a regular file, saying
// what it is.
func regularKeyFile(path string, fi os.FileInfo) error {
	m := fi.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m&os.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link (fix: give the path of the key file itself)", ErrInsecureKeyFile, path)
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("%w: %s is %s, not a regular file (fix: make one with gated keygen)", ErrInsecureKeyFile, path, what)
}

// LoadKEKCredential reads the KEK from a systemd credential
// ($CREDENTIALS_DIRECTORY/name, set up by LoadCredential= or
// LoadCredentialEncrypted= in the unit). systemd keeps that directory private
// to the service, so its mode is not checked beyond being a regular file
// (ErrInsecureKeyFile otherwise; opened as LoadKEKFile does, so it cannot
// block; a symbolic link is followed). A weak key is returned with a
// *WeakKeyError, as LoadKEKFile does.
func LoadKEKCredential(name string) (KEK, error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return KEK{}, fmt.Errorf("%w: credential %q: $CREDENTIALS_DIRECTORY is not set (fix: add LoadCredential=%s:/path/to/key to the unit)", ErrBadKeyFile, name, name)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return KEK{}, fmt.Errorf("%w: bad credential name %q", ErrBadKeyFile, name)
	}
	f, _, err := openKeyFile(filepath.Join(dir, name), true)
	if err != nil {
		return KEK{}, fmt.Errorf("credential %q: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return KEK{}, fmt.Errorf("%w: credential %q: %v", ErrBadKeyFile, name, err)
	}
	defer clear(b)
	k, weak, err := parseKEK(b)
	if err != nil {
		return KEK{}, fmt.Errorf("credential %q: %w", name, err)
	}
	if weak != "" {
		return k, &WeakKeyError{Source: fmt.Sprintf("credential %q", name), Reason: weak, NewKeyPath: "/etc/gated/kek.new"}
	}
	return k, nil
}

// GenerateKEKFile creates a new key file at path (mode 0600, failing if the
// file exists), writes a random key as 64 hex digits and syncs it.
func GenerateKEKFile(path string) (KEK, error) {
	var raw [KEKSize]byte
	defer clear(raw[:])
	if _, err := rand.Read(raw[:]); err != nil {
		return KEK{}, fmt.Errorf("store: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return KEK{}, fmt.Errorf("store: create key file: %w", err)
	}
	text := make([]byte, 0, 2*KEKSize+1)
	text = hex.AppendEncode(text, raw[:])
	text = append(text, '\n')
	defer clear(text)
	err = f.Chmod(0o600) // umask cannot loosen it, but be explicit
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
		return KEK{}, fmt.Errorf("store: write key file %s: %w", path, err)
	}
	return NewKEK(raw[:])
}

// Derive returns a 32-byte key for another use of the same key material
// (the property office's store keeps its own key file in the gate's
// format): HKDF-SHA-256 of the store's wrapping key with label, so it
// is independent of every key the store derives. Clear it after use.
func (k KEK) Derive(label string) []byte {
	if k.m == nil {
		return nil
	}
	out, err := hkdf.Key(sha256.New, k.m.wrap[:], nil, "gated/kek/derive/"+label, 32)
	if err != nil { // only for absurd lengths
		panic(err)
	}
	return out
}
