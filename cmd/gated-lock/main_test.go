package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/testenv"
)

var (
	lcusOff = []byte{0xA0, 0x01, 0x00, 0xA1} // channel 1 off: locks a fail-secure strike
	lcusOn  = []byte{0xA0, 0x01, 0x01, 0xA2} // channel 1 on: locks a fail-safe maglock
)

// gate is the production configuration (deploy/gated.toml, the file
// gated.service names) on a pty relay board, with its data directory and
// key moved under a temporary directory that the lock must not create or
// read.
type gate struct {
	t      *testing.T
	board  *serialtest.Pair
	peer   *serialtest.Port // the board's end of the line
	dir    string
	config string // the configuration file
	toml   string // its text
}

func newGate(t *testing.T) *gate {
	t.Helper()
	g := &gate{t: t, board: serialtest.New(t), dir: t.TempDir()}
	g.peer = g.board.OpenPeer(100 * time.Millisecond)
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "deploy", "gated.toml"))
	if err != nil {
		t.Fatal(err)
	}
	g.toml = string(b)
	g.toml = g.replace(g.toml, `"/dev/gate-relay"`, `"`+g.board.Device+`"`)
	g.toml = g.replace(g.toml, `"/var/lib/gated"`, `"`+filepath.Join(g.dir, "data")+`"`)
	if _, err := config.Parse("gated.toml", []byte(g.toml)); err != nil {
		t.Fatalf("deploy/gated.toml on the test board does not load: %v", err)
	}
	g.config = g.write("gated.toml", g.toml)
	return g
}

// replace replaces old in s once; old must be there.
func (g *gate) replace(s, old, repl string) string {
	g.t.Helper()
	if !strings.Contains(s, old) {
		g.t.Fatalf("the configuration has no %q any more: update this test", old)
	}
	return strings.Replace(s, old, repl, 1)
}

// variant writes the configuration with old replaced by repl as name.
func (g *gate) variant(name, old, repl string) string {
	g.t.Helper()
	return g.write(name, g.replace(g.toml, old, repl))
}

func (g *gate) write(name, text string) string {
	g.t.Helper()
	p := filepath.Join(g.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		g.t.Fatal(err)
	}
	return p
}

// lockCmd runs the command as a function and returns its exit status and
// output.
func lockCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// expectFrame checks that the board received exactly want, then nothing.
func (g *gate) expectFrame(t *testing.T, what string, want []byte) {
	t.Helper()
	got, err := g.peer.ReadFull(len(want), 2*time.Second)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: board got % X (%v), want % X", what, got, err, want)
	}
	if more := g.peer.Drain(); len(more) > 0 {
		t.Errorf("%s: board got % X after the lock, want nothing", what, more)
	}
}

func (g *gate) expectNothing(t *testing.T, what string) {
	t.Helper()
	if got := g.peer.Drain(); len(got) > 0 {
		t.Errorf("%s: board got % X, want nothing", what, got)
	}
}

// TestLocks: the lock reaches the board (LCUS channel 1 off, A0 01 00 A1)
// from the production configuration, also when the rest of the file is
// broken or the key is missing, and nothing but the relay is touched.
func TestLocks(t *testing.T) {
	g := newGate(t)
	want := "locked lcus board " + g.board.Device + " channel 1, fail-secure: sent A0 01 00 A1; not read back: the board cannot report its state\n"
	broken := g.variant("broken.toml", "[face]\n", "[face]\nthreshhold = = 0.4\nmodel = \"unterminated\n")
	if _, err := config.Load(broken); err == nil {
		t.Fatalf("the broken configuration loads: the test would prove nothing")
	}
	// The production file names a systemd credential, which does not exist
	// outside the unit; a key file that is not there either.
	noKey := g.variant("nokey.toml", `key_credential = "kek"`, `key_file = "`+filepath.Join(g.dir, "kek-missing")+`"`)
	for _, c := range []struct{ name, config string }{
		{"production configuration", g.config},
		{"[face] broken: a syntax error and a misspelt key", broken},
		{"no device key", noKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", "")
			code, out, errOut := lockCmd("--config", c.config)
			if code != 0 || out != want {
				t.Fatalf("gated-lock --config %s = %d, %q (stderr %q); want 0, %q", filepath.Base(c.config), code, out, errOut, want)
			}
			g.expectFrame(t, "gated-lock", lcusOff)
		})
	}
	if _, err := os.Stat(filepath.Join(g.dir, "data")); !os.IsNotExist(err) {
		t.Errorf("gated-lock touched the data directory: %v", err)
	}
}

