package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
)

// TestSyncUnits checks the Syncthing units of the gate and the office: they
// load without a warning, rate as safe, run as gated-sync with no privilege,
// and reach only what docs/compound-transport.md says; gated.service keeps
// its private network, and gated-sync-setup's defaults are the gate unit's
// mount points.
func TestSyncUnits(t *testing.T) {
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	common := []string{"User=gated-sync", "Group=gated-sync", "StateDirectory=gated-sync", "StateDirectoryMode=0700",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
		"CapabilityBoundingSet=\n", "AmbientCapabilities=\n", "IPAddressDeny=any", "RestrictSUIDSGID=yes",
		"SystemCallFilter=@system-service", "UMask=0022", "--home /var/lib/gated-sync", "--no-restart"}
	for name, want := range map[string][]string{
		"gated-sync.service": {"ReadWritePaths=/var/lib/gated-sync\n", "BindPaths=/var/lib/gated/inbox:/var/lib/gated-sync/gate/inbox\n",
			"BindReadOnlyPaths=/var/lib/gated/outbox:/var/lib/gated-sync/gate/outbox\n", "InaccessiblePaths=-/etc/gated"},
		"gated-office-sync.service": {"ReadWritePaths=/var/lib/gated-sync /var/spool/gated-office/collect\n",
			"ReadOnlyPaths=/var/spool/gated-office/outbox\n"},
	} {
		unit := read(t, name)
		for _, w := range append(common, want...) {
			if !strings.Contains(unit, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
		// Loopback and private addresses only: never the internet.
		m := regexp.MustCompile(`(?m)^IPAddressAllow=(.*)$`).FindStringSubmatch(unit)
		if m == nil {
			t.Errorf("%s has no IPAddressAllow=", name)
		} else {
			for _, a := range strings.Fields(m[1]) {
				switch a {
				case "localhost", "link-local", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7":
				default:
					t.Errorf("%s allows %s: want loopback and private ranges only", name, a)
				}
			}
		}
		if strings.Contains(unit, "ReadWritePaths=/var/lib/gated\n") || strings.Contains(unit, "ReadWritePaths=/var/lib/gated ") {
			t.Errorf("%s may write all of /var/lib/gated", name)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/syncthing", "/bin/true")), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
		if lvl := exposure(t, sa, path); lvl > 1.5 {
			t.Errorf("%s: exposure level %v, want at most 1.5 (1.4 when written)", name, lvl)
		}
	}
	if gated := read(t, "gated.service"); !strings.Contains(gated, "PrivateNetwork=yes\n") || !strings.Contains(gated, "ReadWritePaths=/var/lib/gated\n") {
		t.Errorf("gated.service must keep PrivateNetwork=yes and write its inbox and outbox through ReadWritePaths=/var/lib/gated")
	}
	script := read(t, syncSetup)
	for _, w := range []string{"inbox=/var/lib/gated-sync/gate/inbox", "outbox=/var/lib/gated-sync/gate/outbox", "gui=127.0.0.1:8384"} {
		if !strings.Contains(script, w) {
			t.Errorf("gated-sync-setup's defaults lack %q (the unit's mount points, the loopback GUI)", w)
		}
	}
	sc := testenv.Program(t, "shellcheck", "shellcheck")
	if out, err := exec.Command(sc, "-s", "sh", syncSetup).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", syncSetup, err, out)
	}
}

// TestSpoolPermissions makes the gate's users (systemd-sysusers) and spool
// directories (systemd-tmpfiles, deploy/gated-sync.tmpfiles) in a scratch
// root, then acts as each user (setpriv, their uids and groups, no
// capabilities): the sync user writes the inbox and reads the outbox and
// nothing of gated's; gated reads and removes what arrived and writes the
// outbox; neither reaches the other's state.
func TestSpoolPermissions(t *testing.T) {
	sysusers := testenv.Program(t, "systemd-sysusers", "systemd")
	tmpfiles := testenv.Program(t, "systemd-tmpfiles", "systemd")
	setpriv := testenv.Program(t, "setpriv", "util-linux")
	unshare := testenv.Program(t, "unshare", "util-linux")
	if os.Geteuid() != 0 {
		t.Fatalf("run this test as root (CI does): it acts as the gate's users")
	}
	root := t.TempDir()
	// The users must reach the scratch root: open the test's own parent.
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	var confs []string
	for _, f := range []string{"gated.sysusers", "gated-sync.sysusers", "gated-sync.tmpfiles"} {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		confs = append(confs, abs)
	}
	if out, err := exec.Command(sysusers, "--root="+root, confs[0], confs[1]).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	if out, err := exec.Command(tmpfiles, "--root="+root, "--create", confs[2]).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-tmpfiles --create: %v\n%s", err, out)
	}
	ids := map[string][2]int{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z-]+):x:(\d+):(\d+):`).FindAllStringSubmatch(read(t, filepath.Join(root, "etc/passwd")), -1) {
		var u, g int
		fmt.Sscan(m[2], &u)
		fmt.Sscan(m[3], &g)
		ids[m[1]] = [2]int{u, g}
	}
	gated, syncu := ids["gated"], ids["gated-sync"]
	if gated[0] == 0 || syncu[0] == 0 {
		t.Fatalf("no users gated and gated-sync in %v", ids)
	}
	lib := filepath.Join(root, "var/lib")
	for path, want := range map[string]string{
		"gated": "drwx------ gated:gated", "gated/inbox": "dgtrwxrwx--- gated:gated-sync", "gated/outbox": "dgrwxr-x--- gated:gated-sync",
		"gated/inbox/.stignore": "-rw-r----- gated:gated-sync", "gated/outbox/.stignore": "-rw-r----- gated:gated-sync",
	} {
		fi, err := os.Stat(filepath.Join(lib, path))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		owner := map[int]string{gated[0]: "gated", syncu[0]: "gated-sync"}[int(st.Uid)]
		group := map[int]string{gated[1]: "gated", syncu[1]: "gated-sync"}[int(st.Gid)]
		if got := fmt.Sprintf("%s %s:%s", fi.Mode(), owner, group); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	// What the daemon and the sync user keep of their own.
	store := filepath.Join(lib, "gated/gated.db")
	if err := os.WriteFile(store, []byte("the store"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(store, gated[0], gated[1])
	home := filepath.Join(lib, "gated-sync")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "key.pem"), []byte("the sync key"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, syncu[0], syncu[1])
	os.Chown(filepath.Join(home, "key.pem"), syncu[0], syncu[1])

	// gated-sync.service's view: the inbox and outbox mounted in its home
	// (BindPaths=, BindReadOnlyPaths=), made here as systemd makes them,
	// in a mount namespace of the command's own.
	mountInbox, mountOutbox := filepath.Join(home, "gate/inbox"), filepath.Join(home, "gate/outbox")
	for _, d := range []string{mountInbox, mountOutbox} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	binds := fmt.Sprintf("mount --bind %s %s && mount --bind %s %s && mount -o remount,bind,ro %s && ",
		filepath.Join(lib, "gated/inbox"), mountInbox, filepath.Join(lib, "gated/outbox"), mountOutbox, mountOutbox)
	as := func(user [2]int, groups, script string) error {
		args := []string{setpriv, fmt.Sprintf("--reuid=%d", user[0]), fmt.Sprintf("--regid=%d", user[1]), "--no-new-privs", "--bounding-set=-all"}
		if groups == "" {
			args = append(args, "--clear-groups")
		} else {
			args = append(args, "--groups="+groups)
		}
		args = append(args, "--", "/bin/sh", "-c", script)
		var cmd *exec.Cmd
		if user == syncu {
			cmd = exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", binds+`exec "$@"`, "sh")
			cmd.Args = append(cmd.Args, args...)
		} else {
			cmd = exec.Command(args[0], args[1:]...)
		}
		cmd.Dir = lib
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	own := fmt.Sprint(gated[1]) // gated's own group
	for _, c := range []struct {
		who    string
		user   [2]int
		groups string
		script string
		ok     bool
	}{
		// Syncthing, as gated-sync.service runs it (UMask=0022), in its
		// own view: the inbox and outbox where its unit mounts them.
		{"sync writes a bundle into the inbox", syncu, "", "umask 022 && echo bundle > gated-sync/gate/inbox/.tmp && mv gated-sync/gate/inbox/.tmp gated-sync/gate/inbox/0001.gbundle", true},
		{"sync reads the inbox's ignore file", syncu, "", "grep -q gbundle gated-sync/gate/inbox/.stignore", true},
		{"sync removes the inbox's ignore file", syncu, "", "rm -f gated-sync/gate/inbox/.stignore", false},
		{"sync reaches the inbox by gated's path", syncu, "", "ls gated/inbox", false},
		{"sync reads the store", syncu, "", "cat gated/gated.db", false},
		{"sync lists gated's directory", syncu, "", "ls gated", false},
		{"sync writes the outbox", syncu, "", "echo x > gated-sync/gate/outbox/x.gevents", false},
		// The daemon, as gated.service runs it (UMask=0077, then 0640).
		{"gated writes an event bundle", gated, own, "umask 077 && echo events > gated/outbox/.t && chmod 0640 gated/outbox/.t && mv gated/outbox/.t gated/outbox/0001.gevents", true},
		{"gated writes an event bundle 0600", gated, own, "umask 077 && echo events > gated/outbox/0002.gevents", true},
		{"gated reads and removes an arrived bundle", gated, own, "cat gated/inbox/0001.gbundle && rm gated/inbox/0001.gbundle", true},
		{"gated reads the sync user's key", gated, own, "cat gated-sync/key.pem", false},
		// The sync user again, on what gated wrote.
		{"sync reads an event bundle", syncu, "", "cat gated-sync/gate/outbox/0001.gevents", true},
		{"sync reads a 0600 event bundle", syncu, "", "cat gated-sync/gate/outbox/0002.gevents", false},
		{"sync removes an event bundle", syncu, "", "rm gated-sync/gate/outbox/0001.gevents", false},
		{"sync changes the outbox's ignore file", syncu, "", "echo '*' >> gated-sync/gate/outbox/.stignore", false},
	} {
		err := as(c.user, c.groups, c.script)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want success %v", c.who, err, c.ok)
		}
	}
}
