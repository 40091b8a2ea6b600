package kiosk

import (
	"embed"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

//go:embed web
var web embed.FS

// Handler serves the kiosk page and its live screen. It answers only
// requests addressed to a loopback host (a DNS-rebinding page elsewhere
// cannot reach it even if a browser were tricked), and sets a strict
// content security policy: the page loads nothing from anywhere else.
func (k *Kiosk) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		k.serveFile(w, "web/index.html", "text/html; charset=utf-8")
	})
	m.HandleFunc("GET /kiosk.js", func(w http.ResponseWriter, r *http.Request) {
		k.serveFile(w, "web/kiosk.js", "text/javascript; charset=utf-8")
	})
	m.HandleFunc("GET /kiosk.css", func(w http.ResponseWriter, r *http.Request) {
		k.serveFile(w, "web/kiosk.css", "text/css; charset=utf-8")
	})
	m.HandleFunc("GET /screen", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(k.Screen())
	})
	m.HandleFunc("GET /events", k.serveEvents)
	m.HandleFunc("GET /frame", k.serveFrame)
	m.HandleFunc("GET /pass.png", k.servePassQR) // pass.go
	m.HandleFunc("POST /press", k.servePress)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "kiosk: only for the browser on this device", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		m.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (k *Kiosk) serveFile(w http.ResponseWriter, name, ctype string) {
	b, err := web.ReadFile(name)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(b)
}

// serveEvents streams screens as server-sent events.
func (k *Kiosk) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, stop := k.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case s := <-ch:
			b, _ := json.Marshal(s)
			if _, err := io.WriteString(w, "data: "+string(b)+"\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// servePress takes a touch on the screen: {"code": "1"}, the same codes
// as on the keypad (1, 2, 3, 9, 0). A PIN is never entered on the screen.
func (k *Kiosk) servePress(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 256))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || len(in.Code) != 1 || !strings.Contains("01239", in.Code) {
		http.Error(w, "kiosk: press 0, 1, 2, 3 or 9", http.StatusBadRequest)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !loopbackHost(strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://")) {
		http.Error(w, "kiosk: foreign origin", http.StatusForbidden)
		return
	}
	k.Press(r.Context(), in.Code)
	w.WriteHeader(http.StatusNoContent)
}

// serveFrame answers the camera's latest picture while a capture shows it
// (404 otherwise): a small JPEG held only in memory, never cached (the
// handler's Cache-Control: no-store), for the browser on this device.
func (k *Kiosk) serveFrame(w http.ResponseWriter, r *http.Request) {
	b := k.Frame()
	if b == nil {
		http.Error(w, "kiosk: no capture is running", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
