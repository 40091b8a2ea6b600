package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testKeyBytes is a fixed key that passes checkKeyMaterial: a SHA-256
// output, as random as a key, not valid UTF-8, 29 different byte values.
func testKeyBytes() []byte {
	k := sha256.Sum256([]byte("gated/store/test-key"))
	return k[:]
}

// weakKeys are the key files red-team finding F13 showed were accepted as
// the device key, and neighbours of them; parseKEK must call each weak,
// and still give the key (an earlier gated sealed stores with them).
var weakKeys = []struct {
	name string
	in   []byte
	says string
}{
	{"32 NUL bytes", make([]byte, 32), "only 1 different byte values"},
	{"32 × 0x01", bytes.Repeat([]byte{1}, 32), "only 1 different byte values"},
	{"64 zero hex digits", []byte(strings.Repeat("0", 64)), "only 1 different byte values"},
	{"64 zero hex digits and a newline", []byte(strings.Repeat("0", 64) + "\n"), "only 1 different byte values"},
	{"hex of 32 × 0x07", []byte(strings.Repeat("07", 32) + "\n"), "only 1 different byte values"},
	{"hex of deadbeef repeated", []byte(strings.Repeat("deadbeef", 8)), "only 4 different byte values"},
	{"raw, 15 byte values, not UTF-8", bytes.Repeat([]byte("\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8e"), 2), "only 15 different byte values"},
	{"typed Chinese passphrase of 32 bytes", []byte("我的门禁密码是秘密啊ab"), "looks like typed text, not a key"},
	{"32-byte typed passphrase", []byte("correct horse battery staple ok!"), "looks like typed text, not a key"},
	{"31 typed characters and a newline", []byte("correct horse battery staple ok\n"), "looks like typed text, not a key"},
	{"32 hex digits (a 16-byte key in hex)", []byte(hex.EncodeToString(testKeyBytes())[:32]), "looks like typed text, not a key"},
	{"valid UTF-8 with 17 byte values", []byte("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏ"), "looks like typed text, not a key"},
	{"control characters, 16 byte values", []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x13\x12\x11\x10\x0f\x0e\x0c\x0b\x08\x07\x06\x05\x04\x03\x02\x01"), "valid UTF-8 text, not random key material"},
	{"hex of 00..0f twice (red team 3)", []byte(strings.Repeat("000102030405060708090a0b0c0d0e0f", 2) + "\n"), "repeats a pattern of 16 bytes"},
	{"raw 0x80..0x9f, counting up", func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(0x80 + i)
		}
		return b
	}(), "counts up or down in equal steps"},
	{"raw, counting down by 3", func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(0xfe - 3*i)
		}
		return b
	}(), "counts up or down in equal steps"},
}

func TestParseKEK(t *testing.T) {
	raw := testKeyBytes()
	hx := hex.EncodeToString(raw)
	// 16 byte values, each twice, none valid as UTF-8 (0xf0-0xff), in no
	// repeating pattern: the fewest that pass.
	var sixteen []byte
	for i := range 16 {
		sixteen = append(sixteen, byte(0xf0+i))
	}
	for i := range 16 {
		sixteen = append(sixteen, byte(0xff-i))
	}
	tests := []struct {
		name string
		in   []byte
		key  []byte // the key it must give; nil: refused
	}{
		{"raw 32 bytes", raw, raw},
		{"hex", []byte(hx), raw},
		{"hex with newline", []byte(hx + "\n"), raw},
		{"upper-case hex with spaces", []byte("  " + strings.ToUpper(hx) + " \r\n"), raw},
		{"raw, 16 byte values, not UTF-8", sixteen, sixteen},
		{"hex of 16 byte values", []byte(hex.EncodeToString(sixteen)), sixteen},
		{"empty", nil, nil},
		{"31 raw bytes", raw[:31], nil},
		{"short hex", []byte(hx[:62] + "\n"), nil},
		{"not hex", []byte(strings.Repeat("zz", 32)), nil},
		{"passphrase", []byte("correct horse battery staple\n"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, weak, err := parseKEK(tt.in)
			if (tt.key != nil) != (err == nil) || weak != "" {
				t.Fatalf("parseKEK(%q) = %v, %q, %v; want ok=%v, not weak", tt.in, got, weak, err, tt.key != nil)
			}
			if err != nil && !errors.Is(err, ErrBadKeyFile) {
				t.Errorf("parseKEK error %v does not wrap ErrBadKeyFile", err)
			}
			if tt.key != nil {
				want, _ := NewKEK(tt.key)
				if got.Fingerprint() != want.Fingerprint() {
					t.Errorf("parseKEK fingerprint = %s, want %s", got.Fingerprint(), want.Fingerprint())
				}
			}
		})
	}
	for _, tt := range weakKeys {
		t.Run(tt.name, func(t *testing.T) {
			got, weak, err := parseKEK(tt.in)
			if err != nil || !got.Valid() || got.Fingerprint() != weakKeyKEK(t, tt.in).Fingerprint() || !strings.Contains(weak, tt.says) {
				t.Errorf("parseKEK(%q) = %v, %q, %v; want the key, weak: %q", tt.in, got, weak, err, tt.says)
			}
		})
	}
}

