package kiosk

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// jpegOf is a w x h JPEG, as the Backend's preview gives the kiosk.
func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func getFrame(h http.Handler, host string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://"+host+"/frame", nil)
	r.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// startCapture takes a resident of be to the camera step and returns the
// camera's side of the capture (what the daemon's camera loop calls).
func startCapture(t *testing.T, k *Kiosk, be *backend) (progress func(Progress), preview func([]byte)) {
	t.Helper()
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "1001", "5678")
	waitState(t, k, Capture)
	deadline := time.Now().Add(5 * time.Second)
	for {
		be.mu.Lock()
		progress, preview = be.progress, be.preview
		be.mu.Unlock()
		if preview != nil {
			return progress, preview
		}
		if time.Now().After(deadline) {
			t.Fatal("the capture did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFrameOnlyWhileCapturing replays a page (or anything else on the
// device) asking for the camera's picture outside a capture, and a foreign
// host asking during one: the picture is served only to the loopback
// host, only while a capture shows it, exactly as the camera gave it,
// never cached, and dropped when the capture ends.
func TestFrameOnlyWhileCapturing(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	h := k.Handler()
	if w := getFrame(h, "127.0.0.1:8088"); w.Code != http.StatusNotFound {
		t.Fatalf("GET /frame at idle = %d, want 404", w.Code)
	}
	progress, preview := startCapture(t, k, be)
	if w := getFrame(h, "127.0.0.1:8088"); w.Code != http.StatusNotFound {
		t.Errorf("GET /frame before the camera gave one = %d, want 404", w.Code)
	}
	if s := k.Screen(); !s.Live || s.Progress == "" {
		t.Errorf("capture screen = %+v, want the live picture and progress", s)
	}
	preview(jpegOf(t, 320, 240))
	w := getFrame(h, "127.0.0.1:8088")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /frame while capturing = %d, want 200", w.Code)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if ct := w.Header().Get("Content-Type"); ct != "image/jpeg" {
		t.Errorf("Content-Type = %q, want image/jpeg", ct)
	}
	m, err := jpeg.Decode(w.Body)
	if err != nil {
		t.Fatalf("GET /frame: %v", err)
	}
	if got := m.Bounds().Size(); got != image.Pt(320, 240) {
		t.Errorf("frame size = %v, want 320x240", got)
	}
	if w := getFrame(h, "evil.example:8088"); w.Code != http.StatusForbidden {
		t.Errorf("GET /frame from a foreign host = %d, want 403", w.Code)
	}
	// The newest picture replaces the last.
	preview(jpegOf(t, 160, 120))
	if m, err := jpeg.Decode(getFrame(h, "[::1]:8088").Body); err != nil || m.Bounds().Dx() != 160 {
		t.Errorf("GET /frame after a newer picture: %v, %v; want 160 wide", m, err)
	}
	// The head-turn step: the screen says which way and how far it is.
	progress(Progress{Taken: 3, Want: 3, Turn: "left"})
	if s := k.Screen(); s.Turn != "left" || s.Body != texts["turn-left"][0] || !s.Live {
		t.Errorf("turn step screen = %+v, want the turn to the left asked", s)
	}
	// The capture ends: the picture goes with it, even if the camera's
	// side calls once more.
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitState(t, k, Enrolled)
	preview(jpegOf(t, 320, 240))
	if w := getFrame(h, "127.0.0.1:8088"); w.Code != http.StatusNotFound {
		t.Errorf("GET /frame after the capture = %d, want 404", w.Code)
	}
	k.mu.Lock()
	held := k.frame
	k.mu.Unlock()
	if held != nil {
		t.Errorf("the kiosk still holds %d bytes of picture after the capture", len(held))
	}
}

// TestCancelledCaptureDropsTheFrame: 0# during the capture ends it, and
// the picture is gone at once.
func TestCancelledCaptureDropsTheFrame(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	_, preview := startCapture(t, k, be)
	preview(jpegOf(t, 64, 48))
	if w := getFrame(k.Handler(), "localhost"); w.Code != http.StatusOK {
		t.Fatalf("GET /frame while capturing = %d, want 200", w.Code)
	}
	send(t, k, pinAt("0"), true)
	if w := getFrame(k.Handler(), "localhost"); w.Code != http.StatusNotFound || k.Frame() != nil {
		t.Errorf("GET /frame after 0# = %d, want 404 and nothing held", w.Code)
	}
}

// liveBackend refuses every capture as its err says.
type liveBackend struct {
	*backend
	err error
}

func (b liveBackend) Capture(ctx context.Context, id string, n int, p func(Progress), f func([]byte)) ([][]float32, error) {
	return nil, b.err
}

// TestNotLiveIsToldPlainly: a capture refused as not live (a photo, a
// screen, no head turn) or impossible here ends the enrollment with a
// sentence the resident can act on, and nothing is stored.
func TestNotLiveIsToldPlainly(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{errors.Join(ErrNotLive, errors.New("presentation attack suspected at enrollment layer=challenge score=0.010")), "not-live"},
		{errors.Join(ErrNoChallenge, errors.New("face.detector is hog")), "no-challenge"},
	} {
		be := newBackend()
		k, _ := newKiosk(liveBackend{be, tt.err})
		begin(t, k, be, "1001", "5678", "1")
		waitState(t, k, ReadNotice)
		decide(t, k, "1001", "5678")
		waitState(t, k, Problem)
		if s := k.Screen(); s.Body != texts[tt.want][0] || len(be.enrolled) != 0 {
			t.Errorf("capture refused with %v: screen %q, enrolled %v; want %q and nothing", tt.err, s.Body, be.enrolled, texts[tt.want][0])
		}
		if !strings.Contains(texts[tt.want][1], "property office") {
			t.Errorf("%s: %q does not send the resident to the property office", tt.want, texts[tt.want][1])
		}
	}
}
