package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// gatedEval runs the command as a function, with the test's environment.
func gatedEval(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, os.Getenv)
	return code, out.String(), errb.String()
}

// TestUsage: -h names the command and offers every model of the registry,
// the gate's and the research ones, by the names --compare takes.
func TestUsage(t *testing.T) {
	code, _, errs := gatedEval(t, "-h")
	if code != 0 || !strings.Contains(errs, "usage: gated-eval (--descriptors FILE | --photos DIR)") {
		t.Fatalf("gated-eval -h = %d, %q", code, errs)
	}
	for _, m := range models.FaceModels() {
		if !strings.Contains(errs, m.Short) {
			t.Errorf("gated-eval -h does not offer %s (%s):\n%s", m.Short, m.Name, errs)
		}
	}
}

func TestEvalOnIdols(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	code, out, errs := gatedEval(t, "--descriptors", idols)
	if code != 0 {
		t.Fatalf("gated-eval = %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"gated-eval: 1286 descriptors of 134 people",
		"5614 same-person pairs, 820641 different-person pairs",
		"67 residents, 201 templates",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gated-eval output lacks %q:\n%s", want, out)
		}
	}

	// FMR and FNMR at dlib's usual threshold, 0.6.
	if line := lineWith(out, "0.600 "); !strings.Contains(line, "92.56%") || !strings.Contains(line, "1.51%") {
		t.Errorf("gated-eval at 0.600: %q, want FMR 92.56%% and FNMR 1.51%%", line)
	}

	code, out, _ = gatedEval(t, "--descriptors", idols, "--json", "--threshold", "0.4", "--margin", "0.05")
	if code != 0 {
		t.Fatalf("gated-eval --json = %d", code)
	}
	var rep struct {
		People         int `json:"people"`
		Identification []struct {
			Threshold float32 `json:"threshold"`
			Margin    float32 `json:"margin"`
			Strangers int     `json:"strangers_accepted"`
			Probes    int     `json:"stranger_probes"`
		} `json:"identification"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("gated-eval --json: %v\n%s", err, out)
	}
	if rep.People != 134 || len(rep.Identification) != 1 || rep.Identification[0].Threshold != 0.4 || rep.Identification[0].Probes != 644 {
		t.Errorf("gated-eval --json = %+v", rep)
	}
}

func TestEvalBadInput(t *testing.T) {
	bad := t.TempDir() + "/bad.json"
	if err := os.WriteFile(bad, []byte(`{"faces": [{"idol_id": "a", "descriptor": "!!"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "exactly one of --descriptors and --photos"},
		{[]string{"--descriptors", bad}, 1, "malformed descriptor file"},
		{[]string{"--descriptors", "/nonexistent.json"}, 1, "no such file"},
		{[]string{"--descriptors", bad, "--thresholds", "x"}, 2, `"x" is not a non-negative number`},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--descriptors", bad, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--photos", t.TempDir()}, 1, "no photos"},
	}
	for _, tt := range tests {
		code, _, errs := gatedEval(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("gated-eval %v = %d, %q; want %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func TestEvalOnPhotos(t *testing.T) {
	// Three people with several real photos each, one sub-folder per person.
	dir := t.TempDir()
	for _, p := range []struct{ who, file string }{
		{"bona", "bona.jpg"}, {"bona", "bona2.jpg"}, {"bona", "bona3.jpg"},
		{"chaeyeon", "chaeyeon.jpg"}, {"chaeyeon", "chaeyeon2.jpg"}, {"chaeyeon", "chaeyeon3.jpg"},
		{"jimin", "jimin3.jpg"}, {"jimin", "jimin6.jpg"}, {"jimin", "jimin7.jpg"},
	} {
		if err := os.MkdirAll(filepath.Join(dir, p.who), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.who, p.file), testenv.Photo(t, p.file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := gatedEval(t, "--photos", dir, "--enroll", "all", "--models", testenv.Models(t), "--templates", "1")
	if code != 0 {
		t.Fatalf("gated-eval --photos = %d, %s", code, errs)
	}
	// jimin3.jpg is a profile the frontal detector does not find.
	for _, want := range []string{"8 descriptors of 3 people", "jimin/jimin3.jpg: no face found", "7 same-person pairs, 21 different-person pairs"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Every model of the registry that describes photos itself, on the same
	// photos, research ones included, each under the name its templates
	// would record; dlib-custom is dlib's own network given as a user's.
	// (dlib+white needs more people to fit: TestEvalCompareOnIdols.)
	var all []string
	for _, m := range models.FaceModels() {
		if m.Adapts == "" {
			all = append(all, m.Short)
		}
	}
	mdir := testenv.Models(t)
	code, out, errs = gatedEval(t, "--photos", dir, "--enroll", "all", "--models", mdir, "--templates", "1", "--compare", strings.Join(all, ","), "--jobs", "1",
		"--dlib-custom", filepath.Join(mdir, filepath.FromSlash(models.DlibResNet)), "--dlib-custom-sha256", models.Sums()[models.DlibResNet])
	if code != 0 {
		t.Fatalf("gated-eval --compare %v = %d, %s", all, code, errs)
	}
	for _, m := range models.FaceModels() {
		if m.Adapts == "" && !strings.Contains(out, m.Name) {
			t.Errorf("gated-eval --compare output does not name %s:\n%s", m.Name, out)
		}
	}
	if !strings.Contains(out, "8 photos of 3 people") {
		t.Errorf("gated-eval --compare output lacks %q:\n%s", "8 photos of 3 people", out)
	}

	// --compare featurenet alone takes --threshold and --margin in its own
	// distances, and says so (issue 13, 5.1).
	code, out, errs = gatedEval(t, "--photos", dir, "--enroll", "all", "--models", mdir, "--templates", "1", "--jobs", "1", "--compare", "featurenet",
		"--threshold", "1.05", "--margin", "0.03")
	if code != 0 {
		t.Fatalf("gated-eval --compare featurenet --threshold 1.05 = %d, %s", code, errs)
	}
	if !strings.Contains(out, models.FeatureNet+": thresholds 1.050 (--threshold), margins 0.030 (--margin)") {
		t.Errorf("gated-eval --compare featurenet does not say it used --threshold 1.05 and --margin 0.03:\n%s", out)
	}
	var policies [][]string // threshold and margin of each 1:N row
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 7 && f[0] == models.FeatureNet {
			policies = append(policies, f[1:3])
		}
	}
	if len(policies) != 1 || policies[0][0] != "1.050" || policies[0][1] != "0.030" {
		t.Errorf("gated-eval --compare featurenet: 1:N rows at %v, want only 1.050 with margin 0.030:\n%s", policies, out)
	}
}

func lineWith(text, sub string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
