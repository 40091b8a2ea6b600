// Package deploy holds the files that install gated on a gate (systemd
// unit, sysusers, udev rules, a production configuration); its tests check
// them with the tools that will read them.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/testenv"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// binaries are the programs the unit runs, which a build machine does not
// have installed: systemd-analyze verify checks that they exist, so tests
// stand /bin/true in for them.
var binaries = []string{"/usr/lib/gated/gated-lock", "/usr/bin/gated"}

// withTrue returns the unit's text with /bin/true for its binaries.
func withTrue(unit string) string {
	for _, b := range binaries {
		unit = strings.ReplaceAll(unit, b, "/bin/true")
	}
	return unit
}

// TestUnitVerifies runs systemd-analyze on the unit: it must load without
// a warning, and its sandbox must rate as safe.
func TestUnitVerifies(t *testing.T) {
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	unit := withTrue(read(t, "gated.service"))
	if strings.Contains(unit, "/usr/") {
		t.Fatalf("gated.service runs a program this test does not stand in for: add it to binaries")
	}
	path := filepath.Join(t.TempDir(), "gated.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if lvl := exposure(t, sa, path); lvl > 1.5 {
		t.Errorf("gated.service: exposure level %v, want at most 1.5 (was 0.8 when written)", lvl)
	}
}

// exposure is systemd-analyze security's overall exposure level of the
// unit file at path (0 best, 10 worst).
func exposure(t *testing.T, sa, path string) float64 {
	t.Helper()
	out, err := exec.Command(sa, "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", path, err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(filepath.Base(path)) + `: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	lvl, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return lvl
}

// TestKioskUnits checks the resident screen's browser unit and the drop-in
// that lets gated listen on loopback: both load without a warning, the
// browser shares gated's network namespace, and gated stays rated safe.
func TestKioskUnits(t *testing.T) {
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	copyUnit := func(name string, repl ...string) string {
		u := read(t, name)
		for i := 0; i+1 < len(repl); i += 2 {
			u = strings.ReplaceAll(u, repl[i], repl[i+1])
		}
		p := filepath.Join(dir, filepath.Base(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gated := copyUnit("gated.service", "/usr/lib/gated/gated-lock", "/bin/true", "/usr/bin/gated", "/bin/true")
	os.MkdirAll(filepath.Join(dir, "gated.service.d"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "gated.service.d", "kiosk.conf"), []byte(read(t, "gated.service.d/kiosk.conf")), 0o644); err != nil {
		t.Fatal(err)
	}
	kiosk := copyUnit("gated-kiosk.service", "/usr/bin/cage", "/bin/true")
	out, err := exec.Command(sa, "verify", kiosk, gated).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	unit := read(t, "gated-kiosk.service")
	for _, want := range []string{"JoinsNamespaceOf=gated.service", "PrivateNetwork=yes", "IPAddressDeny=any", "http://127.0.0.1:8088/", "--kiosk", "--disable-background-networking",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "DevicePolicy=closed", "ProtectSystem=strict", "RestrictNamespaces=user pid net"} {
		if !strings.Contains(unit, want) {
			t.Errorf("gated-kiosk.service lacks %q", want)
		}
	}
	if strings.Contains(unit, "--no-sandbox") {
		t.Errorf("gated-kiosk.service turns Chromium's own sandbox off")
	}
	// The browser cannot give up user, PID and network namespaces, its
	// devices, JIT memory or inet sockets to loopback (the unit's comment
	// says why); with everything else restricted that rates 1.7. It was
	// 7.9 EXPOSED before issue 12.
	if lvl := exposure(t, sa, kiosk); lvl > 2.0 {
		t.Errorf("gated-kiosk.service: exposure level %v, want at most 2.0 (1.7 when written)", lvl)
	}
	dropin := read(t, "gated.service.d/kiosk.conf")
	if !strings.Contains(dropin, "IPAddressAllow=localhost") || strings.Contains(dropin, "PrivateNetwork=no") {
		t.Errorf("the kiosk drop-in must keep gated's private network and allow loopback only:\n%s", dropin)
	}
}

// TestDocsNameTheUnitsLock: every "ExecStopPost=X" the docs and package
// comments write names the program gated.service runs there (the relay's
// package doc said "ExecStopPost=gated relay lock" after the unit had moved
// to gated-lock).
func TestDocsNameTheUnitsLock(t *testing.T) {
	m := regexp.MustCompile(`(?m)^ExecStopPost=(\S+)`).FindStringSubmatch(read(t, "gated.service"))
	if m == nil {
		t.Fatal("gated.service has no ExecStopPost= line")
	}
	runs := m[1]
	files := []string{"../README.md", "../internal/relay/doc.go", "../internal/door/door.go", "../cmd/gated/relay.go", "../cmd/gated-lock/main.go"}
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs found: %v", err)
	}
	n := 0
	for _, f := range append(files, docs...) {
		for _, ref := range regexp.MustCompile("ExecStopPost=([^\\s`'\")]+)").FindAllStringSubmatch(read(t, f), -1) {
			n++
			if ref[1] != runs && ref[1] != filepath.Base(runs) {
				t.Errorf("%s: ExecStopPost=%s; gated.service runs %s", f, ref[1], runs)
			}
		}
	}
	t.Logf("%d mentions of ExecStopPost= with a program checked against %s", n, runs)
}

