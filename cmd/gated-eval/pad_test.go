package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/recognizer/livenessnet"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

const manifestHead = "class\tsource_repo\tsource_commit\tsource_path\tsha256_of_original\tsubject\tattack_type\tsplit\tnotes\tfile\n"

func TestParseManifest(t *testing.T) {
	in := manifestHead +
		"bonafide\tr/a\tc\tp\th\tnuaa-0001\t\tshared\tn\tbonafide/nuaa__nuaa-0001__1.jpg\r\n" +
		"\n" +
		"attack\tr/b\tc\tp\th\tsuman\t\tshared\tn\tattack/cvz-suman__suman__2.jpg\n" +
		"attack\tr/b\tc\tp\th\tpagolu\tscreen\tshared\tn\tattack/cvz-pagolu__pagolu__3.jpg\n"
	got, err := parseManifest(strings.NewReader(in))
	if err != nil {
		t.Fatalf("parseManifest = %v", err)
	}
	want := map[string]padLabel{
		"bonafide/nuaa__nuaa-0001__1.jpg":  {Class: "bonafide", Subject: "nuaa-0001", Source: "r/a"},
		"attack/cvz-suman__suman__2.jpg":   {Class: "attack", AttackType: "unknown", Subject: "suman", Source: "r/b"},
		"attack/cvz-pagolu__pagolu__3.jpg": {Class: "attack", AttackType: "screen", Subject: "pagolu", Source: "r/b"},
	}
	if len(got) != len(want) {
		t.Fatalf("parseManifest = %d rows, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("parseManifest[%s] = %+v, want %+v", k, got[k], w)
		}
	}
	for _, bad := range []string{
		"",
		"class\tfile\n",
		manifestHead + "live\tr\tc\tp\th\ts\t\tshared\tn\tbonafide/x.jpg\n",
		manifestHead + "bonafide\tr\tc\tp\th\ts\n",
		manifestHead + "bonafide\tr\tc\tp\th\ts\t\tshared\tn\t\n",
		manifestHead + strings.Repeat("bonafide\tr\tc\tp\th\ts\t\tshared\tn\tbonafide/x.jpg\n", 2),
		manifestHead + strings.Repeat("x", maxManifestLine+1) + "\n",
	} {
		if m, err := parseManifest(strings.NewReader(bad)); err == nil {
			t.Errorf("parseManifest(%.60q) = %v, nil error; want an error", bad, m)
		}
	}
}

// FuzzParseManifest: any bytes give labels or an error, never a panic, and
// every label has a known class.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(manifestHead + "bonafide\tr/a\tc\tp\th\tnuaa-0001\t\tshared\tn\tbonafide/nuaa__nuaa-0001__1.jpg\n"))
	f.Add([]byte(manifestHead + "attack\tr/b\tc\tp\th\tsuman\tprint\tshared\tn\tattack/a.jpg\n"))
	f.Add([]byte("class\tfile\tsubject\tattack_type\nattack\tx\t\t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for k, l := range m {
			if k == "" || (l.Class != "bonafide" && l.Class != "attack") || (l.Class == "attack") != (l.AttackType != "") {
				t.Fatalf("parseManifest gave %q: %+v", k, l)
			}
		}
	})
}

func TestPadFamily(t *testing.T) {
	for _, c := range []struct{ in, fam, group string }{
		{"nuaa__nuaa-0001__1.jpg", "nuaa", "nuaa-0001"},
		{"cvz-suman__suman__206.jpg", "cvz", "suman"},
		{"pyis-shivam__shivam+adrian__84.jpg", "pyis", "shivam+adrian"},
		{"photo.jpg", "other", "photo"},
	} {
		if f, g := padFamily(c.in); f != c.fam || g != c.group {
			t.Errorf("padFamily(%q) = %q, %q; want %q, %q", c.in, f, g, c.fam, c.group)
		}
	}
}

