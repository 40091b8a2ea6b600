// Package packaging builds gated's Debian packages (build-deb.sh) and holds
// their maintainer scripts; its tests build the amd64 package and the models
// package and check every file, mode and owner in them, the control fields,
// the maintainer scripts and the unit as systemd reads it. It has no Go code
// of its own and must never grow any: what ships is deploy/, cmd/gated and
// cmd/gated-lock.
package packaging

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
)

// entry is one line of dpkg-deb --contents: mode, owner and path.
type entry struct{ mode, owner, path string }

// contents lists a package's files as dpkg-deb prints them.
func contents(t *testing.T, deb string) []entry {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents %s: %v", deb, err)
	}
	var es []entry
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents: cannot read %q", line)
		}
		es = append(es, entry{f[0], f[1], strings.TrimPrefix(f[5], ".")})
	}
	return es
}

// compare fails the test for every difference between got and want.
func compare(t *testing.T, deb string, got, want []entry) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s lacks %s %s %s", filepath.Base(deb), w.mode, w.owner, w.path)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("%s has %s %s %s, which is not expected", filepath.Base(deb), g.mode, g.owner, g.path)
		}
	}
}

// build runs build-deb.sh and returns the package it built.
func build(t *testing.T, args ...string) string {
	t.Helper()
	testenv.Program(t, "dpkg-deb", "dpkg")
	cmd := exec.Command("./build-deb.sh", args...)
	cmd.Env = append(os.Environ(), "DEB_COMPRESSION=gzip")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build-deb.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func field(t *testing.T, deb, name string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "--field", deb, name).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --field %s %s: %v", deb, name, err)
	}
	return strings.TrimSpace(string(out))
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// TestGatedPackage builds gated and gated-lock for amd64 as make release
// does, packages them, and checks the package: every file with its mode and
// owner, the control fields, that the files are the repository's, the
// md5sums, the binaries (gated-lock static), the unit as systemd-analyze
// reads it with the packaged binaries, and the maintainer scripts.
func TestGatedPackage(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "gated-linux-amd64")
	if out, err := exec.Command("../scripts/cross/build.sh", "amd64", bin).CombinedOutput(); err != nil {
		t.Fatalf("scripts/cross/build.sh amd64: %v\n%s", err, out)
	}
	lock := filepath.Join(tmp, "gated-lock-linux-amd64")
	if out, err := exec.Command("../scripts/cross/build-lock.sh", "amd64", lock).CombinedOutput(); err != nil {
		t.Fatalf("scripts/cross/build-lock.sh amd64: %v\n%s", err, out)
	}
	deb := build(t, "gated", "amd64", bin, lock, tmp)

	dir, file, exe := "drwxr-xr-x", "-rw-r--r--", "-rwxr-xr-x"
	want := []entry{{dir, "root/root", "/"}}
	for _, d := range []string{"/lib/", "/lib/systemd/", "/lib/systemd/system/", "/lib/udev/", "/lib/udev/rules.d/",
		"/usr/", "/usr/bin/", "/usr/lib/", "/usr/lib/gated/", "/usr/lib/sysusers.d/", "/usr/sbin/", "/usr/share/", "/usr/share/doc/",
		"/usr/share/doc/gated/", "/usr/share/gated/", "/usr/share/gated/models/", "/usr/share/gated/scripts/"} {
		want = append(want, entry{dir, "root/root", d})
	}
	for _, f := range []struct{ mode, path string }{
		{exe, "/usr/bin/gated"},
		{exe, "/usr/lib/gated/gated-lock"},
		{exe, "/usr/sbin/gated-fetch-models"},
		{exe, "/usr/share/gated/scripts/fetch-models.sh"},
		{file, "/usr/share/gated/models/SHA256SUMS"},
		{file, "/lib/systemd/system/gated.service"},
		{file, "/lib/systemd/system/gated-kiosk.service"},
		{file, "/lib/udev/rules.d/99-gated.rules"},
		{file, "/usr/lib/sysusers.d/gated.conf"},
		{file, "/usr/share/doc/gated/copyright"},
		{file, "/usr/share/doc/gated/gated.toml"},
		{file, "/usr/share/doc/gated/gated.toml.reference"},
		{file, "/usr/share/doc/gated/kiosk.conf"},
	} {
		want = append(want, entry{f.mode, "root/root", f.path})
	}
	compare(t, deb, contents(t, deb), want)

	if got := field(t, deb, "Package") + " " + field(t, deb, "Architecture"); got != "gated amd64" {
		t.Errorf("Package Architecture = %q, want gated amd64", got)
	}
	if v := field(t, deb, "Version"); !regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`).MatchString(v) {
		t.Errorf("Version = %q, not a Debian version", v)
	}
	depends := field(t, deb, "Depends")
	for _, d := range []string{"libc6 (>= ", "libdlib19.1 (>= ", "libopencv-core406 (>= ", "libopencv-dnn406 (>= ",
		"libjpeg62-turbo (>= ", "libblas3 | libblas.so.3", "liblapack3 | liblapack.so.3", "libstdc++6", "systemd (>= 247)", "init-system-helpers"} {
		if !strings.Contains(depends, d) {
			t.Errorf("Depends lacks %q: %s", d, depends)
		}
	}
	if strings.Contains(depends, ":") {
		t.Errorf("Depends has an architecture qualifier: %s", depends)
	}
	if r := field(t, deb, "Recommends"); !strings.Contains(r, "gated-models") {
		t.Errorf("Recommends = %q, want gated-models", r)
	}

	// The files are the repository's, and the md5sums match them.
	root := filepath.Join(tmp, "root")
	if out, err := exec.Command("dpkg-deb", "--raw-extract", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --raw-extract: %v\n%s", err, out)
	}
	for got, want := range map[string]string{
		"usr/bin/gated":                           bin,
		"usr/lib/gated/gated-lock":                lock,
		"lib/systemd/system/gated.service":        "../deploy/gated.service",
		"usr/lib/sysusers.d/gated.conf":           "../deploy/gated.sysusers",
		"lib/udev/rules.d/99-gated.rules":         "../deploy/99-gated.rules",
		"usr/share/doc/gated/gated.toml":          "../deploy/gated.toml",
		"usr/share/gated/models/SHA256SUMS":       "../models/SHA256SUMS",
		"usr/share/gated/scripts/fetch-models.sh": "../scripts/fetch-models.sh",
	} {
		sameFile(t, filepath.Join(root, got), want)
	}
	md5sum := exec.Command("md5sum", "--check", "--quiet", "DEBIAN/md5sums")
	md5sum.Dir = root
	if out, err := md5sum.CombinedOutput(); err != nil {
		t.Errorf("md5sums: %v\n%s", err, out)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		st, err := os.Stat(filepath.Join(root, "DEBIAN", s))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o755 {
			t.Errorf("DEBIAN/%s has mode %v, want 0755", s, st.Mode().Perm())
		}
	}

	out, err := exec.Command(filepath.Join(root, "usr/bin/gated"), "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gated ") {
		t.Errorf("packaged gated --version: %v, %q", err, out)
	}

	// The unit runs gated-lock before every start and after every stop:
	// the packaged one is static (it needs no Depends and starts in
	// milliseconds), and on the packaged configuration, whose relay board is
	// not plugged in here, it fails naming the board. `gated relay lock`,
	// the same lock by hand, likewise.
	packagedLock := filepath.Join(root, "usr/lib/gated/gated-lock")
	staticELF(t, packagedLock)
	cfg := filepath.Join(root, "usr/share/doc/gated/gated.toml")
	for _, argv := range [][]string{
		{packagedLock, "--config", cfg},
		{filepath.Join(root, "usr/bin/gated"), "relay", "lock", "--config", cfg},
	} {
		out, err = exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("/dev/gate-relay")) || !bytes.Contains(out, []byte("NOT CONFIRMED LOCKED")) {
			name := strings.Join(append([]string{filepath.Base(argv[0])}, argv[1:len(argv)-2]...), " ")
			t.Errorf("packaged %s without a relay board: %v, %q; want exit 1 naming /dev/gate-relay", name, err, out)
		}
	}
	// A gated-lock that is not static is refused: its libraries would be
	// missing from Depends.
	cmd := exec.Command("./build-deb.sh", "gated", "amd64", bin, bin, filepath.Join(tmp, "refused"))
	if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("is not static")) {
		t.Errorf("build-deb.sh with a dynamically linked gated-lock: %v, %q; want it refused as not static", err, out)
	}

	// systemd reads the packaged unit without a warning, with the packaged
	// binaries where the unit names /usr/bin/gated and gated-lock.
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/gated.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"/usr/lib/gated/gated-lock", "/usr/bin/gated"} {
		if !bytes.Contains(unit, []byte(b+" ")) {
			t.Errorf("the packaged unit does not run %s", b)
		}
		unit = bytes.ReplaceAll(unit, []byte(b+" "), []byte(filepath.Join(root, b)+" "))
	}
	unitPath := filepath.Join(tmp, "gated.service")
	if err := os.WriteFile(unitPath, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", unitPath).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify on the packaged unit: %v\n%s", err, out)
	}

	// The maintainer scripts: POSIX sh that shellcheck finds nothing in,
	// and a postinst that makes the state directory 0700 and the users.
	sc := testenv.Program(t, "shellcheck", "shellcheck")
	for _, s := range []string{"DEBIAN/postinst", "DEBIAN/prerm", "DEBIAN/postrm", "usr/sbin/gated-fetch-models"} {
		if out, err := exec.Command(sc, "--shell=sh", filepath.Join(root, s)).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
	postinst, err := os.ReadFile(filepath.Join(root, "DEBIAN/postinst"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"systemd-sysusers", `chown gated:gated "$DPKG_ROOT/var/lib/gated"`, `chmod 0700 "$DPKG_ROOT/var/lib/gated"`,
		"gated keygen --out /etc/gated/kek", "cp /usr/share/doc/gated/gated.toml /etc/gated/gated.toml"} {
		if !bytes.Contains(postinst, []byte(w)) {
			t.Errorf("postinst lacks %q", w)
		}
	}
}

// TestModelsPackage builds gated-models from the verified model cache and
// checks its files, their modes and that each is the file models/SHA256SUMS
// pins.
func TestModelsPackage(t *testing.T) {
	testenv.Models(t)
	tmp := t.TempDir()
	deb := build(t, "models", tmp)
	dir, file := "drwxr-xr-x", "-rw-r--r--"
	want := []entry{{dir, "root/root", "/"}}
	for _, d := range []string{"/usr/", "/usr/share/", "/usr/share/doc/", "/usr/share/doc/gated-models/",
		"/usr/share/gated/", "/usr/share/gated/models/", "/usr/share/gated/models/dlib/", "/usr/share/gated/models/yunet/"} {
		want = append(want, entry{dir, "root/root", d})
	}
	want = append(want, entry{file, "root/root", "/usr/share/doc/gated-models/copyright"})
	sums, err := os.ReadFile("../models/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, line := range strings.Split(string(sums), "\n") {
		if f := strings.Fields(line); len(f) == 2 && (strings.HasPrefix(f[1], "dlib/") || strings.HasPrefix(f[1], "yunet/")) {
			pinned[f[1]] = f[0]
			want = append(want, entry{file, "root/root", "/usr/share/gated/models/" + f[1]})
		}
	}
	if len(pinned) != 4 {
		t.Fatalf("models/SHA256SUMS pins %d dlib and YuNet files, want 4", len(pinned))
	}
	compare(t, deb, contents(t, deb), want)
	if got := field(t, deb, "Package") + " " + field(t, deb, "Architecture"); got != "gated-models all" {
		t.Errorf("Package Architecture = %q, want gated-models all", got)
	}

	root := filepath.Join(tmp, "root")
	if out, err := exec.Command("dpkg-deb", "--extract", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --extract: %v\n%s", err, out)
	}
	for rel, want := range pinned {
		b, err := os.ReadFile(filepath.Join(root, "usr/share/gated/models", rel))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s in gated-models has SHA-256 %s, want %s", rel, got, want)
		}
	}
}

// staticELF fails unless path is an ELF executable with no program
// interpreter and no shared library.
func staticELF(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", path, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q (%v), want none", path, libs, err)
	}
}