// weakKeyKEK is the KEK an earlier gated made of a weak key file's
// contents: the 32 raw bytes, or the 32 bytes the hex digits spell.
func weakKeyKEK(t *testing.T, in []byte) KEK {
	t.Helper()
	raw := in
	if len(in) != KEKSize {
		var err error
		if raw, err = hex.DecodeString(strings.TrimSpace(string(in))); err != nil {
			t.Fatal(err)
		}
	}
	k, err := NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestLoadKEKFileWeak writes red-team finding F13's key files to disk,
// 0600 and ours. Round 2 of the red team: refusing them bricked a gate
// upgraded from the version that accepted them (its store is sealed with
// one), and the advice, gated keygen --out <the configured path>, would
// have locked the store out for good. LoadKEKFile and LoadKEKCredential
// give the key with ErrWeakKey (not ErrBadKeyFile) and advise a rotation,
// never a new key in the configured key's place; LoadNewKEKFile, for a
// rotation's new key, refuses them.
func TestLoadKEKFileWeak(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	for i, tt := range weakKeys {
		name := fmt.Sprintf("weak-%d", i)
		p := filepath.Join(dir, name)
		writeTestFile(t, p, tt.in)
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		want := weakKeyKEK(t, tt.in).Fingerprint()
		newKey := filepath.Join(dir, "kek.new")
		k, err := LoadKEKFile(p)
		var weak *WeakKeyError
		switch {
		case !errors.Is(err, ErrWeakKey) || errors.Is(err, ErrBadKeyFile) || !errors.As(err, &weak):
			t.Errorf("LoadKEKFile(%s) = %v, %v; want a *WeakKeyError, ErrWeakKey and not ErrBadKeyFile", tt.name, k, err)
		case k.Fingerprint() != want:
			t.Errorf("LoadKEKFile(%s) = %v, want the key %s", tt.name, k, want)
		case weak.Source != p || !strings.Contains(weak.Reason, tt.says):
			t.Errorf("LoadKEKFile(%s) error = %+v, want source %s and reason %q", tt.name, weak, p, tt.says)
		}
		if err != nil {
			msg := err.Error()
			for _, s := range []string{p, tt.says, "gated keygen --out " + newKey + " && gated keys rotate --new-key " + newKey, "Do not replace or regenerate " + p} {
				if !strings.Contains(msg, s) {
					t.Errorf("LoadKEKFile(%s) says %q, want %q in it", tt.name, msg, s)
				}
			}
			if strings.Contains(msg, "--out "+p+" ") || strings.Contains(msg, "--out "+p+",") {
				t.Errorf("LoadKEKFile(%s) says %q: it advises a new key in the configured key's place", tt.name, msg)
			}
		}
		k, err = LoadKEKCredential(name)
		if !errors.Is(err, ErrWeakKey) || errors.Is(err, ErrBadKeyFile) || k.Fingerprint() != want ||
			!strings.Contains(err.Error(), `credential "`+name+`"`) || !strings.Contains(err.Error(), "gated keys rotate --new-key /etc/gated/kek.new") {
			t.Errorf("LoadKEKCredential(%s) = %v, %v; want the key with ErrWeakKey and the rotation", tt.name, k, err)
		}
		if k, err := LoadNewKEKFile(p); k.Valid() || !errors.Is(err, ErrBadKeyFile) || errors.Is(err, ErrWeakKey) ||
			!strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "make one with gated keygen") {
			t.Errorf("LoadNewKEKFile(%s) = %v, %v; want no key, ErrBadKeyFile naming the file, why and gated keygen", tt.name, k, err)
		}
	}
	good := filepath.Join(dir, "good")
	k, err := GenerateKEKFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := LoadNewKEKFile(good); err != nil || got.Fingerprint() != k.Fingerprint() {
		t.Errorf("LoadNewKEKFile(a generated key) = %v, %v; want %v", got, err, k)
	}
}

