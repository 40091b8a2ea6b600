package kiosk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
)

func TestEveryScreenHasBothLanguages(t *testing.T) {
	for _, st := range []State{Idle, Granted, Denied, EnrollCard, ReadNotice, GuardianCard,
		Capture, Enrolled, Declined, OptOutCard, OptOutConfirm, OptedOut, OptOutPending, Problem} {
		tx, ok := texts["t-"+string(st)]
		if !ok || tx[0] == "" || tx[1] == "" || tx[0] == tx[1] {
			t.Errorf("screen %s: title %q", st, tx)
		}
	}
	for key, tx := range texts {
		if tx[0] == "" || tx[1] == "" {
			t.Errorf("text %s is missing a language: %q", key, tx)
		}
		if strings.Count(tx[0], "%s") != strings.Count(tx[1], "%s") {
			t.Errorf("text %s: the languages take different arguments: %q", key, tx)
		}
	}
}

func TestPageOnlyForLoopback(t *testing.T) {
	h := New(Config{}, nil).Handler()
	tests := []struct {
		host, method, path, body string
		want                     int
	}{
		{"127.0.0.1:8088", "GET", "/", "", 200},
		{"localhost:8088", "GET", "/kiosk.js", "", 200},
		{"[::1]:8088", "GET", "/screen", "", 200},
		{"evil.example:8088", "GET", "/", "", 403}, // DNS rebinding
		{"192.168.1.5:8088", "GET", "/screen", "", 403},
		{"127.0.0.1:8088", "POST", "/press", `{"code": "5"}`, 400},
		{"127.0.0.1:8088", "POST", "/press", `{"code": "1234"}`, 400}, // never a PIN on screen
		{"127.0.0.1:8088", "POST", "/press", `{"code": "9", "x": 1}`, 400},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://"+tt.host+tt.path, strings.NewReader(tt.body))
		r.Host = tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s %s%s = %d, want %d", tt.method, tt.host, tt.path, w.Code, tt.want)
		}
		if w.Code == 200 && !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no strict content security policy", tt.path)
		}
	}
	// The language toggle works from the screen too.
	k := New(Config{}, nil)
	r := httptest.NewRequest("POST", "http://127.0.0.1/press", strings.NewReader(`{"code": "9"}`))
	w := httptest.NewRecorder()
	k.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusNoContent || k.Screen().Lang != "en" {
		t.Errorf("press 9 = %d, language %q; want 204 and English", w.Code, k.Screen().Lang)
	}
}

// TestIdleScreenFollowsTheFaceMode: the screen asks for a face only where a
// face opens the door, asks for the card first where a face confirms it,
// and never mentions the camera where faces are not used.
func TestIdleScreenFollowsTheFaceMode(t *testing.T) {
	k := New(Config{FaceMode: calibrate.Off}, nil)
	if b := k.Screen().Body; strings.Contains(b, "摄像头") || b != texts["idle-off"][0] {
		t.Errorf("face off, idle screen: %q", b)
	}
	k.SetFaceMode(calibrate.Verify)
	s := k.Screen()
	if s.Body != texts["idle-verify"][0] || s.Seq == 0 {
		t.Errorf("face verify, idle screen: %+v", s)
	}
	// A card in verify mode: the face may stand for the PIN, and the keypad
	// digits are shown as typed.
	k.Decision(gate.Decision{Outcome: gate.NeedPIN, Method: gate.MethodCardPIN})
	if b := k.Screen().Body; b != texts["enter-pin-verify"][0] {
		t.Errorf("card shown in verify mode: %q", b)
	}
	k.Event(context.Background(), fallback.Event{Kind: fallback.KindKey, Digits: 2})
	if d := k.Screen().Digits; d != 2 {
		t.Errorf("digits while the PIN is typed in verify mode: %d", d)
	}
	// A screen that is not idle is left alone by a mode change.
	k.SetFaceMode(calibrate.Identify)
	if b := k.Screen().Body; b != texts["enter-pin-verify"][0] {
		t.Errorf("a mode change replaced the PIN prompt: %q", b)
	}
	k.mu.Lock()
	k.toIdle()
	k.mu.Unlock()
	if b := k.Screen().Body; b != texts["idle"][0] {
		t.Errorf("face identify, idle screen: %q", b)
	}
}

// TestEveryFaceGetsAWord: a face that does not confirm the card shown asks
// for the PIN (and shows the digits typed, for as long as after the card);
// a face while faces are not used says so; an unknown face is told to use
// card and PIN.
func TestEveryFaceGetsAWord(t *testing.T) {
	k := New(Config{FaceMode: calibrate.Verify, Show: time.Second, Timeout: time.Minute}, nil)
	tests := []struct {
		name     string
		d        gate.Decision
		body     string
		pinShown bool
	}{
		{"verify, another face", gate.Decision{Method: gate.MethodCardFace, Outcome: gate.Denied, Resident: "r-1", Reason: gate.ReasonFaceNotConfirmed}, texts["face-unconfirmed"][0], true},
		{"off", gate.Decision{Method: gate.MethodFace, Outcome: gate.Denied, Reason: gate.ReasonFaceOff}, texts["face-off"][0], false},
		{"identify, unknown", gate.Decision{Method: gate.MethodFace, Outcome: gate.Denied, Reason: gate.ReasonFaceUnknown}, texts["face-unknown"][0], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k.mu.Lock()
			k.toIdle()
			k.mu.Unlock()
			k.Decision(tt.d)
			s := k.Screen()
			if s.State != Denied || s.Body != tt.body {
				t.Errorf("screen = %s %q, want denied %q", s.State, s.Body, tt.body)
			}
			k.Event(context.Background(), fallback.Event{Kind: fallback.KindKey, Digits: 3})
			if got := k.Screen().Digits == 3; got != tt.pinShown {
				t.Errorf("digits shown while typing = %v, want %v", got, tt.pinShown)
			}
			k.mu.Lock()
			stay := k.until.Sub(k.cfg.Now())
			k.mu.Unlock()
			if want := k.cfg.Show; tt.pinShown {
				want = k.cfg.PINTimeout // as long as the gate waits for it
				if stay < want-time.Second || stay > want {
					t.Errorf("the PIN prompt stays %v, want %v", stay, want)
				}
			} else if stay > want {
				t.Errorf("the screen stays %v, want %v", stay, want)
			}
		})
	}
	for _, key := range []string{"face-unconfirmed", "face-off"} {
		if en := texts[key][1]; !strings.Contains(en, "PIN") {
			t.Errorf("%s: %q does not say what to do", key, en)
		}
	}
}
