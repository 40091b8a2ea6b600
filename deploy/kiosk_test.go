package deploy

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv"
)

// TestKioskSandboxFitsChromium runs the real Chromium, with its own sandbox
// on, as an unprivileged user with no new privileges and no capabilities
// (as gated-kiosk.service runs it), traces its system calls, and checks that
// the unit's SystemCallFilter= allows every one and RestrictNamespaces=
// every namespace it makes: a filter that broke the resident screen would
// fail here, not on the gate. Headless, so without the display's DRM and
// input calls (all in @system-service: ioctl, the I/O and event calls).
func TestKioskSandboxFitsChromium(t *testing.T) {
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	chromium := testenv.Program(t, "chromium", "chromium")
	strace := testenv.Program(t, "strace", "strace")
	setpriv := testenv.Program(t, "setpriv", "util-linux")
	if os.Geteuid() != 0 {
		t.Fatalf("run this test as root (CI does): it runs Chromium as the unprivileged user nobody")
	}
	unit := read(t, "gated-kiosk.service")
	allowed := unitSyscalls(t, sa, unit)
	namespaces := unitNamespaces(t, unit)

	dir := t.TempDir()
	// nobody must reach its directory: open the test's own parent to it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "strace.out")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--bounding-set=-all", "--",
		"/usr/bin/env", "HOME="+dir, strace, "-f", "-qq", "-o", trace,
		chromium, "--headless", "--user-data-dir="+filepath.Join(dir, "profile"), "--no-first-run", "--incognito",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--dump-dom", "data:text/html,<p>gate</p><script>document.write(6*7)</script>")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "<p>gate</p>") || !strings.Contains(string(out), "42") {
		t.Fatalf("chromium under the kiosk's user limits: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	tr := string(b)
	// Chromium's sandbox was on: its renderers chroot into an empty
	// directory inside new namespaces.
	// (A call another thread interrupts is traced in two lines.)
	chroot := regexp.MustCompile(`(?m)^\d+ +chroot\("/proc/self/fdinfo/"\) += 0$`).MatchString(tr) ||
		regexp.MustCompile(`(?m)^\d+ +chroot\("/proc/self/fdinfo/" <unfinished \.\.\.>$`).MatchString(tr) &&
			regexp.MustCompile(`(?m)^\d+ +<\.\.\. chroot resumed>\) += 0$`).MatchString(tr)
	if !chroot {
		t.Errorf("Chromium's namespace sandbox did not engage (no chroot into /proc/self/fdinfo/)")
	}

	used := tracedSyscalls(tr)
	if len(used) < 50 {
		t.Fatalf("only %d distinct system calls traced: the trace is not Chromium's", len(used))
	}
	if d := denied(allowed, used); len(d) > 0 {
		t.Errorf("gated-kiosk.service's SystemCallFilter= denies system calls Chromium makes: %v", d)
	}

	flags := map[string]string{"CLONE_NEWUSER": "user", "CLONE_NEWPID": "pid", "CLONE_NEWNET": "net", "CLONE_NEWNS": "mnt",
		"CLONE_NEWUTS": "uts", "CLONE_NEWIPC": "ipc", "CLONE_NEWCGROUP": "cgroup"}
	made := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\d+ +(?:clone|clone3|unshare|setns)\(.*$`).FindAllString(tr, -1) {
		for flag, ns := range flags {
			if strings.Contains(m, flag) {
				made[ns] = true
			}
		}
	}
	if !made["user"] {
		t.Errorf("Chromium made no user namespace: its sandbox is not the one the unit was written for")
	}
	for ns := range made {
		if !namespaces[ns] {
			t.Errorf("Chromium makes a %s namespace; gated-kiosk.service's RestrictNamespaces= forbids it", ns)
		}
	}
	t.Logf("Chromium made %d distinct system calls and %d kinds of namespace, all allowed by the unit", len(used), len(made))
}

// tracedSyscalls counts the system calls of an strace -f log by name.
// strace names a number that is no system call "syscall_0x..." (one CI run
// of Chromium saw -14, once: probably a sandbox probe); the kernel answers
// ENOSYS to it under any filter, so it is no call a unit could allow or
// deny, and it is left out.
func tracedSyscalls(trace string) map[string]int {
	used := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\d+ +([a-z_][a-z0-9_]*)\(`).FindAllStringSubmatch(trace, -1) {
		if !strings.HasPrefix(m[1], "syscall_0x") {
			used[m[1]]++
		}
	}
	return used
}

// denied lists, sorted, the system calls of used that allowed (a unit's
// filter, unitSyscalls) does not allow.
func denied(allowed map[string]bool, used map[string]int) []string {
	var out []string
	for name := range used {
		if !allowed[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestTracedSyscalls reads strace -f lines as the sandbox tests get them:
// calls by name, an interrupted call once, a number that is no call left
// out; denied lists what a filter does not allow, sorted.
func TestTracedSyscalls(t *testing.T) {
	tr := `12 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
12 read(3, "x", 1) = 1
13 futex(0x7f, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>
12 openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)
13 <... futex resumed>) = 0
12 syscall_0xfffffffffffffff2(0, 0) = -1 ENOSYS (Function not implemented)
12 +++ exited with 0 +++
`
	used := tracedSyscalls(tr)
	want := map[string]int{"openat": 2, "read": 1, "futex": 1}
	if !maps.Equal(used, want) {
		t.Errorf("tracedSyscalls = %v, want %v", used, want)
	}
	if d := denied(map[string]bool{"read": true}, used); !slices.Equal(d, []string{"futex", "openat"}) {
		t.Errorf("denied(read only) = %v, want [futex openat]", d)
	}
}

// unitSyscalls is the set of system calls the unit's SystemCallFilter=
// lines allow: the first line is the allow list, later lines add to it or
// (with ~) take away, as systemd reads them.
func unitSyscalls(t *testing.T, sa, unit string) map[string]bool {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "SystemCallFilter="); ok {
			lines = append(lines, v)
		}
	}
	if len(lines) == 0 || strings.HasPrefix(lines[0], "~") {
		t.Fatalf("the unit has no SystemCallFilter= allow list: %q", lines)
	}
	groups := map[string][]string{}
	set := map[string]bool{}
	for _, l := range lines {
		deny := strings.HasPrefix(l, "~")
		for _, item := range strings.Fields(strings.TrimPrefix(l, "~")) {
			for _, name := range expandSyscalls(t, sa, item, groups) {
				set[name] = !deny
			}
		}
	}
	for name, ok := range set {
		if !ok {
			delete(set, name)
		}
	}
	return set
}

// expandSyscalls turns a system call or @group into system call names,
// asking systemd-analyze what a group holds.
func expandSyscalls(t *testing.T, sa, item string, cache map[string][]string) []string {
	t.Helper()
	if !strings.HasPrefix(item, "@") {
		return []string{item}
	}
	if names, ok := cache[item]; ok {
		return names
	}
	out, err := exec.Command(sa, "syscall-filter", item).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", item, err)
	}
	var names []string
	for i, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if i == 0 {
			if l != item {
				t.Fatalf("systemd-analyze syscall-filter %s printed %q first", item, l)
			}
			continue
		}
		if l == "" {
			break
		}
		if strings.HasPrefix(l, "#") {
			continue
		}
		names = append(names, expandSyscalls(t, sa, l, cache)...)
	}
	if len(names) == 0 {
		t.Fatalf("systemd-analyze knows no system call in %s", item)
	}
	cache[item] = names
	return names
}

// unitNamespaces is the set of namespace kinds RestrictNamespaces= allows.
func unitNamespaces(t *testing.T, unit string) map[string]bool {
	t.Helper()
	m := regexp.MustCompile(`(?m)^RestrictNamespaces=(.*)$`).FindStringSubmatch(unit)
	if m == nil || strings.HasPrefix(m[1], "~") || m[1] == "yes" || m[1] == "no" {
		t.Fatalf("gated-kiosk.service should list the namespaces it allows in RestrictNamespaces=, not %q", m)
	}
	set := map[string]bool{}
	for _, ns := range strings.Fields(m[1]) {
		set[ns] = true
	}
	return set
}