// TestLocksFailSafe: a maglock (fail-safe) is locked by switching the relay
// on; the lock is the mode's, not always "off".
func TestLocksFailSafe(t *testing.T) {
	g := newGate(t)
	cfg := g.variant("failsafe.toml", `mode = "fail-secure"`, `mode = "fail-safe"`)
	code, out, errOut := lockCmd("--config", cfg)
	if code != 0 || !strings.Contains(out, "fail-safe: sent A0 01 01 A2") {
		t.Fatalf("gated-lock on a fail-safe relay = %d, %q (stderr %q); want 0, sent A0 01 01 A2", code, out, errOut)
	}
	g.expectFrame(t, "fail-safe lock", lcusOn)
}

// TestFailsNamingWhatIsWrong: a lock that cannot be sent, or a [relay]
// that cannot be read, exits 1 with a message on stderr naming the device,
// field or file, and prints nothing that says "locked".
func TestFailsNamingWhatIsWrong(t *testing.T) {
	g := newGate(t)
	missing := filepath.Join(g.dir, "gate-relay-missing")
	for _, c := range []struct {
		name, config string
		want         []string
	}{
		{"the board is not plugged in", g.variant("gone.toml", g.board.Device, missing), []string{missing, "NOT CONFIRMED LOCKED"}},
		{"a misspelt key in [relay]", g.variant("chanel.toml", "[relay]\n", "[relay]\nchanel = 2\n"), []string{"relay.chanel: unknown setting"}},
		{"a bad value in [relay]", g.variant("channel.toml", "channel = 1", "channel = 9"), []string{"relay.channel", "1-8"}},
		{"no [relay]", g.variant("norelay.toml", "[relay]\n", "[relay-gone]\n"), []string{"relay.type", "no relay is configured"}},
		{"no configuration file", filepath.Join(g.dir, "absent.toml"), []string{filepath.Join(g.dir, "absent.toml")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := lockCmd("--config", c.config)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "gated-lock: ") {
				t.Fatalf("gated-lock = %d, stdout %q, stderr %q; want 1, nothing on stdout, gated-lock: ... on stderr", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not name %q", errOut, w)
				}
			}
		})
	}
	g.expectNothing(t, "failed locks")
}

// TestUsage: a bad command line exits 2 and sends nothing; --help and
// --version exit 0.
func TestUsage(t *testing.T) {
	g := newGate(t)
	for _, args := range [][]string{
		{"--config"},
		{"--cnofig", g.config},
		{"--config", g.config, "lock"},
		{"--config", g.config, "--timeout", "0s"},
		{"--config", g.config, "--timeout", "soon"},
	} {
		code, out, errOut := lockCmd(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "usage: gated-lock") && !strings.Contains(errOut, "--timeout") {
			t.Errorf("gated-lock %q = %d, %q, %q; want 2 and the usage or the flag's fix on stderr", args, code, out, errOut)
		}
	}
	g.expectNothing(t, "bad command lines")

	for _, help := range []string{"--help", "-h"} {
		code, out, errOut := lockCmd(help)
		if code != 0 || !strings.Contains(out, "usage: gated-lock [--config FILE]") || !strings.Contains(out, defaultConfig) || errOut != "" {
			t.Errorf("gated-lock %s = %d, %q, stderr %q; want 0 and the usage on stdout only, naming %s", help, code, out, errOut, defaultConfig)
		}
	}
	if code, out, _ := lockCmd("--version"); code != 0 || out != "gated-lock dev\n" {
		t.Errorf("gated-lock --version = %d, %q; want 0, %q", code, out, "gated-lock dev\n")
	}
}
