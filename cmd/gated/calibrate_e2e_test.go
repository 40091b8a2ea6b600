package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv"
)

// eastAsian lists the shared East Asian photos of every person with at
// least min of them: people sorted, each one's photos sorted.
func eastAsian(t *testing.T, min int) (people []string, photos map[string][]string) {
	t.Helper()
	dir := testenv.SharedData(t, "faces-eastasian")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	photos = map[string][]string{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		fs, err := filepath.Glob(filepath.Join(dir, e.Name(), "*"))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(fs)
		if len(fs) >= min {
			people = append(people, e.Name())
			photos[e.Name()] = fs
		}
	}
	return people, photos
}

// enrollFromPhotos enrolls person (already a resident) from photos through
// `gated face enroll`, as staff would, and reports whether the quality gate
// let at least one photo through.
func (r *gateRig) enrollFromPhotos(id string, photos []string) bool {
	r.t.Helper()
	args := []string{"face", "enroll", id, "--consent", "paper"}
	for _, p := range photos {
		args = append(args, "--photo", p)
	}
	out, err := r.gatedErr("", args...)
	if err != nil && !strings.Contains(out, "no photo passed the quality gate") {
		r.t.Fatalf("gated face enroll: %v\n%s", err, out)
	}
	return err == nil
}

// settledCalibration waits until the gate's calibration covers residents
// and carries its spread, and returns `gated calibrate --json` without the
// time it was made.
func (r *gateRig) settledCalibration(residents int) map[string]any {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var c map[string]any
		if err := json.Unmarshal([]byte(r.gated("calibrate", "--json")), &c); err != nil {
			r.t.Fatal(err)
		}
		if n, _ := c["residents"].(float64); int(n) == residents && c["spread"] != nil {
			delete(c, "at")
			return c
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("calibration did not settle on %d residents within 60 s: %v", residents, c)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCalibrationIsAFunctionOfTheTemplates replays issue 17: the same
// people enrolled from the same photos at two gates, under other resident
// IDs, in another order and with each person's photos in another order,
// and one of the gates restarted, give the same `gated calibrate --json`
// (all but its time), and staff see how firm the choice is.
func TestCalibrationIsAFunctionOfTheTemplates(t *testing.T) {
	people, photos := eastAsian(t, 4)
	set := map[string]string{"face.calibrate": "true", "face.model": `"faceplugin-fr-feature-0.0.1"`, "face.target": "1e-3"}

	a := startRigWith(t, set)
	var enrolled []string
	for i, p := range people {
		id := a.addResident(p, fmt.Sprint(3000+i), "2468")
		if a.enrollFromPhotos(id, photos[p][:3]) {
			enrolled = append(enrolled, p)
		}
	}
	if len(enrolled) < 20 {
		t.Fatalf("only %d of %d people enrolled from their first 3 photos: the test needs 20", len(enrolled), len(people))
	}
	want := a.settledCalibration(len(enrolled))
	t.Logf("%d of %d people enrolled; calibration: %v", len(enrolled), len(people), want)

	// A second gate: residents added in a random order (so other IDs, in
	// another sorted order), each one's photos shuffled.
	b := startRigWith(t, set)
	rng := rand.New(rand.NewPCG(17, 2))
	order := slices.Clone(people)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var again []string
	for i, p := range order {
		ph := slices.Clone(photos[p][:3])
		rng.Shuffle(len(ph), func(i, j int) { ph[i], ph[j] = ph[j], ph[i] })
		if b.enrollFromPhotos(b.addResident(p, fmt.Sprint(5000+i), "1357"), ph) {
			again = append(again, p)
		}
	}
	slices.Sort(again)
	if !slices.Equal(again, enrolled) {
		t.Fatalf("the quality gate let other people through at the second gate: %v, want %v", again, enrolled)
	}
	if got := b.settledCalibration(len(enrolled)); !reflect.DeepEqual(got, want) {
		t.Errorf("the same templates under other IDs and in another order calibrate differently:\n got %v\nwant %v", got, want)
	}

	a.stop()
	a.start()
	if got := a.settledCalibration(len(enrolled)); !reflect.DeepEqual(got, want) {
		t.Errorf("after a restart the calibration differs:\n got %v\nwant %v", got, want)
	}
	text := a.gated("calibrate")
	for _, part := range []string{"firmness: with 5 other bootstrap seeds the mode was", "residents accepted:"} {
		if !strings.Contains(text, part) {
			t.Errorf("gated calibrate lacks %q:\n%s", part, text)
		}
	}
}
