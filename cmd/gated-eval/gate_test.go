package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// ninePhotos writes three people with three real photos each, one
// sub-folder per person.
func ninePhotos(t *testing.T) string {
	t.Helper()
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
	return dir
}

// TestGateEnrollment: by default (--enroll gate) photos go through staff
// enrollment's quality gate with the daemon's model and detector, and the
// report counts what it refused and why, per model, and who could not be
// enrolled. On these photos fr-feature (YuNet) refuses jimin3.jpg, a
// profile (head turned), and chaeyeon.jpg (a second face in the
// background); so jimin, a resident with one enroll photo, is never
// enrolled, and the 1:N and calibration figures are on bona alone.
func TestGateEnrollment(t *testing.T) {
	dir := ninePhotos(t)
	code, out, errs := gatedEval(t, "--photos", dir, "--models", testenv.Models(t), "--templates", "1", "--compare", "featurenet",
		"--jobs", "1", "--json", "--quality", "--predict", "--mode", "identify", "--threshold", "1.0")
	if code != 0 {
		t.Fatalf("gated-eval --enroll gate = %d, %s", code, errs)
	}
	var rep gateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("gated-eval --json: %v\n%s", err, out)
	}
	if rep.Enroll != "gate" || rep.Detector != "yunet" || len(rep.Models) != 1 || rep.Models[0].Name != models.FeatureNet {
		t.Fatalf("gated-eval report = %+v, want gate, yunet, %s", rep, models.FeatureNet)
	}
	m := rep.Models[0]
	turned, several := "Head turned: look straight at the camera.", "More than one face: only the person enrolling should be in view."
	if m.Photos != 9 || m.LiveFaces != 9 || m.Enrollable != 7 || m.RefusedReasons[turned] != 1 || m.RefusedReasons[several] != 1 {
		t.Errorf("photos %d, live %d, enrollable %d, refused %v; want 9, 9, 7, one head turned and one with several faces",
			m.Photos, m.LiveFaces, m.Enrollable, m.RefusedReasons)
	}
	if m.Tried != 2 || m.Refused != 1 || m.SplitReasons[turned] != 1 || m.Residents != 2 || m.Enrolled != 1 || m.OneTemplate != 1 ||
		len(m.NotEnrolled) != 1 || m.NotEnrolled[0] != "jimin" {
		t.Errorf("split: tried %d, refused %d %v, residents %d, enrolled %d (%d with one template), not enrolled %v; want 2, 1 head turned, 2, 1 (1), [jimin]",
			m.Tried, m.Refused, m.SplitReasons, m.Residents, m.Enrolled, m.OneTemplate, m.NotEnrolled)
	}
	wantRoles := map[string]eval.Role{"bona/bona.jpg": eval.RoleEnroll, "bona/bona2.jpg": eval.RoleProbe, "jimin/jimin3.jpg": eval.RoleEnroll,
		"chaeyeon/chaeyeon.jpg": eval.RoleStranger}
	for photo, role := range wantRoles {
		if got := rep.Split.Roles[photo]; got != role {
			t.Errorf("role of %s = %q, want %q", photo, got, role)
		}
	}
	// The refused photo is lost: 4 resident probes (bona 2, jimin 2), 3
	// stranger probes.
	p := m.Prediction
	if p == nil || p.ResidentProbes != 4 || p.StrangerProbes != 3 || len(p.Probes) != 7 {
		t.Fatalf("prediction = %+v, want 4 resident and 3 stranger probes", p)
	}
	if p.Granted.N+p.Misidentified.N+p.Refused.N+p.NoFace.N != 4 || p.StrangersIn.N+p.StrangersRefused.N+p.StrangersNoFace.N != 3 {
		t.Errorf("prediction counts do not add up: %+v", p)
	}
	for _, o := range p.Probes {
		if o.Person == "jimin" && o.Outcome != eval.Refused {
			t.Errorf("%s (jimin, never enrolled) = %s, want refused", o.Photo, o.Outcome)
		}
		if c := p.Granted; c.Low > c.N || c.High < c.N {
			t.Errorf("granted interval %+v does not hold its count", c)
		}
	}
	if q := m.Quality; q == nil || q.Below["yaw"] != 1 || len(m.Measured) != 9 {
		t.Errorf("quality study = %+v, want one photo over the yaw threshold and 9 photos measured", q)
	}

	// The text report says the same in words.
	code, out, errs = gatedEval(t, "--photos", dir, "--models", testenv.Models(t), "--templates", "1", "--compare", "featurenet", "--jobs", "1")
	if code != 0 {
		t.Fatalf("gated-eval = %d, %s", code, errs)
	}
	for _, want := range []string{"as the gate would enroll them", "the split's enroll photos: 2 tried, 1 refused: 1 Head turned",
		"residents: 2, enrolled 1 (1 with one template), not enrolled 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("gated-eval output lacks %q:\n%s", want, out)
		}
	}
}

// TestGateFlags: the daemon-faithful mode's flags are refused where they
// mean nothing.
func TestGateFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--descriptors", "x.json", "--enroll", "gate"}, "--enroll gate needs --photos"},
		{[]string{"--photos", "x", "--enroll", "some"}, `--enroll "some"`},
		{[]string{"--photos", "x", "--enroll", "all", "--predict"}, "need --enroll gate"},
		{[]string{"--photos", "x", "--compare", "mobileface"}, "not a model the gate runs"},
		{[]string{"--photos", "x", "--compare", "dlib,featurenet", "--predict"}, "one model"},
		{[]string{"--photos", "x", "--predict", "--mode", "identify"}, "give one --threshold"},
		{[]string{"--photos", "x", "--predict", "--mode", "sometimes"}, `--mode "sometimes"`},
		// Red team: flags that were silently ignored.
		{[]string{"--photos", "x", "--mode", "verify"}, "--mode is for --predict"},
		{[]string{"--descriptors", "x.json", "--fuse", "1,3", "--json"}, "does not take --json"},
		{[]string{"--descriptors", "x.json", "--fuse", "1,3", "--calibrate"}, "does not take --calibrate"},
		{[]string{"--descriptors", "x.json", "--frames", "0"}, "--frames"},
		{[]string{"--descriptors", "x.json", "--frames", "1"}, "--frames is for --calibrate"},
		{[]string{"--descriptors", "x.json", "--target", "1e-3"}, "--target is for --calibrate"},
	} {
		if code, _, errs := gatedEval(t, tt.args...); code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("gated-eval %v = %d, %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
	}
}
