package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv"
)

// evalBinary builds the real gated-eval command once per test run.
var evalOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gated-eval-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gated-eval")
	if out, err := exec.Command("go", "build", "-o", bin, "../gated-eval").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build gated-eval: %v\n%s", err, out)
	}
	return bin, nil
})

// evalPrediction is what `gated-eval --predict --json` says of a split.
type evalPrediction struct {
	Split struct {
		Roles map[string]string // photo (person/file) -> enroll, resident-probe, stranger-probe
	}
	Models []struct {
		ResidentsEnrolled int `json:"residents_enrolled"`
		Prediction        struct {
			Mode      string
			Threshold float32
			Granted   struct{ N, Of, Low, High int }
			Refused   struct{ N, Of, Low, High int }
			Probes    []struct {
				Photo, Person, Outcome, As string
				Resident                   bool
			}
		}
	}
}

// enrollFromPhotos enrolls a resident from photos through `gated face
// enroll`, as staff would, and reports whether the quality gate let at
// least one photo through.
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

// showFile puts a photo file in front of the camera.
func (r *gateRig) showFile(path string) {
	r.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	name := fmt.Sprintf("%d%s", time.Now().UnixNano(), filepath.Ext(path))
	tmp := filepath.Join(r.camera, "."+name)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.camera, name)); err != nil {
		r.t.Fatal(err)
	}
}

