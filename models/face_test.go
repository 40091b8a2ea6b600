package models_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/models"
)

// TestFaceModelRegistry: every model's files are pinned in SHA256SUMS (a
// user-supplied file never is), names are unique, the default comes first,
// and every entry says its use and licence.
func TestFaceModelRegistry(t *testing.T) {
	sums := models.Sums()
	all := models.FaceModels()
	if len(all) == 0 || all[0].Name != models.Dlib || all[0].Use != models.Gate {
		t.Fatalf("FaceModels()[0] = %+v, want the default %s for the gate", all[0], models.Dlib)
	}
	owner := map[string]string{}
	for _, m := range all {
		for _, n := range []string{m.Name, m.Short} {
			if o, ok := owner[n]; n == "" || ok && o != m.Name {
				t.Errorf("%s: name %q empty or also %s's", m.Name, n, o)
			}
			owner[n] = m.Name
		}
		if m.Dim <= 0 || m.Licence == "" || (m.Use != models.Gate && m.Use != models.Research) {
			t.Errorf("%s: Dim %d, Licence %q, Use %v; want all set", m.Name, m.Dim, m.Licence, m.Use)
		}
		if len(m.Files) == 0 {
			t.Errorf("%s: no files", m.Name)
		}
		for _, f := range m.Files {
			if len(sums[f]) != 64 {
				t.Errorf("%s needs %s, which SHA256SUMS does not pin", m.Name, f)
			}
		}
		if _, pinned := sums[m.UserFile]; m.UserFile != "" && pinned {
			t.Errorf("%s: user file %s is pinned in SHA256SUMS; it must be checked against the user's SHA-256", m.Name, m.UserFile)
		}
		if a, ok := models.LookupFaceModel(m.Adapts); m.Adapts != "" && (!ok || a.Dim != m.Dim) {
			t.Errorf("%s adapts %q: unknown, or of another dimension", m.Name, m.Adapts)
		}
	}
	// A caller that changes its copy does not change the registry.
	all[0].Files[0] = "changed"
	if models.FaceModels()[0].Files[0] == "changed" {
		t.Errorf("FaceModels shares its slices with callers")
	}
	if got, want := models.FaceModelNames(models.Gate), []string{models.Dlib, models.FeatureNet, models.DlibCustom}; !slices.Equal(got, want) {
		t.Errorf("FaceModelNames(Gate) = %v, want %v", got, want)
	}
	if got, want := models.FaceModelNames(models.Research), []string{models.DlibWhiten, models.MobileFace}; !slices.Equal(got, want) {
		t.Errorf("FaceModelNames(Research) = %v, want %v", got, want)
	}
}

// TestGateFaceModel accepts exactly the gate's names (and "" for the
// default) and says why any other cannot be used.
func TestGateFaceModel(t *testing.T) {
	if m, err := models.GateFaceModel(""); err != nil || m.Name != models.Dlib {
		t.Errorf(`GateFaceModel("") = %q, %v; want %s`, m.Name, err, models.Dlib)
	}
	for _, m := range models.FaceModels() {
		got, err := models.GateFaceModel(m.Name)
		switch {
		case m.Use == models.Gate && (err != nil || got.Name != m.Name):
			t.Errorf("GateFaceModel(%s) = %q, %v; want it", m.Name, got.Name, err)
		case m.Use == models.Research && (err == nil || !strings.Contains(err.Error(), "research only")):
			t.Errorf("GateFaceModel(%s) = %v, want a research-only refusal", m.Name, err)
		}
	}
	for _, name := range []string{"dlib", "featurenet", "arcface-r100", "DLIB-RESNET-V1"} {
		if _, err := models.GateFaceModel(name); err == nil || !strings.Contains(err.Error(), models.Dlib) {
			t.Errorf("GateFaceModel(%q) = %v, want an error listing the gate's models", name, err)
		}
	}
}

// TestConfigAcceptsExactlyGateModels: face.model in a configuration takes
// the gate's models of the registry and nothing else (research models and
// gated-eval's short names included).
func TestConfigAcceptsExactlyGateModels(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "configs", "gated.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const line = `model = "dlib-resnet-v1"`
	if !strings.Contains(string(b), line) {
		t.Fatalf("configs/gated.toml has no line %s to replace", line)
	}
	if !slices.Equal(config.FaceModels, models.FaceModelNames(models.Gate)) {
		t.Errorf("config.FaceModels = %v, want the registry's gate models %v", config.FaceModels, models.FaceModelNames(models.Gate))
	}
	names := []string{"dlib", "arcface-r100"}
	for _, m := range models.FaceModels() {
		names = append(names, m.Name)
	}
	for _, name := range names {
		m, ok := models.LookupFaceModel(name)
		want := ok && m.Use == models.Gate
		cfg := strings.Replace(string(b), line, `model = "`+name+`"`+"\ncustom_sha256 = \""+strings.Repeat("ab", 32)+`"`, 1)
		_, err := config.Parse("gated.toml", []byte(cfg))
		if want && err != nil {
			t.Errorf("face.model = %q: %v, want accepted", name, err)
		}
		if !want && (err == nil || !strings.Contains(err.Error(), "face.model")) {
			t.Errorf("face.model = %q: %v, want refused naming face.model", name, err)
		}
	}
}

// TestVerifyFaceModel checks each model's pinned files: all are in the
// directory make setup fills, and an empty directory names every one.
func TestVerifyFaceModel(t *testing.T) {
	dir := testenv.Models(t)
	empty := t.TempDir()
	for _, m := range models.FaceModels() {
		if err := models.VerifyFaceModel(dir, m.Name); err != nil {
			t.Errorf("VerifyFaceModel(%s, %s) = %v (make setup fetches every model)", dir, m.Name, err)
		}
		err := models.VerifyFaceModel(empty, m.Name)
		if !errors.Is(err, models.ErrMissing) {
			t.Errorf("VerifyFaceModel(empty, %s) = %v, want ErrMissing", m.Name, err)
			continue
		}
		for _, f := range m.Files {
			if !strings.Contains(err.Error(), filepath.FromSlash(f)) {
				t.Errorf("VerifyFaceModel(empty, %s) does not name %s: %v", m.Name, f, err)
			}
		}
	}
	if err := models.VerifyFaceModel(dir, "arcface-r100"); err == nil {
		t.Errorf("VerifyFaceModel(unknown) = nil error")
	}
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GATED_MODELS": "/m", "GATED_CACHE": "/c", "HOME": "/h"}, "/m"},
		{map[string]string{"GATED_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c/models"},
		{map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/gated/models"},
		{map[string]string{"HOME": "/h"}, "/h/.cache/gated/models"},
	}
	for _, tt := range tests {
		if got := models.DefaultDir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DefaultDir(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}
