package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	hx := hex.EncodeToString(raw)
	want, _ := NewKEK(raw)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"raw 32 bytes", raw, true},
		{"hex", []byte(hx), true},
		{"hex with newline", []byte(hx + "\n"), true},
		{"upper-case hex with spaces", []byte("  " + strings.ToUpper(hx) + " \r\n"), true},
		{"empty", nil, false},
		{"31 raw bytes", raw[:31], false},
		{"short hex", []byte(hx[:62] + "\n"), false},
		{"not hex", []byte(strings.Repeat("zz", 32)), false},
		{"passphrase", []byte("correct horse battery staple\n"), false},
		{"32-byte typed passphrase", []byte("correct horse battery staple ok!"), false},
		{"31 typed characters and a newline", []byte("correct horse battery staple ok\n"), false},
		{"32 hex digits (a 16-byte key in hex)", []byte(hx[:32]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKEK(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("parseKEK = %v, %v; want ok=%v", got, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadKeyFile) {
				t.Errorf("parseKEK error %v does not wrap ErrBadKeyFile", err)
			}
			if !tt.ok && len(tt.in) == KEKSize && !strings.Contains(err.Error(), "looks like typed text, not a key: make one with gated keygen (64 hex digits)") {
				t.Errorf("parseKEK(32 bytes of text) = %v, want it to say it looks like typed text", err)
			}
			if tt.ok && got.Fingerprint() != want.Fingerprint() {
				t.Errorf("parseKEK fingerprint = %s, want %s", got.Fingerprint(), want.Fingerprint())
			}
		})
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
