package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	"github.com/gated-dev/gated/internal/recognizer"
)

// FileOptions control a file source.
type FileOptions struct {
	// FPS paces frames as a camera would; 0 delivers them as fast as read.
	FPS float64
	// Repeat delivers each photo this many times in a row (default 1), as a
	// camera sees a person standing still for several frames.
	Repeat int
	// Loop starts again from the first photo or video frame at the end.
	Loop bool
	// Follow, for a folder, waits at the end for new photos to appear
	// (checking every Poll, default 100 ms) instead of ending: tests and the
	// demo "show" a face to the gate by copying a photo into the folder.
	// A followed folder is a live camera: it shows only the photos that
	// arrive after it is opened, as a camera sees only who comes after it
	// is switched on, unless Replay; a photo written again under a name
	// already shown (new content, or only a new modification time) has
	// arrived again and is shown again. A folder not followed is a
	// recorded scene: all its photos are shown.
	Follow bool
	Poll   time.Duration
	// Replay, for a followed folder, also shows the photos already in it
	// when it is opened, in name order, before the new ones.
	Replay bool
	// Now is the clock for Frame.Time (default time.Now).
	Now func() time.Time
	// NIR, for a folder, is the folder of the photos' NIR partners (it may
	// be the folder itself): the partner of x.jpg is x.nir.jpg (or .jpeg,
	// .png), delivered as Frame.NIR with the same time. A photo without
	// one has no NIR frame. Files named *.nir.* are never colour frames.
	NIR string
}

// Files is a simulated camera: the photos of a folder in name order, or the
// frames of a local video file.
type Files struct {
	opts  FileOptions
	dir   string
	video *gocv.VideoCapture
	old   map[string]stamp // photos in a followed folder at open, not shown (Replay off)
	seen  map[string]stamp // photos shown (queued), as they were then
	queue []string
	cur   gocv.Mat  // the photo being repeated
	nir   *gocv.Mat // its NIR partner, if any
	name  string
	left  int
	seq   uint64
	last  time.Time
}

var photoExt = []string{".jpg", ".jpeg", ".png"}

// OpenFiles opens a folder of JPEG/PNG photos or a local video file.
func OpenFiles(path string, opts FileOptions) (*Files, error) {
	if opts.Repeat <= 0 {
		opts.Repeat = 1
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FPS < 0 {
		return nil, fmt.Errorf("camera: FPS %v is negative", opts.FPS)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("camera: file source: %w", err)
	}
	f := &Files{opts: opts, old: map[string]stamp{}, seen: map[string]stamp{}, cur: gocv.NewMat()}
	switch {
	case st.IsDir():
		f.dir = path
		if opts.Follow && !opts.Replay {
			if f.old, err = f.photos(); err != nil {
				return nil, err
			}
		}
	case st.Mode().IsRegular():
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("camera: file source %s: %w", path, err)
		}
		vc, err := gocv.VideoCaptureFile(abs)
		if err != nil || !vc.IsOpened() {
			if vc != nil {
				vc.Close()
			}
			return nil, fmt.Errorf("camera: %s is not a video file OpenCV can read", path)
		}
		f.video = vc
	default:
		return nil, fmt.Errorf("camera: file source %s is neither a folder nor a regular file", path)
	}
	return f, nil
}

// Read returns the next frame, waiting for its time under FPS pacing and,
// with Follow, for a new photo. At the end of a source that neither loops
// nor follows it returns io.EOF. A photo that cannot be decoded is skipped
// and reported as an error naming it; the next Read goes on after it.
func (f *Files) Read(ctx context.Context) (Frame, error) {
	if err := f.pace(ctx); err != nil {
		return Frame{}, err
	}
	var m gocv.Mat
	var err error
	if f.video != nil {
		m, err = f.readVideo()
	} else {
		m, err = f.readPhoto(ctx)
	}
	if err != nil {
		return Frame{}, err
	}
	f.seq++
	fr := Frame{Mat: m, Time: f.opts.Now(), Seq: f.seq, Name: f.name}
	if f.nir != nil {
		fr.NIR = &NIRFrame{Mat: f.nir.Clone(), Time: fr.Time}
	}
	return fr, nil
}

func (f *Files) pace(ctx context.Context) error {
	if f.opts.FPS == 0 {
		return ctx.Err()
	}
	next := f.last.Add(time.Duration(float64(time.Second) / f.opts.FPS))
	if wait := time.Until(next); wait > 0 && !f.last.IsZero() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	f.last = time.Now()
	return ctx.Err()
}

