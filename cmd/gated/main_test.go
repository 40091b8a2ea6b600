package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
)

// gated runs the command as a function, with the test's environment.
func gated(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func TestUsageAndVersion(t *testing.T) {
	if code, out, _ := gated(t, nil, "help"); code != 0 || !strings.Contains(out, "calibrate") || strings.Contains(out, "eval") {
		t.Errorf("gated help = %d, %q", code, out)
	}
	if code, out, _ := gated(t, nil, "--version"); code != 0 || !strings.HasPrefix(out, "gated ") {
		t.Errorf("gated --version = %d, %q", code, out)
	}
	if code, _, errs := gated(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("gated frobnicate = %d, %q", code, errs)
	}
}

func TestDemo(t *testing.T) {
	code, out, errs := gated(t, nil, "demo", "--photos", testenv.DemoPhotos(t), "--models", testenv.Models(t), "--pause", "100ms")
	if code != 0 {
		t.Fatalf("gated demo = %d, stderr %q\n%s", code, errs, out)
	}
	for _, want := range []string{
		"face enrolled from 2 photos: 2 templates",
		"face     GRANTED Obama",
		"face     DENIED: face not recognised: please use your card or PIN",
		"card+pin GRANTED Biden at front",
		"card+pin DENIED Biden at front: wrong PIN",
		"visitor-code GRANTED pass v-",
		"visitor-code DENIED pass v-",
		"this pass has been used",
		"door     ALARM forced-open: door forced open",
		"door     ALARM-CLEARED forced-open: ended after",
		"door alarm: alarm=forced-open: door forced open",
		"door alarm-cleared: alarm=forced-open lasted=",
		"face data destroyed at once: receipt d-",
		"card+pin GRANTED Obama at front",
		"verified true",
		"face data held for 0 of 2 residents",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Four openings: Obama's face, Biden's card+PIN, the courier's code
	// (once, not twice), Obama's card+PIN.
	if n := strings.Count(out, "relay  ON"); n != 4 {
		t.Errorf("relay opened %d times, want 4:\n%s", n, out)
	}
	// After the opt-out, Obama's face is denied like a stranger's.
	// (Cut at the next step's heading: a bare "7." also matches a timestamp.)
	after := out[strings.Index(out, "11. Obama looks at the camera again"):]
	if end := strings.Index(after, "\n12. "); end < 0 || !strings.Contains(after[:end], "DENIED") {
		t.Errorf("Obama's face after opt-out was not denied:\n%s", after)
	}
	if strings.Contains(errs, "lock failed") {
		t.Errorf("the demo left the door unconfirmed: %s", errs)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := func(key string) string {
		p := dir + "/gated.toml"
		os.WriteFile(p, []byte(`version = 1
[device]
data_dir = "`+dir+`/data"
`+key+`
models_dir = "`+testenv.Models(t)+`"
[face]
enabled = true
[camera]
device = "0"
[[reader]]
name = "front"
type = "ascii"
device = "/dev/ttyUSB0"
[relay]
type = "lcus"
device = "/dev/ttyUSB1"
[privacy]
controller = "PM"
contact = "office"
notice_version = "1"
`), 0o600)
		return p
	}
	p := cfg(`key_file = "` + dir + `/kek"`)
	if code, _, errs := gated(t, nil, "check", "--config", p); code != 1 || !strings.Contains(errs, "gated keygen --out "+dir+"/kek") {
		t.Errorf("check without a key = %d, %q; want a pointer to gated keygen", code, errs)
	}
	if code, out, errs := gated(t, nil, "keygen", "--out", dir+"/kek"); code != 0 || !strings.Contains(out, "kek:") {
		t.Fatalf("keygen = %d, %q %q", code, out, errs)
	}
	if st, _ := os.Stat(dir + "/kek"); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if code, out, errs := gated(t, nil, "check", "--config", p); code != 0 || !strings.Contains(out, ": ok (1 readers, relay lcus, face on)") ||
		!strings.Contains(errs, "face will not identify or replace a PIN: no presentation-attack detection is enabled") {
		t.Errorf("check = %d, %q %q; want ok, warning that without PAD face will not identify", code, out, errs)
	}
	os.Chmod(dir+"/kek", 0o644)
	if code, _, errs := gated(t, nil, "check", "--config", p); code != 1 || !strings.Contains(errs, "chmod") {
		t.Errorf("check with a 0644 key = %d, %q; want the chmod fix", code, errs)
	}
	if code, _, _ := gated(t, nil, "keygen", "--out", dir+"/kek"); code != 1 {
		t.Errorf("keygen over an existing key = %d, want 1 (never overwritten)", code)
	}
	// Models that are missing or damaged turn face off, not the gate: a
	// warning, and exit 0 so that systemd starts card and PIN.
	os.Chmod(dir+"/kek", 0o600)
	empty := t.TempDir()
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), testenv.Models(t), empty, 1)), 0o600)
	if code, _, errs := gated(t, nil, "check", "--config", p); code != 0 || !strings.Contains(errs, "face recognition will be off") {
		t.Errorf("check with no model files = %d, %q; want 0 and a warning that face will be off", code, errs)
	}
	p = cfg(`key_credential = "kek"`)
	if code, out, _ := gated(t, map[string]string{"CREDENTIALS_DIRECTORY": ""}, "check", "--config", p); code != 0 || !strings.Contains(out, "checked when the service starts") {
		t.Errorf("check with a credential outside systemd = %d, %q", code, out)
	}
}