// blankFrame writes a grey 640x480 JPEG: a frame with no face, which ends
// a visit at the camera.
func blankFrame(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blank.jpg")
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	img.Set(0, 0, color.Gray{Y: 127})
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestGateDoesWhatTheEvaluationPredicts replays issue 17 end to end on the
// real binaries. gated-eval splits the shared East Asian photos (21
// residents, 3 enrollment photos each tried) and predicts, through the
// daemon's own enrollment quality gate and camera path, what the gate does
// with every probe photo. Then the gate is set up as a property office
// would: the residents added and enrolled from the same photos with
// `gated face enroll`. The same people enrolled at a second gate under
// other IDs, in another order, with each person's photos in another order,
// and the first gate restarted, give the same `gated calibrate --json`
// (all but its time). Finally every resident probe and a sample of
// stranger probes go to the folder camera: the grants and denials agree
// with the prediction, photo by photo and within its interval.
//
// Issue 17 asks for at least 20 residents enrolled. The split takes the
// first N people of the shuffled order (seed 1), so a larger N keeps the
// smaller one's residents: the first 20 give 19 that the quality gate
// takes, the first 21 give 20, so 21 are tried, and the test fails if
// fewer than 20 are enrolled.
func TestGateDoesWhatTheEvaluationPredicts(t *testing.T) {
	dir := testenv.SharedData(t, "faces-eastasian")
	ev, err := evalOnce()
	if err != nil {
		t.Fatal(err)
	}
	const threshold, margin = "0.9", "0.05"
	const residents, minEnrolled = 21, 20
	cmd := exec.Command(ev, "--photos", dir, "--models", testenv.Models(t), "--compare", "featurenet", "--predict",
		"--residents", fmt.Sprint(residents), "--seed", "1", "--templates", "3", "--mode", "identify", "--threshold", threshold, "--margin", margin,
		"--frames", "3", "--json")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gated-eval --predict: %v\n%s", err, out)
	}
	var pred evalPrediction
	if err := json.Unmarshal(out, &pred); err != nil || len(pred.Models) != 1 {
		t.Fatalf("gated-eval --predict --json: %v\n%s", err, out)
	}
	p := pred.Models[0].Prediction
	t.Logf("predicted: %d of %d resident photos granted (%d-%d), %d residents enrolled", p.Granted.N, p.Granted.Of, p.Granted.Low, p.Granted.High, pred.Models[0].ResidentsEnrolled)

	enroll := map[string][]string{} // person -> enrollment photos
	var strangers []string
	for photo, role := range pred.Split.Roles {
		person := filepath.Dir(photo)
		switch role {
		case "enroll":
			enroll[person] = append(enroll[person], filepath.Join(dir, photo))
		case "stranger-probe":
			strangers = append(strangers, photo)
		}
	}
	people := slices.Sorted(func(yield func(string) bool) {
		for p := range enroll {
			if !yield(p) {
				return
			}
		}
	})
	if len(people) != residents {
		t.Fatalf("the split has %d residents, want %d", len(people), residents)
	}
	set := map[string]string{"face.model": `"faceplugin-fr-feature-0.0.1"`, "face.calibrate": "false",
		"face.threshold": threshold, "face.margin": margin, "face.target": "0.05", "face.cooldown": `"500ms"`}

	a := startRigWith(t, set)
	person := map[string]string{} // resident ID -> person
	var enrolled []string
	for i, p := range people {
		ph := slices.Sorted(slices.Values(enroll[p]))
		id := a.addResident(p, fmt.Sprint(3000+i), "2468")
		person[id] = p
		if a.enrollFromPhotos(id, ph) {
			enrolled = append(enrolled, p)
		}
	}
	if got, want := len(enrolled), pred.Models[0].ResidentsEnrolled; got != want {
		t.Fatalf("gated face enroll took %d residents, gated-eval predicted %d", got, want)
	}
	if len(enrolled) < minEnrolled {
		t.Fatalf("gated face enroll took %d of %d residents, want at least %d (issue 17)", len(enrolled), residents, minEnrolled)
	}
	want := a.settledCalibration(len(enrolled))

	// A second gate: residents added in a random order (other IDs, in
	// another sorted order), each one's photos shuffled.
	b := startRigWith(t, set)
	rng := rand.New(rand.NewPCG(17, 2))
	order := slices.Clone(people)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i, p := range order {
		ph := slices.Clone(enroll[p])
		rng.Shuffle(len(ph), func(i, j int) { ph[i], ph[j] = ph[j], ph[i] })
		b.enrollFromPhotos(b.addResident(p, fmt.Sprint(5000+i), "1357"), ph)
	}
	if got := b.settledCalibration(len(enrolled)); !reflect.DeepEqual(got, want) {
		t.Errorf("the same templates under other IDs and in another order calibrate differently:\n got %v\nwant %v", got, want)
	}
	b.stop()

	a.stop()
	a.start()
	if got := a.settledCalibration(len(enrolled)); !reflect.DeepEqual(got, want) {
		t.Errorf("after a restart the calibration differs:\n got %v\nwant %v", got, want)
	}
	text := a.gated("calibrate")
	for _, part := range []string{"face mode: identify", "firmness: with 5 other bootstrap seeds the mode was", "residents accepted:"} {
		if !strings.Contains(text, part) {
			t.Fatalf("gated calibrate lacks %q:\n%s", part, text)
		}
	}

	// The probes: every resident photo, and every 5th stranger photo.
	slices.Sort(strangers)
	show := map[string]bool{}
	for i, s := range strangers {
		if i%5 == 0 {
			show[s] = true
		}
	}
	lines, _ := a.watch("--json")
	blank := blankFrame(t)
	var disagree []string
	granted, residentProbes, strangersIn := 0, 0, 0
	for _, pr := range p.Probes {
		if !pr.Resident && !show[pr.Photo] {
			continue
		}
		a.showFile(filepath.Join(dir, pr.Photo))
		got := "no-face"
		timeout := time.After(4 * time.Second)
	wait:
		for {
			select {
			case l := <-lines:
				var d struct{ Method, Outcome, Resident string }
				if json.Unmarshal([]byte(l), &d) != nil || d.Method != "face" {
					continue
				}
				switch {
				case d.Outcome != "granted":
					got = "refused"
				case !pr.Resident:
					got = "accepted"
				case person[d.Resident] == pr.Person:
					got = "granted"
				default:
					got = "misidentified"
				}
				break wait
			case <-timeout:
				break wait
			}
		}
		a.showFile(blank)
		time.Sleep(300 * time.Millisecond) // the blank frame ends the visit
		if got == "granted" || got == "misidentified" {
			time.Sleep(500 * time.Millisecond) // face.cooldown, before the same resident's next photo
		}
		if got != pr.Outcome {
			disagree = append(disagree, fmt.Sprintf("%s: gate %s, predicted %s", pr.Photo, got, pr.Outcome))
		}
		if pr.Resident {
			residentProbes++
			if got == "granted" {
				granted++
			}
		} else if got == "accepted" {
			strangersIn++
		}
	}
	t.Logf("gate: %d of %d resident photos granted, %d of %d stranger photos let in; %d disagreements with the prediction: %v",
		granted, residentProbes, strangersIn, len(show), len(disagree), disagree)
	if residentProbes != p.Granted.Of {
		t.Fatalf("showed %d resident photos, the prediction has %d", residentProbes, p.Granted.Of)
	}
	if granted < p.Granted.Low || granted > p.Granted.High {
		t.Errorf("the gate granted %d of %d resident photos: outside the predicted %d-%d", granted, residentProbes, p.Granted.Low, p.Granted.High)
	}
	if n := len(disagree); n > (residentProbes+len(show))/20 {
		t.Errorf("%d photos went otherwise than predicted (more than 5%%): %v", n, disagree)
	}
}
