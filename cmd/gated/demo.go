package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
)

// The demo's cast: real photos from face_recognition's test images
// (scripts/fetch-demo-photos.sh). Obama is the enrolled resident; Biden has
// never been enrolled.
var (
	demoEnroll = map[string][]string{"obama": {"obama.jpg", "obama2.jpg"}}
	demoScene  = []string{"obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"}
)

func runDemo(e *env, args []string) error {
	fs := newFlags(e, "demo", "[flags]")
	photos := fs.String("photos", defaultDemoPhotos(e.getenv), "folder with the demo photos (make setup fetches them)")
	models := fs.String("models", defaultModels(e.getenv), "model directory")
	threshold := fs.Float64("threshold", 0.5, "largest distance accepted as the same person")
	margin := fs.Float64("margin", 0.05, "how much nearer the best resident must be than the runner-up")
	fps := fs.Float64("fps", 2, "frames per second of the simulated camera")
	if err := parse(fs, args); err != nil {
		return err
	}
	policy := match.Policy{Threshold: float32(*threshold), MinMargin: float32(*margin)}
	if err := policy.Validate(); err != nil {
		return usageError{err.Error()}
	}
	rec, err := recognizer.Load(*models, recognizer.Options{})
	if err != nil {
		return err
	}
	defer rec.Close()
	out := e.stdout
	fmt.Fprintf(out, "gated demo: face pipeline on a simulated camera (models verified in %s)\n\n", *models)

	// Enrollment through the quality gate.
	gallery := match.New(recognizer.Dim)
	for who, files := range demoEnroll {
		for _, name := range files {
			b, err := os.ReadFile(filepath.Join(*photos, name))
			if err != nil {
				return fmt.Errorf("%w (run make setup to fetch the demo photos)", err)
			}
			m, err := recognizer.DecodeImage(b)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			faces, err := rec.Faces(m)
			a := recognizer.Assess(m, faces, recognizer.Quality{})
			m.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if a.Problem != recognizer.Good {
				fmt.Fprintf(out, "enroll %-6s from %-22s refused: %s\n", who, name, a.Problem.Advice("en"))
				continue
			}
			if err := gallery.Add(who, a.Face.Descriptor); err != nil {
				return err
			}
			fmt.Fprintf(out, "enroll %-6s from %-22s ok (face %dpx, sharpness %.0f, brightness %.0f)\n", who, name, a.FaceSide, a.Sharpness, a.Brightness)
		}
	}
	res, tmpl := gallery.Len()
	fmt.Fprintf(out, "gallery: %d resident(s), %d template(s); policy: distance < %.2f and margin >= %.2f\n\n", res, tmpl, policy.Threshold, policy.MinMargin)

	// The scene: photos appear one by one in the camera's folder.
	scene, err := os.MkdirTemp("", "gated-demo-camera-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scene)
	for i, name := range demoScene {
		if err := copyFile(filepath.Join(*photos, name), filepath.Join(scene, fmt.Sprintf("%02d-%s", i, name))); err != nil {
			return err
		}
	}
	cam, err := camera.OpenFiles(scene, camera.FileOptions{FPS: *fps})
	if err != nil {
		return err
	}
	defer cam.Close()
	for {
		fr, err := cam.Read(e.ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		start := time.Now()
		faces, err := rec.Faces(fr.Mat)
		fr.Mat.Close()
		if err != nil {
			fmt.Fprintf(out, "frame %d %-26s error: %v\n", fr.Seq, fr.Name, err)
			continue
		}
		if len(faces) == 0 {
			fmt.Fprintf(out, "frame %d %-26s no face (%v)\n", fr.Seq, fr.Name, time.Since(start).Round(time.Millisecond))
			continue
		}
		for _, f := range faces {
			r, err := gallery.Lookup(f.Descriptor)
			if err != nil {
				return err
			}
			took := time.Since(start).Round(time.Millisecond)
			if policy.Accept(r) {
				fmt.Fprintf(out, "frame %d %-26s GRANTED  %s (distance %.3f, margin %.3f, %v)\n", fr.Seq, fr.Name, r.Resident, r.Distance, r.Margin(), took)
			} else {
				fmt.Fprintf(out, "frame %d %-26s DENIED   not recognised (nearest %s at %.3f): please use your card or PIN (%v)\n", fr.Seq, fr.Name, r.Resident, r.Distance, took)
			}
		}
	}
	fmt.Fprintln(out, "\nNo photo or descriptor was written anywhere; the gallery lived in memory only.")
	return nil
}

func defaultDemoPhotos(getenv func(string) string) string {
	if c := getenv("GATED_CACHE"); c != "" {
		return c + "/demo-photos"
	}
	if c := getenv("XDG_CACHE_HOME"); c != "" {
		return c + "/gated/demo-photos"
	}
	return getenv("HOME") + "/.cache/gated/demo-photos"
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