func TestUnitSandbox(t *testing.T) {
	unit := read(t, "gated.service")
	for _, want := range []string{
		"Type=notify", "WatchdogSec=", "User=gated", "SupplementaryGroups=gated-staff",
		"PrivateNetwork=yes", "RestrictAddressFamilies=AF_UNIX", "IPAddressDeny=any",
		"ProtectSystem=strict", "StateDirectory=gated", "ReadWritePaths=/var/lib/gated",
		"DevicePolicy=closed", "DeviceAllow=char-video4linux rw", "DeviceAllow=char-ttyUSB rw", "DeviceAllow=char-gpiochip rw",
		"LoadCredential=kek:/etc/gated/kek", "ExecStartPre=/usr/bin/gated check", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("gated.service lacks %q", want)
		}
	}
}

func TestSysusers(t *testing.T) {
	su := testenv.Program(t, "systemd-sysusers", "systemd")
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	abs, err := filepath.Abs("gated.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(su, "--root="+root, abs).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, group := read(t, filepath.Join(root, "etc/passwd")), read(t, filepath.Join(root, "etc/group"))
	if !regexp.MustCompile(`(?m)^gated:x:\d+:\d+:.*:/var/lib/gated:/usr/sbin/nologin$`).MatchString(passwd) {
		t.Errorf("no gated system user without a login shell:\n%s", passwd)
	}
	if !regexp.MustCompile(`(?m)^gated-staff:x:\d+:gated$`).MatchString(group) {
		t.Errorf("gated is not a member of gated-staff:\n%s", group)
	}
}

func TestUdevRules(t *testing.T) {
	for i, line := range strings.Split(read(t, "99-gated.rules"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, `GROUP="gated"`) || !strings.Contains(line, `MODE="0660"`) {
			t.Errorf("line %d gives the device to someone else than gated (0660): %s", i+1, line)
		}
		if !strings.Contains(line, "SYMLINK+=\"gate-") && !strings.Contains(line, `KERNEL=="gpiochip`) {
			t.Errorf("line %d makes no /dev/gate-* name: %s", i+1, line)
		}
	}
}

func TestProductionConfig(t *testing.T) {
	c, err := config.Parse("gated.toml", []byte(read(t, "gated.toml")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.KeyCredential != "kek" || c.Control.StaffGroup != "gated-staff" || c.Device.DataDir != "/var/lib/gated" {
		t.Errorf("deploy/gated.toml does not match the unit: %+v", c.Device)
	}
	for _, r := range c.Readers {
		if !strings.HasPrefix(r.Device, "/dev/gate-") {
			t.Errorf("reader %s uses %s, not a stable udev name", r.Name, r.Device)
		}
	}
}

// execLines returns the values of the unit's lines setting key, in order.
func execLines(unit, key string) []string {
	var vs []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// TestUnitWaitsForKeyAndConfig checks the unit's start conditions: after
// the door lock (TestUnitLocksTheDoorFirst), the configuration is checked
// by gated itself, and the shell condition for the key, run here against a
// directory standing in for /etc/gated, refuses a missing or empty key with
// a message that says how to make one, and lets an existing key through.
func TestUnitWaitsForKeyAndConfig(t *testing.T) {
	unit := read(t, "gated.service")
	conds := execLines(unit, "ExecCondition")
	if len(conds) != 3 || conds[1] != "/usr/bin/gated check --config /etc/gated/gated.toml" {
		t.Fatalf("ExecCondition lines = %q, want the door lock, gated check, then the key", conds)
	}
	if strings.Contains(unit, "ConditionPathExists=") {
		t.Errorf("a ConditionPathExists= would skip the unit silently, before the conditions that say what to do")
	}
	script, ok := strings.CutPrefix(conds[2], "/bin/sh -c '")
	if !ok || !strings.HasSuffix(script, "'") || strings.Count(script, "'") != 1 {
		t.Fatalf("key condition = %q, want /bin/sh -c '...'", conds[2])
	}
	script = strings.TrimSuffix(script, "'")
	dir := t.TempDir()
	script = strings.ReplaceAll(script, "/etc/gated/", dir+"/")
	run := func() (string, error) {
		out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
		return string(out), err
	}
	key := filepath.Join(dir, "kek")
	for _, c := range []struct {
		name string
		key  []byte // nil: no file
	}{{"no key", nil}, {"empty key", []byte{}}} {
		if c.key != nil {
			if err := os.WriteFile(key, c.key, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out, err := run()
		if err == nil {
			t.Errorf("%s: the condition passed, want it to fail", c.name)
		}
		if want := "gated keygen --out " + key; !strings.Contains(out, want) {
			t.Errorf("%s: message %q does not say %q", c.name, out, want)
		}
	}
	if err := os.WriteFile(key, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err != nil || out != "" {
		t.Errorf("with a key: %v, %q; want success and no output", err, out)
	}
}

// lockCommand is the door lock the unit runs: gated-lock, small and
// static, on the daemon's configuration.
const lockCommand = "/usr/lib/gated/gated-lock --config /etc/gated/gated.toml"

// TestUnitLocksTheDoorAfterEveryStop: systemd runs gated-lock after every
// stop of the daemon, a crash or SIGKILL included (a latching relay board
// keeps the state a dead daemon left it in), inside the same sandbox, which
// must let it open the relay.
func TestUnitLocksTheDoorAfterEveryStop(t *testing.T) {
	unit := read(t, "gated.service")
	post, start := execLines(unit, "ExecStopPost"), execLines(unit, "ExecStart")
	// No prefix: not "-" (a failed lock must fail the unit, visibly), not
	// "+" or "!" (it runs as gated, in the sandbox, like the daemon).
	if len(post) != 1 || post[0] != lockCommand {
		t.Fatalf("ExecStopPost lines = %q, want [%q]", post, lockCommand)
	}
	if len(start) != 1 || !strings.HasSuffix(start[0], " --config /etc/gated/gated.toml") {
		t.Errorf("ExecStart = %q: the lock must read the daemon's configuration", start)
	}
	// ExecStopPost= runs in the unit's cgroup with its device policy: the
	// relay's device classes must be allowed there (the udev rules give the
	// devices to group gated, TestUdevRules).
	for _, dev := range []string{"DevicePolicy=closed", "DeviceAllow=char-ttyUSB rw", "DeviceAllow=char-ttyACM rw", "DeviceAllow=char-gpiochip rw"} {
		if !strings.Contains(unit, dev+"\n") {
			t.Errorf("gated.service lacks %q: the relay lock could not open the relay", dev)
		}
	}
	if strings.Contains(unit, "PrivateDevices=yes") {
		t.Errorf("gated.service sets PrivateDevices=yes: neither the daemon nor the relay lock would see the relay")
	}
}

// TestUnitLocksTheDoorFirst: the first command systemd runs to start or
// restart the unit is gated-lock. ExecCondition= lines run before any
// ExecStartPre=, so the lock must be the first ExecCondition= (behind
// `gated check`, the lock would wait for gated's libraries to load), with
// "-", so that a lock that fails (board unplugged) lets the daemon start
// and raise the alarm: card and PIN must not go down with the relay board.
// systemd applies "-" to ExecCondition= as to the others: a failure counts
// as success, so the next condition runs (service.c, service_sigchld_event,
// EXEC_COMMAND_IGNORE_FAILURE before the condition's exit code is read).
func TestUnitLocksTheDoorFirst(t *testing.T) {
	unit := read(t, "gated.service")
	conds := execLines(unit, "ExecCondition")
	if len(conds) == 0 || conds[0] != "-"+lockCommand {
		t.Fatalf("first ExecCondition = %q, want %q: the door is locked before anything else", conds, "-"+lockCommand)
	}
	for _, key := range []string{"ExecStartPre", "ExecStart", "ExecStartPost"} {
		for _, l := range execLines(unit, key) {
			if strings.Contains(l, "gated-lock") || strings.Contains(l, "relay lock") {
				t.Errorf("%s=%s: the lock belongs first, in ExecCondition=", key, l)
			}
		}
	}
	// In the file too, the lock is the first command, so that a reader
	// sees the order systemd follows.
	first := regexp.MustCompile(`(?m)^Exec[A-Za-z]*=.*$`).FindString(unit)
	if first != "ExecCondition=-"+lockCommand {
		t.Errorf("the unit's first Exec line is %q, want the lock", first)
	}
}

// TestUnitLockCommandsRun runs the unit's lock lines as systemd would (the
// prefix taken off, the real gated-lock built from cmd/gated-lock, the
// configuration moved to a test file on a pty relay board): each sends the
// lock, LCUS A0 01 00 A1, and nothing else. A misspelt flag or path in the
// unit fails here.
func TestUnitLockCommandsRun(t *testing.T) {
	root := testenv.Root(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "gated-lock")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gated-lock")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gated-lock: %v\n%s", err, out)
	}
	board := serialtest.New(t)
	peer := board.OpenPeer(100 * time.Millisecond)
	cfg := filepath.Join(dir, "gated.toml")
	prod := strings.Replace(read(t, "gated.toml"), `"/dev/gate-relay"`, `"`+board.Device+`"`, 1)
	if err := os.WriteFile(cfg, []byte(prod), 0o600); err != nil {
		t.Fatal(err)
	}
	unit := read(t, "gated.service")
	conds := execLines(unit, "ExecCondition")
	if len(conds) == 0 {
		t.Fatalf("gated.service has no ExecCondition= lines")
	}
	lines := append([]string{conds[0]}, execLines(unit, "ExecStopPost")...)
	for _, l := range lines {
		argv := strings.Fields(strings.TrimPrefix(l, "-"))
		for i, a := range argv {
			switch a {
			case "/usr/lib/gated/gated-lock":
				argv[i] = bin
			case "/etc/gated/gated.toml":
				argv[i] = cfg
			}
		}
		if argv[0] != bin {
			t.Fatalf("%q does not run gated-lock", l)
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "locked ") {
			t.Errorf("%s: %v, %q; want locked", l, err, out)
		}
		got, err := peer.ReadFull(4, 2*time.Second)
		if err != nil || !bytes.Equal(got, []byte{0xA0, 0x01, 0x00, 0xA1}) {
			t.Errorf("%s: board got % X (%v), want A0 01 00 A1", l, got, err)
		}
		if more := peer.Drain(); len(more) > 0 {
			t.Errorf("%s: board got % X after the lock, want nothing", l, more)
		}
	}
}