func (f *Files) readVideo() (gocv.Mat, error) {
	m := gocv.NewMat()
	if f.video.Read(&m) && !m.Empty() {
		return m, nil
	}
	if f.opts.Loop && f.seq > 0 {
		f.video.Set(gocv.VideoCapturePosFrames, 0)
		if f.video.Read(&m) && !m.Empty() {
			return m, nil
		}
	}
	m.Close()
	return gocv.Mat{}, io.EOF
}

func (f *Files) readPhoto(ctx context.Context) (gocv.Mat, error) {
	if f.left > 0 {
		f.left--
		return f.cur.Clone(), nil
	}
	var name string
	var data []byte
	for {
		for len(f.queue) == 0 {
			if err := f.scan(); err != nil {
				return gocv.Mat{}, err
			}
			if len(f.queue) > 0 {
				break
			}
			switch {
			case f.opts.Loop && len(f.seen) > 0:
				clear(f.seen)
			case f.opts.Follow:
				t := time.NewTimer(f.opts.Poll)
				select {
				case <-ctx.Done():
					t.Stop()
					return gocv.Mat{}, ctx.Err()
				case <-t.C:
				}
			default:
				return gocv.Mat{}, io.EOF
			}
		}
		name = f.queue[0]
		f.queue = f.queue[1:]
		var err error
		data, err = os.ReadFile(filepath.Join(f.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // taken away since the scan: not there to be seen
		}
		if err != nil {
			return gocv.Mat{}, fmt.Errorf("camera: %s: %w", name, err)
		}
		break
	}
	f.name = name
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("camera: %s: %w", name, err)
	}
	f.cur.Close()
	f.cur = m
	f.left = f.opts.Repeat - 1
	f.loadNIR(name)
	return m.Clone(), nil
}

// nirSuffix marks a colour photo's NIR partner: x.jpg -> x.nir.jpg.
const nirSuffix = ".nir"

// isNIR reports whether a file name is an NIR partner's.
func isNIR(name string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSuffix(name, filepath.Ext(name))), nirSuffix)
}

// loadNIR loads the NIR partner of the colour photo name, when the source
// pairs: none (nil) when it is missing or cannot be decoded, so that the
// check fails closed.
func (f *Files) loadNIR(name string) {
	if f.nir != nil {
		f.nir.Close()
		f.nir = nil
	}
	if f.opts.NIR == "" {
		return
	}
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	for _, ext := range photoExt {
		data, err := os.ReadFile(filepath.Join(f.opts.NIR, stem+nirSuffix+ext))
		if err != nil {
			continue
		}
		if m, err := recognizer.DecodeImage(data); err == nil {
			f.nir = &m
		}
		return
	}
}

// stamp tells one version of a file from another: a photo written again
// under the same name (in place, or renamed over it) changes at least one.
type stamp struct {
	mtime, size int64
	ino         uint64
}

func stampOf(fi fs.FileInfo) stamp {
	s := stamp{mtime: fi.ModTime().UnixNano(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// photos lists the folder's photos as they are now. Hidden files (a photo
// being written under a hidden name, to be renamed when complete) and
// other files are not photos.
func (f *Files) photos() (map[string]stamp, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("camera: read %s: %w", f.dir, err)
	}
	out := make(map[string]stamp, len(ents))
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") {
			continue
		}
		if !slices.Contains(photoExt, strings.ToLower(filepath.Ext(n))) || (f.opts.NIR != "" && isNIR(n)) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		out[n] = stampOf(fi)
	}
	return out, nil
}

// scan queues, in name order, the photos not shown yet or written again
// since, but not those still as they were when a followed folder was
// opened (without Replay). It forgets photos gone from the folder.
func (f *Files) scan() error {
	now, err := f.photos()
	if err != nil {
		return err
	}
	for n, st := range now {
		if old, ok := f.old[n]; ok {
			if old == st {
				continue // there before the camera was switched on
			}
			delete(f.old, n)
		}
		if shown, ok := f.seen[n]; ok && shown == st {
			continue
		}
		f.seen[n] = st
		f.queue = append(f.queue, n)
	}
	slices.Sort(f.queue)
	for _, m := range []map[string]stamp{f.old, f.seen} {
		for n := range m {
			if _, ok := now[n]; !ok {
				delete(m, n)
			}
		}
	}
	return nil
}

// Close releases the source.
func (f *Files) Close() error {
	f.cur.Close()
	if f.nir != nil {
		f.nir.Close()
	}
	if f.video != nil {
		return f.video.Close()
	}
	return nil
}