// TestWeakKeyStoreStillOpens replays red team round 2 end to end: a store
// made by the version before F13 with a typed 32-byte passphrase as its
// key file opens with the key LoadKEKFile gives (with ErrWeakKey), and the
// store is rotated to a key LoadNewKEKFile accepts; the weak key is no
// rotation target.
func TestWeakKeyStoreStillOpens(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "kek")
	passphrase := []byte("我的门禁密码是秘密啊ab")
	writeTestFile(t, keyPath, passphrase)
	old, _ := NewKEK(passphrase) // what the earlier version made of it
	path := filepath.Join(dir, "gated.db")
	db, err := Open(path, old, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	addEnrolled(t, db, newRand(48), "Resident", 2)
	db.Close()

	k, err := LoadKEKFile(keyPath)
	if !errors.Is(err, ErrWeakKey) {
		t.Fatalf("LoadKEKFile(typed passphrase) = %v, want ErrWeakKey", err)
	}
	db, err = Open(path, k, testOptions(t))
	if err != nil {
		t.Fatalf("Open with the weak key the store is sealed with = %v", err)
	}
	defer db.Close()
	if _, err := LoadNewKEKFile(keyPath); !errors.Is(err, ErrBadKeyFile) {
		t.Errorf("LoadNewKEKFile(the weak key) = %v, want ErrBadKeyFile", err)
	}
	newPath := filepath.Join(dir, "kek.new")
	if _, err := GenerateKEKFile(newPath); err != nil {
		t.Fatal(err)
	}
	nk, err := LoadNewKEKFile(newPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RotateKEK("staff:admin", nk); err != nil {
		t.Fatalf("RotateKEK from the weak key = %v", err)
	}
}

func TestLoadKEKFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.key")
	k, err := GenerateKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("GenerateKEKFile mode = %v, want 0600", got)
	}
	if _, err := GenerateKEKFile(path); err == nil {
		t.Error("GenerateKEKFile over an existing file succeeded, want an error")
	}
	got, err := LoadKEKFile(path)
	if err != nil {
		t.Fatalf("LoadKEKFile = %v", err)
	}
	if got.Fingerprint() != k.Fingerprint() {
		t.Errorf("LoadKEKFile fingerprint = %s, want %s", got.Fingerprint(), k.Fingerprint())
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o400, 0o700, 0o660} {
		t.Run(fmt.Sprintf("mode %#o", mode), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			writeTestFile(t, p, readFile(t, path))
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKEKFile(p)
			if !errors.Is(err, ErrInsecureKeyFile) || !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Errorf("LoadKEKFile(mode %#o) = %v, want ErrInsecureKeyFile naming chmod 600 and the path", mode, err)
			}
		})
	}
	t.Run("other owner", func(t *testing.T) {
		other := os.Geteuid() + 1
		_, err := loadKEKFile(path, other)
		if !errors.Is(err, ErrInsecureKeyFile) || !strings.Contains(err.Error(), "chown") {
			t.Errorf("loadKEKFile as uid %d = %v, want ErrInsecureKeyFile naming chown", other, err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := LoadKEKFile(dir); !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("LoadKEKFile(dir) = %v, want ErrInsecureKeyFile", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadKEKFile(filepath.Join(dir, "nope")); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("LoadKEKFile(missing) = %v, want ErrBadKeyFile", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		writeTestFile(t, p, []byte("secret\n"))
		if _, err := LoadKEKFile(p); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("LoadKEKFile(garbage) = %v, want ErrBadKeyFile", err)
		}
	})
}

func TestLoadKEKCredential(t *testing.T) {
	dir := t.TempDir()
	raw := randomBytes(32)
	writeTestFile(t, filepath.Join(dir, "gated-kek"), []byte(hex.EncodeToString(raw)))
	want, _ := NewKEK(raw)

	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	got, err := LoadKEKCredential("gated-kek")
	if err != nil || got.Fingerprint() != want.Fingerprint() {
		t.Errorf("LoadKEKCredential = %v, %v; want %v", got, err, want)
	}
	for _, name := range []string{"", "..", "../etc/passwd", "missing"} {
		if _, err := LoadKEKCredential(name); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("LoadKEKCredential(%q) = %v, want ErrBadKeyFile", name, err)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := LoadKEKCredential("gated-kek"); !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), "LoadCredential=") {
		t.Errorf("LoadKEKCredential without $CREDENTIALS_DIRECTORY = %v, want ErrBadKeyFile naming LoadCredential=", err)
	}
}

// TestKEKNeverPrints formats a KEK every way we can think of and checks the
// key bytes never appear, in any encoding.
func TestKEKNeverPrints(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	k, err := NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %p"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, struct{ K KEK }{k}))
	}
	j, _ := json.Marshal(struct{ K KEK }{k})
	outs = append(outs, string(j))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "kek", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "kek", k, "any", any(k))
	outs = append(outs, logged.String())

	forms := [][]byte{raw, []byte(hex.EncodeToString(raw)), []byte(strings.ToUpper(hex.EncodeToString(raw)))}
	for _, b := range [][]byte{k.m.wrap[:], k.m.verify[:]} {
		forms = append(forms, []byte(hex.EncodeToString(b)), []byte(fmt.Sprint(b[:4])))
	}
	for _, out := range outs {
		for _, f := range forms {
			if bytes.Contains([]byte(out), f) {
				t.Errorf("formatted KEK %q contains key material %q", out, f)
			}
		}
	}
	if fp := k.Fingerprint(); !strings.HasPrefix(fp, "kek:") || len(fp) != 16 || !strings.Contains(logged.String(), fp) {
		t.Errorf("Fingerprint = %q, want kek: and 12 hex digits, and logged", fp)
	}
}

