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
	f, err := camera.OpenFiles(dir, camera.FileOptions{Follow: true, Replay: true, Poll: 10 * time.Millisecond})
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

// put writes a real photo into dir under name, as the tests and the demo
// do: under a hidden name, then renamed (never read half-written).
func put(t *testing.T, dir, name, photo string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.SharedData(t, "faces/images"), photo))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// expectFrame reads the next frame and checks which photo it is (by name
// and size); expectNothing checks that no frame comes for a while.
func expectFrame(t *testing.T, f *camera.Files, name string, w, h int) {
	t.Helper()
	fr, err := read(t, f)
	if err != nil {
		t.Fatalf("read = %v, want %s", err, name)
	}
	defer fr.Mat.Close()
	if fr.Name != name || fr.Mat.Cols() != w || fr.Mat.Rows() != h {
		t.Fatalf("read = %s %dx%d, want %s %dx%d", fr.Name, fr.Mat.Cols(), fr.Mat.Rows(), name, w, h)
	}
}

func expectNothing(t *testing.T, f *camera.Files, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	fr, err := f.Read(ctx)
	if err == nil {
		fr.Mat.Close()
		t.Fatalf("%s: read %s, want nothing", what, fr.Name)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: read = %v, want DeadlineExceeded", what, err)
	}
}

// TestFolderFollowShowsOnlyWhatArrives: a followed folder is a camera
// switched on: the photos already there (a restarted daemon's old ones) are
// not shown; a new photo is; a photo written again under a name already
// shown, with new content, the same content, or only a new modification
// time, is shown again.
func TestFolderFollowShowsOnlyWhatArrives(t *testing.T) {
	// tzuyu.jpg is 540x810, bona2.jpg 682x1024.
	dir := photoDir(t, map[string]string{"old1.jpg": "tzuyu.jpg", "old2.jpg": "bona2.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{Follow: true, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expectNothing(t, f, "photos in the folder before it was opened")

	put(t, dir, "new.jpg", "tzuyu.jpg")
	expectFrame(t, f, "new.jpg", 540, 810)
	expectNothing(t, f, "after the new photo")

	steps := []struct {
		what  string
		write func()
		name  string
		w, h  int
	}{
		{"new.jpg written again with another photo", func() { put(t, dir, "new.jpg", "bona2.jpg") }, "new.jpg", 682, 1024},
		{"new.jpg written again with the same photo", func() { put(t, dir, "new.jpg", "bona2.jpg") }, "new.jpg", 682, 1024},
		{"an old photo written again", func() { put(t, dir, "old2.jpg", "bona2.jpg") }, "old2.jpg", 682, 1024},
		{"an old photo touched", func() {
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(filepath.Join(dir, "old1.jpg"), later, later); err != nil {
				t.Fatal(err)
			}
		}, "old1.jpg", 540, 810},
	}
	for _, s := range steps {
		s.write()
		expectFrame(t, f, s.name, s.w, s.h)
		expectNothing(t, f, "after "+s.what)
	}

	// Taken away and written again: a new photo.
	os.Remove(filepath.Join(dir, "new.jpg"))
	expectNothing(t, f, "a photo taken away")
	put(t, dir, "new.jpg", "tzuyu.jpg")
	expectFrame(t, f, "new.jpg", 540, 810)
}

// TestFolderReplay: with Replay, the photos already in a followed folder
// are shown first, in name order, then the new ones.
func TestFolderReplay(t *testing.T) {
	dir := photoDir(t, map[string]string{"2.jpg": "bona2.jpg", "1.jpg": "tzuyu.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{Follow: true, Replay: true, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expectFrame(t, f, "1.jpg", 540, 810)
	expectFrame(t, f, "2.jpg", 682, 1024)
	expectNothing(t, f, "after the photos of the folder")
	put(t, dir, "3.jpg", "tzuyu.jpg")
	expectFrame(t, f, "3.jpg", 540, 810)
}

// TestFolderLoopAndFollow: a followed folder that loops starts over with
// the photos that arrived since it was opened, never the older ones.
func TestFolderLoopAndFollow(t *testing.T) {
	dir := photoDir(t, map[string]string{"old.jpg": "bona2.jpg"})
	f, err := camera.OpenFiles(dir, camera.FileOptions{Follow: true, Loop: true, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expectNothing(t, f, "only an old photo")
	put(t, dir, "new.jpg", "tzuyu.jpg")
	for range 3 {
		expectFrame(t, f, "new.jpg", 540, 810)
	}
}
