package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCgoStaysInRecognizer keeps gated's cgo (dlib through go-face, OpenCV
// through gocv) inside internal/recognizer: no other package imports it,
// and only the command and the daemon that wires the recognizer in link it;
// every other package builds and tests with CGO_ENABLED=0.
func TestCgoStaysInRecognizer(t *testing.T) {
	root := Root(t)
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/gated-dev/gated/"
	cgoPkgs := []string{"gocv.io/x/gocv", "github.com/Kagami/go-face"}
	mayImport := func(pkg string) bool {
		return strings.HasPrefix(pkg, mod+"internal/recognizer")
	}
	mayDepend := func(pkg string) bool {
		return mayImport(pkg) || strings.HasPrefix(pkg, mod+"cmd/") || pkg == mod+"internal/daemon"
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		pkg, imports, deps := f[0], strings.Fields(f[1]), strings.Fields(f[2])
		n++
		for _, c := range cgoPkgs {
			for _, imp := range imports {
				if imp == c && !mayImport(pkg) {
					t.Errorf("%s imports %s: only internal/recognizer/... may", pkg, c)
				}
			}
			for _, d := range deps {
				if d == c && !mayDepend(pkg) {
					t.Errorf("%s depends on %s (cgo): keep it pure Go", pkg, c)
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list found only %d packages", n)
	}
}