// TestLoadKEKFileNeverBlocks replays red-team finding F15: `gated keys
// rotate --new-key /tmp/fifo` hung the daemon's handler forever, because
// open(2) of a FIFO waits for a writer before the file type was checked.
// A FIFO, a device and a symbolic link are refused without waiting.
func TestLoadKEKFileNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	good := filepath.Join(dir, "gated.key")
	if _, err := GenerateKEKFile(good); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)

	tests := []struct {
		name string
		load func() (KEK, error)
		want error
		says string
	}{
		{"LoadKEKFile(fifo)", func() (KEK, error) { return LoadKEKFile(fifo) }, ErrInsecureKeyFile, fifo + " is a named pipe (FIFO), not a regular file"},
		{"LoadKEKCredential(fifo)", func() (KEK, error) { return LoadKEKCredential("fifo") }, ErrInsecureKeyFile, "named pipe"},
		{"LoadKEKFile(/dev/null)", func() (KEK, error) { return LoadKEKFile("/dev/null") }, ErrInsecureKeyFile, "/dev/null is a device"},
		{"LoadKEKFile(symbolic link)", func() (KEK, error) { return LoadKEKFile(link) }, ErrInsecureKeyFile, link + " is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				k   KEK
				err error
			}
			done := make(chan result, 1)
			go func() {
				k, err := tt.load()
				done <- result{k, err}
			}()
			select {
			case r := <-done:
				if !errors.Is(r.err, tt.want) || !strings.Contains(r.err.Error(), tt.says) {
					t.Errorf("%s = %v, %v; want %v saying %q", tt.name, r.k, r.err, tt.want, tt.says)
				}
			case <-time.After(time.Second):
				// Release the blocked open, so the goroutine ends.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				<-done
				t.Errorf("%s blocked for more than a second, want an error at once", tt.name)
			}
		})
	}
	// A symbolic link in the credentials directory is followed.
	if _, err := LoadKEKCredential("link"); err != nil {
		t.Errorf("LoadKEKCredential(link to a key) = %v, want the key", err)
	}
}
