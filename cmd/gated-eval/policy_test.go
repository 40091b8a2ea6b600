package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/testenv"
)

// compareJSON is what the tests read of gated-eval --compare --json.
type compareJSON struct {
	Models []struct {
		Name  string `json:"name"`
		Curve []struct {
			Threshold float32 `json:"threshold"`
			FMR       float64 `json:"fmr"`
			FNMR      float64 `json:"fnmr"`
		} `json:"curve"`
		Policy string `json:"policy"`
		Ident  []struct {
			Threshold float32 `json:"threshold"`
			Margin    float32 `json:"margin"`
		} `json:"identification"`
	} `json:"models"`
	Calibration []struct {
		Model     string `json:"model"`
		TooSmall  string `json:"too_small"`
		Mode      string `json:"mode"`
		Residents int    `json:"residents"`
	} `json:"calibration"`
}

func compareRun(t *testing.T, args ...string) compareJSON {
	t.Helper()
	code, out, errs := gatedEval(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("gated-eval %v = %d, stderr %q", args, code, errs)
	}
	var c compareJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("gated-eval %v: %v\n%s", args, err, out)
	}
	return c
}

func near(a, b float32) bool { return a-b < 1e-5 && b-a < 1e-5 }

// TestCompareTakesThresholdAndMargin: --threshold and --margin apply in
// compare mode, per model where distances differ in scale (issue 13, 5.1);
// a bare distance for several models is refused, saying why.
func TestCompareTakesThresholdAndMargin(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")

	// One model through the compare path: the values apply as given.
	c := compareRun(t, "--descriptors", idols, "--compare", "dlib+white", "--threshold", "0.9", "--margin", "0.05")
	if m := c.Models[0]; len(m.Ident) != 1 || !near(m.Ident[0].Threshold, 0.9) || !near(m.Ident[0].Margin, 0.05) {
		t.Errorf("--compare dlib+white --threshold 0.9 --margin 0.05: 1:N at %+v, want only 0.9 with margin 0.05", m.Ident)
	}
	if p := c.Models[0].Policy; !strings.Contains(p, "0.900 (--threshold)") || !strings.Contains(p, "0.050 (--margin)") {
		t.Errorf("policy = %q, want it to say 0.900 from --threshold and 0.050 from --margin", p)
	}

	// Several models: one model's own threshold, a margin as a share.
	c = compareRun(t, "--descriptors", idols, "--compare", "dlib,dlib+white", "--threshold", "dlib+white=0.9", "--margin", "5%")
	dl, wh := c.Models[0], c.Models[1]
	if len(wh.Ident) != 1 || !near(wh.Ident[0].Threshold, 0.9) || !near(wh.Ident[0].Margin, 0.045) {
		t.Errorf("dlib+white 1:N at %+v, want only 0.9 with margin 0.045 (5%%)", wh.Ident)
	}
	if len(dl.Ident) != 2 { // its thresholds at FMR 1% and 0.1%, by one margin
		t.Errorf("dlib 1:N at %+v, want 2 policies (default thresholds, 5%% margin)", dl.Ident)
	}
	for _, p := range dl.Ident {
		if !near(p.Margin, 0.05*p.Threshold) {
			t.Errorf("dlib margin %v at threshold %v, want 5%% of it", p.Margin, p.Threshold)
		}
	}
	if !strings.Contains(dl.Policy, "target FMR (default)") || !strings.Contains(wh.Policy, "0.900 (--threshold)") {
		t.Errorf("policies %q and %q, want dlib's default and dlib+white's from --threshold", dl.Policy, wh.Policy)
	}
	code, out, _ := gatedEval(t, "--descriptors", idols, "--compare", "dlib,dlib+white", "--threshold", "dlib=0.383,dlib+white=0.9")
	if code != 0 || !strings.Contains(out, "dlib-resnet-v1: thresholds 0.383 (--threshold)") || !strings.Contains(out, "dlib-resnet-v1+whiten: thresholds 0.900 (--threshold)") {
		t.Errorf("gated-eval --threshold dlib=0.383,dlib+white=0.9 = %d, output does not say each model's threshold:\n%s", code, out)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--threshold", "0.4"}, "own scales"},
		{[]string{"--margin", "0.02"}, "--margin 5%"},
		{[]string{"--thresholds", "0.4"}, "--thresholds dlib=0.4"},
		{[]string{"--threshold", "featurenet=1"}, "names no model"},
		{[]string{"--threshold", "dlib=5%"}, "not a share"},
	} {
		args := append([]string{"--descriptors", idols, "--compare", "dlib,dlib+white"}, bad.args...)
		if code, _, errs := gatedEval(t, args...); code != 2 || !strings.Contains(errs, bad.want) {
			t.Errorf("gated-eval %v = %d, %q; want 2 and %q", bad.args, code, errs, bad.want)
		}
	}
}

