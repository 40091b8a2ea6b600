package testenv

import (
	"os/exec"
	"slices"
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

// TestGateLinksNoResearchCode keeps research tooling out of the gate
// binary: gated links neither package eval nor gated-eval's research models
// (whitening, the TF.js runner, MobileFace), and no package but gated-eval
// imports eval. The same names must be in gated-eval's dependencies, so the
// test fails if they are renamed rather than passing on names that no
// longer exist.
func TestGateLinksNoResearchCode(t *testing.T) {
	const mod = "github.com/gated-dev/gated/"
	research := []string{
		mod + "internal/eval",
		mod + "cmd/gated-eval/internal/whiten",
		mod + "cmd/gated-eval/internal/tfjs",
		mod + "cmd/gated-eval/internal/mobileface",
	}
	isResearch := func(pkg string) bool {
		base := pkg[strings.LastIndex(pkg, "/")+1:]
		return strings.HasPrefix(pkg, mod+"internal/eval") || strings.HasPrefix(pkg, mod+"cmd/gated-eval") ||
			base == "whiten" || base == "tfjs" || base == "mobileface"
	}

	gate := goList(t, "-deps", "./cmd/gated")
	for _, p := range gate {
		if isResearch(p) {
			t.Errorf("go list -deps ./cmd/gated lists %s: research code in the gate binary (it belongs to cmd/gated-eval)", p)
		}
	}
	if !slices.Contains(gate, mod+"internal/recognizer/facemodel") {
		t.Errorf("go list -deps ./cmd/gated lacks internal/recognizer/facemodel: is this the gate?")
	}
	evalDeps := goList(t, "-deps", "./cmd/gated-eval")
	for _, p := range research {
		if !slices.Contains(evalDeps, p) {
			t.Errorf("go list -deps ./cmd/gated-eval lacks %s: update this test's names", p)
		}
	}

	for _, line := range goList(t, "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...") {
		pkg, imports, _ := strings.Cut(line, "|")
		if isResearch(pkg) {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if isResearch(imp) {
				t.Errorf("%s imports %s: only cmd/gated-eval and tests may", pkg, imp)
			}
		}
	}
}

// goList runs go list in the repository and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = Root(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