func TestPadUsage(t *testing.T) {
	if code, _, errs := gatedEval(t, "pad", "--bonafide", t.TempDir()); code != 2 || !strings.Contains(errs, "--attack") {
		t.Errorf("gated-eval pad without --attack = %d, %q; want 2 naming --attack", code, errs)
	}
	if code, _, errs := gatedEval(t, "pad", "--bonafide", t.TempDir(), "--attack", t.TempDir(), "--layers", "net,height"); code != 2 || !strings.Contains(errs, "height") {
		t.Errorf("gated-eval pad --layers net,height = %d, %q; want 2 naming height", code, errs)
	}
}

// TestPadOnSampleFrames runs the whole command on the three Apache-2.0
// frames (upright copies named as two cvz- sources, so leave-one-source-out
// has something to train on): JSON with apcer and bpcer, no face missed,
// a time per face, and a cache that a second run reads.
func TestPadOnSampleFrames(t *testing.T) {
	dir := testenv.Models(t)
	if err := models.Verify(dir, livenessnet.File, models.YuNetFile); err != nil {
		t.Fatalf("%v: run scripts/fetch-face-model.sh liveness and scripts/fetch-face-model.sh yunet", err)
	}
	convert := testenv.Program(t, "convert", "imagemagick")
	src := testenv.SharedData(t, "pad")
	bona, att := t.TempDir(), t.TempDir()
	rot := func(in, out string, extra ...string) {
		args := append([]string{filepath.Join(src, in), "-rotate", "90"}, extra...)
		if out, err := runProgram(convert, append(args, out)...); err != nil {
			t.Fatalf("convert: %v: %s", err, out)
		}
	}
	rot("image_T1.jpg", filepath.Join(bona, "cvz-a__a__1.jpg"))
	rot("image_T1.jpg", filepath.Join(bona, "cvz-b__b__1.jpg"), "-flop")
	rot("image_F1.jpg", filepath.Join(att, "cvz-a__a__1.jpg"))
	rot("image_F2.jpg", filepath.Join(att, "cvz-b__b__1.jpg"))
	cache := filepath.Join(t.TempDir(), "cache.json")
	for i := range 2 {
		code, out, errs := gatedEval(t, "pad", "--bonafide", bona, "--attack", att, "--models", dir, "--cache", cache, "--layers", "net,edges", "--json", "--jobs", "1")
		if code != 0 {
			t.Fatalf("run %d: gated-eval pad = %d, %s", i, code, errs)
		}
		var rep struct {
			NoFace []struct {
				NoFace int `json:"no_face"`
			} `json:"no_face"`
			Times struct {
				Faces int     `json:"faces"`
				PadMS float64 `json:"pad_ms_mean"`
			} `json:"times"`
			Rows []struct {
				Layer, Family string
				AtOp          map[string]float64 `json:"at_operating_point"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("JSON: %v\n%s", err, out)
		}
		if rep.Times.Faces != 4 || !(rep.Times.PadMS > 0) {
			t.Errorf("times = %+v, want 4 faces and a time", rep.Times)
		}
		for _, n := range rep.NoFace {
			if n.NoFace != 0 {
				t.Errorf("no_face = %+v, want 0", rep.NoFace)
			}
		}
		n := 0
		for _, r := range rep.Rows {
			if r.Layer == "net" && r.Family == "cvz" {
				if _, ok := r.AtOp["apcer"]; !ok {
					t.Errorf("row %+v lacks apcer", r)
				}
				if _, ok := r.AtOp["bpcer"]; !ok {
					t.Errorf("row %+v lacks bpcer", r)
				}
				n++
			}
		}
		if n == 0 {
			t.Errorf("no net row for cvz in %s", out)
		}
		if i == 0 {
			if st, err := os.Stat(cache); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("cache %s: %v, %v; want a 0600 file", cache, st, err)
			}
		}
	}
}

func runProgram(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