// TestCalibrateSmallGallery: a gallery under 10 residents is reported as
// too small to calibrate, model by model, and the rest of the report
// follows with status 0 (issue 13, 5.2).
func TestCalibrateSmallGallery(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	// Every 20th of 134 people: 7 residents.
	code, out, errs := gatedEval(t, "--descriptors", idols, "--compare", "dlib,dlib+white", "--calibrate", "--enroll-every", "20")
	if code != 0 {
		t.Fatalf("gated-eval --calibrate on 7 residents = %d, stderr %q", code, errs)
	}
	for _, want := range []string{
		"1:1 verification",
		"1:N identification: every 20. person enrolled with 3 templates (7 residents",
		"dlib-resnet-v1: too small to calibrate: 7 residents, need 10",
		"dlib-resnet-v1+whiten: too small to calibrate: 7 residents, need 10",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// dlib alone, and a gallery of enough residents with one template each.
	c := compareRun(t, "--descriptors", idols, "--calibrate", "--enroll-every", "20")
	if len(c.Calibration) != 1 || c.Calibration[0].TooSmall != "too small to calibrate: 7 residents, need 10" || c.Calibration[0].Mode != "" || len(c.Models) != 1 {
		t.Errorf("--calibrate --json on 7 residents: %+v", c)
	}
	c = compareRun(t, "--descriptors", idols, "--calibrate", "--templates", "1")
	if len(c.Calibration) != 1 || c.Calibration[0].TooSmall != "too small to calibrate: 0 residents with two or more templates, need 3" {
		t.Errorf("--calibrate --templates 1: %+v", c.Calibration)
	}
}

// TestCompareCurveOnEachModelsScale: the fixed-threshold table gives each
// model thresholds on its own distances, not dlib's 0.30-0.70 (issue 13,
// 5.3): from where its FMR is at most 0.1% to where its FNMR is about 1%.
func TestCompareCurveOnEachModelsScale(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	c := compareRun(t, "--descriptors", idols, "--compare", "dlib,dlib+white")
	for _, m := range c.Models {
		if len(m.Curve) < 3 || len(m.Curve) > 10 {
			t.Errorf("%s: %d thresholds, want 3 to 10", m.Name, len(m.Curve))
			continue
		}
		first, last := m.Curve[0], m.Curve[len(m.Curve)-1]
		if first.FMR > 0.001 || last.FNMR > 0.011 {
			t.Errorf("%s: curve from %.3f (FMR %.4f) to %.3f (FNMR %.4f); want FMR <= 0.1%% first and FNMR <= about 1%% last",
				m.Name, first.Threshold, first.FMR, last.Threshold, last.FNMR)
		}
	}
	// A model's own thresholds where given, the others' fitted.
	c = compareRun(t, "--descriptors", idols, "--compare", "dlib,dlib+white", "--thresholds", "dlib=0.45,dlib=0.383")
	if got := c.Models[0].Curve; len(got) != 2 || !near(got[0].Threshold, 0.383) || !near(got[1].Threshold, 0.45) {
		t.Errorf("--thresholds dlib=0.45,dlib=0.383: dlib curve %+v, want 0.383 and 0.45", got)
	}
	if got := c.Models[1].Curve; len(got) < 3 || got[0].Threshold < 0.7 {
		t.Errorf("dlib+white curve %+v, want its own range (whitened distances lie near 1)", got)
	}
}

// twoDecimals is a number printed with two decimals that is not a
// percentage.
var twoDecimals = regexp.MustCompile(`(^|[\s(])\d+\.\d\d([\s)]|$)`)

// TestThresholdsHaveThreeDecimals: 0.383 is shown as 0.383 wherever a
// threshold is (issue 13, 5.4).
func TestThresholdsHaveThreeDecimals(t *testing.T) {
	idols := testenv.SharedData(t, "faces/idols.json")
	for _, args := range [][]string{
		{"--compare", "dlib+white", "--thresholds", "0.383,0.9", "--threshold", "0.383", "--drop-duplicates", "0.1"},
		{"--compare", "dlib,dlib+white", "--thresholds", "dlib=0.383", "--threshold", "dlib=0.383"},
		{"--thresholds", "0.383", "--threshold", "0.383"},
	} {
		code, out, errs := gatedEval(t, append([]string{"--descriptors", idols}, args...)...)
		if code != 0 {
			t.Fatalf("gated-eval %v = %d, %q", args, code, errs)
		}
		if n := strings.Count(out, "0.383"); n < 2 {
			t.Errorf("gated-eval %v shows 0.383 %d times, want in the 1:1 table and in 1:N:\n%s", args, n, out)
		}
		if m := twoDecimals.FindString(out); m != "" {
			t.Errorf("gated-eval %v prints %q with two decimals:\n%s", args, m, out)
		}
	}
}
