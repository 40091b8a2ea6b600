// Package camera delivers frames to the gate: from a local V4L2 camera, or
// from files (a folder of photos, or a local video file) that stand in for
// a camera in tests and in the demo.
//
// It opens only local devices and files: a camera is reached through
// OpenCV's V4L2 backend alone, so no network stream (RTSP, HTTP, GStreamer
// pipelines) can ever be opened, and it never writes a frame anywhere.
package camera

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one picture from a source. The receiver of a Frame owns its Mat
// and must Close it.
type Frame struct {
	Mat  gocv.Mat
	Time time.Time
	Seq  uint64 // 1 for the first frame of a source
	Name string // the file a frame came from, for file sources
	// NIR is the near-infrared frame of the same moment, from a camera
	// pair ([camera.nir]); nil when there is none (no NIR camera, no
	// partner file, or the two frames were too far apart in time).
	NIR *NIRFrame
}

// NIRFrame is the NIR camera's frame of a pair.
type NIRFrame struct {
	Mat  gocv.Mat
	Time time.Time
}

// Close closes the frame's Mat and its NIR partner's.
func (f Frame) Close() {
	f.Mat.Close()
	if f.NIR != nil {
		f.NIR.Mat.Close()
	}
}

// ErrNotLocal is returned for a camera spec that is not a local V4L2 device.
var ErrNotLocal = errors.New("camera: not a local V4L2 device")

// DeviceOptions asks a camera for a frame size and rate; zero keeps the
// camera's own.
type DeviceOptions struct {
	Width, Height int
	FPS           float64
}

// Device is a V4L2 camera.
type Device struct {
	vc  *gocv.VideoCapture
	seq uint64
}

var videoIndex = regexp.MustCompile(`^[0-9]{1,3}$`)

// OpenDevice opens a V4L2 camera by index ("0") or device path
// ("/dev/video0", or a stable udev link such as /dev/v4l/by-id/... or
// /dev/gate-camera that resolves to a character device).
func OpenDevice(spec string, opts DeviceOptions) (*Device, error) {
	var vc *gocv.VideoCapture
	var err error
	switch {
	case videoIndex.MatchString(spec):
		n, _ := strconv.Atoi(spec)
		vc, err = gocv.VideoCaptureDeviceWithAPI(n, gocv.VideoCaptureV4L2)
	case filepath.IsAbs(spec):
		real, lerr := filepath.EvalSymlinks(spec)
		if lerr != nil {
			return nil, fmt.Errorf("camera: %s: %w", spec, lerr)
		}
		st, serr := os.Stat(real)
		if serr != nil {
			return nil, fmt.Errorf("camera: %s: %w", spec, serr)
		}
		if st.Mode()&fs.ModeCharDevice == 0 {
			return nil, fmt.Errorf("%w: %s is not a character device", ErrNotLocal, spec)
		}
		vc, err = gocv.VideoCaptureFileWithAPI(real, gocv.VideoCaptureV4L2)
	default:
		return nil, fmt.Errorf("%w: %q (want a device index such as 0, or a path such as /dev/video0)", ErrNotLocal, spec)
	}
	if err != nil {
		return nil, fmt.Errorf("camera: open %s: %w", spec, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("camera: open %s: the V4L2 device did not open", spec)
	}
	if opts.Width > 0 && opts.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(opts.Width))
		vc.Set(gocv.VideoCaptureFrameHeight, float64(opts.Height))
	}
	if opts.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, opts.FPS)
	}
	return &Device{vc: vc}, nil
}

// ErrNoFrame is returned when a camera delivers nothing (unplugged, or
// failing); callers retry or reopen.
var ErrNoFrame = errors.New("camera: no frame")

// Read waits for the next frame. The camera paces itself; ctx is checked
// before each read.
func (d *Device) Read(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	m := gocv.NewMat()
	if !d.vc.Read(&m) || m.Empty() {
		m.Close()
		return Frame{}, ErrNoFrame
	}
	d.seq++
	return Frame{Mat: m, Time: time.Now(), Seq: d.seq}, nil
}

// Close releases the camera.
func (d *Device) Close() error { return d.vc.Close() }
