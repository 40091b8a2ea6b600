package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// lockBinary builds gated-lock once per test run as the release does:
// pure Go, static (CGO_ENABLED=0).
func lockBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gated-lock-bin"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gated-lock")
		buildErr = goBuild(binPath, "CGO_ENABLED=0")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// goBuild builds this command into out with env added to the environment.
func goBuild(out string, env ...string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(env, " "), err, b)
	}
	return nil
}

// exitCode runs the command and returns its exit status and output.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%s: %v", cmd, err)
	return 0, ""
}

// TestCommand runs the built binary as systemd does: the exit status is
// what ExecStopPost= and ExecCondition= see.
func TestCommand(t *testing.T) {
	bin := lockBinary(t)
	g := newGate(t)
	code, out := exitCode(t, exec.Command(bin, "--config", g.config))
	if code != 0 || !strings.HasPrefix(out, "locked lcus board "+g.board.Device+" channel 1, fail-secure: sent A0 01 00 A1") {
		t.Fatalf("gated-lock = %d, %q; want 0 and what it sent", code, out)
	}
	g.expectFrame(t, "gated-lock", lcusOff)

	missing := filepath.Join(g.dir, "gate-relay-missing")
	code, out = exitCode(t, exec.Command(bin, "--config", g.variant("gone.toml", g.board.Device, missing)))
	if code != 1 || !strings.Contains(out, missing) || !strings.Contains(out, "NOT CONFIRMED LOCKED") {
		t.Errorf("gated-lock on a missing board = %d, %q; want 1, naming %s", code, out, missing)
	}
	if code, out = exitCode(t, exec.Command(bin, "--config")); code != 2 {
		t.Errorf("gated-lock --config (no value) = %d, %q; want 2", code, out)
	}
	g.expectNothing(t, "a failed lock and a bad command line")
}

// TestHungLineTimesOut: a serial line that never drains (its output
// stopped, as a wedged USB adapter or a flow-controlled line would be)
// blocks the write; gated-lock gives up after --timeout and exits 1,
// naming the device, rather than hanging until systemd's start timeout,
// which fails the unit whatever the "-" prefix says.
func TestHungLineTimesOut(t *testing.T) {
	bin := lockBinary(t)
	g := newGate(t)
	// Stop output on the device's side of the pty: writes to it block.
	f, err := os.OpenFile(g.board.Device, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TCXONC, unix.TCOOFF); err != nil {
		t.Fatalf("TCOOFF on %s: %v", g.board.Device, err)
	}

	// Without a timeout the write does block: the test makes the hang it
	// claims to survive.
	hung := exec.Command(bin, "--config", g.config, "--timeout", "1h")
	if err := hung.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- hung.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("gated-lock on a stopped line exited (%v) instead of blocking: the test cannot make a hung line", err)
	case <-time.After(time.Second):
		hung.Process.Kill()
		<-exited
	}

	start := time.Now()
	code, out := exitCode(t, exec.Command(bin, "--config", g.config, "--timeout", "300ms"))
	took := time.Since(start)
	if code != 1 || !strings.Contains(out, g.board.Device) || !strings.Contains(out, "did not finish within 300ms") {
		t.Errorf("gated-lock --timeout 300ms on a hung line = %d, %q; want 1, naming %s and the timeout", code, out, g.board.Device)
	}
	// Generous: the point is that it ends, not how fast (benchmarks do that).
	if took > 10*time.Second {
		t.Errorf("gated-lock --timeout 300ms on a hung line took %v", took)
	}

	// Output resumed: the lock is written again and arrives.
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TCXONC, unix.TCOON); err != nil {
		t.Fatal(err)
	}
	g.peer.Drain() // what the stopped attempts left in the line
	if code, out := exitCode(t, exec.Command(bin, "--config", g.config)); code != 0 {
		t.Errorf("gated-lock after the line resumed = %d, %q; want 0", code, out)
	}
	g.expectFrame(t, "gated-lock after the line resumed", lcusOff)
}

// TestPureGo keeps gated-lock small and static: with cgo available (as
// `go build` has it by default) none of its dependencies outside the
// standard library has cgo files, and none is the recognizer, gocv, go-face
// or dlib, the store or the daemon; built with CGO_ENABLED=0 for amd64 and
// arm64 it is a static ELF executable (no interpreter, no shared library).
// The standard library's cgo files (net's resolver, runtime/cgo) are left
// out by CGO_ENABLED=0, which the static check proves.
func TestPureGo(t *testing.T) {
	const mod = "github.com/gated-dev/gated/"
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}|{{.Standard}}|{{join .CgoFiles \" \"}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		pkg, std, cgo := f[0], f[1] == "true", f[2]
		deps = append(deps, pkg)
		if !std && cgo != "" {
			t.Errorf("gated-lock depends on %s, which has cgo files (%s): keep it pure Go", pkg, cgo)
		}
		low := strings.ToLower(pkg)
		// (The top-level models package may come in with the configuration,
		// which names the allowed face models from its registry: it is
		// pure Go and reads no model file unless asked.)
		for _, banned := range []string{"gocv", "go-face", "dlib", mod + "internal/recognizer", mod + "internal/store", mod + "internal/daemon"} {
			if strings.Contains(low, banned) {
				t.Errorf("gated-lock depends on %s: it needs only the configuration reader and the door", pkg)
			}
		}
	}
	for _, want := range []string{mod + "internal/config", mod + "internal/door", mod + "internal/relay"} {
		if !slices.Contains(deps, want) {
			t.Errorf("go list -deps lacks %s: is this gated-lock?", want)
		}
	}

	for _, arch := range []struct {
		goarch  string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}} {
		t.Run(arch.goarch, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "gated-lock")
			if err := goBuild(bin, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.goarch); err != nil {
				t.Fatal(err)
			}
			staticELF(t, bin, arch.machine)
		})
	}
	staticELF(t, lockBinary(t), elf.EM_X86_64)
}

// staticELF fails unless path is an ELF executable for machine with no
// program interpreter and no shared library.
func staticELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: %v %v, want %v ET_EXEC", path, f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", path, p.Type)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q, want none", path, libs)
	}
}
