package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/gate"
)

// writeNIR writes the NIR partner of a colour photo: its grey, contrast
// changed (0.7 g + 35), or, dark, a screen's dark flat frame of its size.
func writeNIR(t *testing.T, colour, to string, dark bool) {
	t.Helper()
	f, err := os.Open(colour)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			v := color.GrayModel.Convert(src.At(x, y)).(color.Gray).Y
			g.SetGray(x, y, color.Gray{Y: uint8(0.7*float64(v) + 35)})
			if dark {
				g.SetGray(x, y, color.Gray{Y: uint8(18 + (x*7+y*13)%4)})
			}
		}
	}
	tmp := to + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(out, g, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// showPair shows a colour photo with its NIR partner (written first, so
// the colour frame finds it).
func (r *gateRig) showPair(photo string, dark bool) {
	r.t.Helper()
	name := fmt.Sprintf("%d", time.Now().UnixNano())
	writeNIR(r.t, filepath.Join(r.photos, photo), filepath.Join(r.camera, "."+name+".nir.jpg"), dark)
	if err := os.Rename(filepath.Join(r.camera, "."+name+".nir.jpg"), filepath.Join(r.camera, name+".nir.jpg")); err != nil {
		r.t.Fatal(err)
	}
	r.showAs(photo, name+".jpg")
}

// TestNIRPairOnTheRealBinary (issue 14 §1): a gate with a simulated NIR
// camera and no registration refuses faces as not live and says so; staff
// register it with gated camera nir-register; then a resident whose face
// the NIR frame shows is let in, and the same photo with nothing in NIR (a
// screen) is refused and audited as a suspected presentation attack.
func TestNIRPairOnTheRealBinary(t *testing.T) {
	r := newRig(t, map[string]string{"face.pad_max_apcer": "1", "face.margin": "0"})
	// The NIR partners live in the camera folder itself.
	cfg, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "[camera]\n", "[camera]\nnir.files = \""+r.camera+"\"\n", 1))
	if err := os.WriteFile(r.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := r.gatedErr("", "check", "--config", r.config); err != nil || !strings.Contains(out, "NIR camera fitted: not measured here") {
		t.Errorf("gated check with [camera.nir] = %v:\n%s\nwant it to say NIR is not measured", err, out)
	}
	r.start()
	if st := r.gated("status"); !strings.Contains(st, "NIR camera ([camera.nir]) is not registered") || !strings.Contains(st, "NOT REGISTERED") {
		t.Errorf("status of an unregistered NIR camera:\n%s", st)
	}
	id := r.addResident("Obama", "7001", "1234")
	r.gated("face", "enroll", id, "--photo", r.photos+"/obama.jpg", "--photo", r.photos+"/obama2.jpg", "--consent", "paper")
	lines, _ := r.watch("--json")

	// Unregistered: fails closed.
	r.showPair("obama.jpg", false)
	l := r.expectLine(lines, "a face before registration", 20*time.Second, `"method":"face"`)
	if !strings.Contains(l, `"denied"`) || !strings.Contains(l, gate.ReasonPresentation) {
		t.Errorf("unregistered NIR camera: %s, want denied: %q", l, gate.ReasonPresentation)
	}
	r.showFile(blankFrame(t))
	time.Sleep(300 * time.Millisecond)

	// Register: the command waits while pairs are shown.
	done := make(chan string, 1)
	go func() {
		out, err := r.gatedErr("", "camera", "nir-register", "--pairs", "5", "--timeout", "40s")
		if err != nil {
			out = "ERROR " + err.Error() + " " + out
		}
		done <- out
	}()
	time.Sleep(500 * time.Millisecond)
	var reg string
	for i := 0; reg == "" && i < 20; i++ {
		r.showPair("obama.jpg", false)
		select {
		case reg = <-done:
		case <-time.After(2 * time.Second):
		}
	}
	if !strings.Contains(reg, "NIR camera registered: scale 0.9") && !strings.Contains(reg, "NIR camera registered: scale 1.0") {
		t.Fatalf("gated camera nir-register: %s", reg)
	}
	// The registration's last frames (a face in both) may still reach the
	// gate and let Obama in: let them, then wait out the face cooldown.
	r.showFile(blankFrame(t))
	time.Sleep(6 * time.Second)
	for drained := false; !drained; {
		select {
		case <-lines:
		case <-r.opens:
		default:
			drained = true
		}
	}

	// A screen: the face in colour only.
	r.showPair("obama.jpg", true)
	l = r.expectLine(lines, "a face the NIR frame does not show", 20*time.Second, `"method":"face"`)
	if !strings.Contains(l, `"denied"`) || !strings.Contains(l, gate.ReasonPresentation) {
		t.Errorf("face only in colour: %s, want denied: %q", l, gate.ReasonPresentation)
	}
	r.expectShut("face only in colour", time.Second)
	r.showFile(blankFrame(t))
	time.Sleep(500 * time.Millisecond)

	// A live face: in both.
	r.showPair("obama.jpg", false)
	r.expectOpen("a face in both cameras", 20*time.Second)

	var es []struct{ Kind, Outcome, Detail, Actor string }
	if err := json.Unmarshal([]byte(r.gated("audit", "list", "--json", "--limit", "1000")), &es); err != nil {
		t.Fatal(err)
	}
	attacks, registered := 0, 0
	for _, e := range es {
		if strings.Contains(e.Detail, "presentation attack suspected layer=nir ") {
			attacks++
		}
		if strings.Contains(e.Detail, "NIR camera registered") {
			registered++
		}
	}
	if attacks != 2 || registered != 1 {
		t.Errorf("audit: %d suspected attacks with layer=nir (want 2), %d registrations (want 1)", attacks, registered)
	}
}
