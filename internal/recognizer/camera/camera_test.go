package camera_test

import (
	"context"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/camera"
	"github.com/gated-dev/gated/internal/testenv"
)

func TestOpenDeviceRefusesAnythingButLocalV4L2(t *testing.T) {
	for _, spec := range []string{
		"rtsp://192.0.2.1/stream",
		"http://192.0.2.1/video.mjpg",
		"udpsrc port=5000 ! appsink",
		"/etc/passwd", // a regular file, not a device
		"video0",
		"-1",
	} {
		if _, err := camera.OpenDevice(spec, camera.DeviceOptions{}); !errors.Is(err, camera.ErrNotLocal) {
			t.Errorf("OpenDevice(%q) = %v, want ErrNotLocal", spec, err)
		}
	}
	// A path that does not exist: an error naming it, not a network attempt.
	if _, err := camera.OpenDevice("/dev/video97", camera.DeviceOptions{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenDevice(/dev/video97) = %v, want a not-exist error", err)
	}
}

// photoDir copies real photos into a new folder under the given names.
func photoDir(t *testing.T, names map[string]string) string {
	t.Helper()
	src := testenv.SharedData(t, "faces/images")
	dir := t.TempDir()
	for to, from := range names {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, src interface {
	Read(context.Context) (camera.Frame, error)
}) (camera.Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return src.Read(ctx)
}

func TestFolderInNameOrderWithRepeatAndBadPhotos(t *testing.T) {
	dir := photoDir(t, map[string]string{"01.jpg": "tzuyu.jpg", "03.jpg": "bona2.jpg"})
	// A corrupt photo between them, and files that are not photos.
	os.WriteFile(filepath.Join(dir, "02.jpg"), []byte("\xff\xd8\xffnot really"), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600)
	os.WriteFile(filepath.Join(dir, ".04.jpg.partial"), []byte("x"), 0o600)

	f, err := camera.OpenFiles(dir, camera.FileOptions{Repeat: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type step struct {
		name  string
		w, h  int
		isErr bool
	}
	want := []step{{"01.jpg", 540, 810, false}, {"01.jpg", 540, 810, false}, {"02.jpg", 0, 0, true}, {"03.jpg", 682, 1024, false}, {"03.jpg", 682, 1024, false}}
	var seq uint64
	for i, w := range want {
		fr, err := read(t, f)
		if w.isErr {
			if !errors.Is(err, recognizer.ErrImage) {
				t.Fatalf("read %d: err = %v, want an ErrImage for the corrupt photo", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		seq++
		if fr.Name != w.name || fr.Mat.Cols() != w.w || fr.Mat.Rows() != w.h || fr.Seq != seq {
			t.Errorf("read %d = %s %dx%d seq %d, want %s %dx%d seq %d", i, fr.Name, fr.Mat.Cols(), fr.Mat.Rows(), fr.Seq, w.name, w.w, w.h, seq)
		}
		fr.Mat.Close()
	}
	if _, err := read(t, f); err != io.EOF {
		t.Errorf("read at the end = %v, want io.EOF", err)
	}
}

func TestFolderFollowSeesNewPhotos(t *testing.T) {
	dir := photoDir(t, map[string]string{"a.jpg": "tzuyu.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{Follow: true, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr, err := read(t, f)
	if err != nil || fr.Name != "a.jpg" {
		t.Fatalf("first read = %q, %v", fr.Name, err)
	}
	fr.Mat.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		b, _ := os.ReadFile(filepath.Join(dir, "a.jpg"))
		// Written under a hidden name, then renamed: never read half-written.
		os.WriteFile(filepath.Join(dir, ".b.jpg"), b, 0o600)
		os.Rename(filepath.Join(dir, ".b.jpg"), filepath.Join(dir, "b.jpg"))
	}()
	fr, err = read(t, f)
	if err != nil || fr.Name != "b.jpg" {
		t.Fatalf("read after a new photo = %q, %v, want b.jpg", fr.Name, err)
	}
	fr.Mat.Close()
	// Nothing new: Read waits until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read with nothing new = %v, want DeadlineExceeded", err)
	}
}

func TestVideoFileAndLoop(t *testing.T) {
	// Write a real MJPEG AVI from real photos, as a recorded gate camera.
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 10, 640, 480, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tzuyu.jpg", "bona2.jpg", "jimin2.jpg"} {
		b, err := os.ReadFile(filepath.Join(testenv.SharedData(t, "faces/images"), name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := recognizer.DecodeImage(b)
		if err != nil {
			t.Fatal(err)
		}
		frame := gocv.NewMat()
		gocv.Resize(m, &frame, image.Pt(640, 480), 0, 0, gocv.InterpolationArea)
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
		frame.Close()
		m.Close()
	}
	w.Close()

	f, err := camera.OpenFiles(path, camera.FileOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 7; i++ { // more than the 3 frames: the loop restarts
		fr, err := read(t, f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if fr.Mat.Cols() != 640 || fr.Mat.Rows() != 480 {
			t.Errorf("frame %d is %dx%d, want 640x480", i, fr.Mat.Cols(), fr.Mat.Rows())
		}
		fr.Mat.Close()
	}

	once, err := camera.OpenFiles(path, camera.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	n := 0
	for {
		fr, err := read(t, once)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fr.Mat.Close()
		n++
	}
	if n != 3 {
		t.Errorf("frames in the video = %d, want 3", n)
	}
}

func TestNotAVideo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.mp4")
	os.WriteFile(p, []byte("definitely not a video"), 0o600)
	if _, err := camera.OpenFiles(p, camera.FileOptions{}); err == nil {
		t.Errorf("OpenFiles(garbage .mp4) = nil error")
	}
	if _, err := camera.OpenFiles(filepath.Join(t.TempDir(), "missing"), camera.FileOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFiles(missing) = %v, want not-exist", err)
	}
}

func TestFPSPacing(t *testing.T) {
	dir := photoDir(t, map[string]string{"a.jpg": "tzuyu.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{FPS: 25, Repeat: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	for i := 0; i < 6; i++ {
		fr, err := read(t, f)
		if err != nil {
			t.Fatal(err)
		}
		fr.Mat.Close()
	}
	// Six frames at 25 fps span at least five frame intervals (200 ms).
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("6 frames at 25 fps took %v, want at least 200ms", el)
	}
}
