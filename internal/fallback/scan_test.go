package fallback_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// A QR scanner over a real pty: each decoded line is one scan event; a
// line with control bytes and an overlong line are dropped, and the line
// after each still reads.
func TestScanReaderOverPTY(t *testing.T) {
	p := serialtest.New(t)
	peer := p.OpenPeer(100 * time.Millisecond)
	r, err := fallback.NewScanReader(fallback.SerialConfig{Name: "qr", Path: p.Device}, fallback.LineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	events := runReader(t, r)
	waitFor(t, "reader up", 2*time.Second, func() bool { return r.Health().Up })
	payload := "GATED1.0a1b2c3d.v-0123456789ab.1700000000.1700007200.1.AAAAAAAAAAAAAAAAAAAAAA"
	write(t, peer, payload+"\r\n")
	ev := next(t, events, 2*time.Second)
	if ev.Kind != fallback.KindScan || ev.PIN.Reveal() != payload || ev.Reader != "qr" {
		t.Fatalf("event = %v, want the scan of %q", ev, payload)
	}
	if s := ev.String(); strings.Contains(s, "GATED1") {
		t.Errorf("Event.String() = %q shows the payload", s)
	}
	write(t, peer, "bad\x01line\r\n"+strings.Repeat("x", 300)+"\r\n1234567890\r\n")
	ev = next(t, events, 2*time.Second)
	if ev.Kind != fallback.KindScan || ev.PIN.Reveal() != "1234567890" {
		t.Errorf("event = %v, want the scan of the good line after the bad ones", ev)
	}
	noEvent(t, events, 200*time.Millisecond)
}

func TestParseScan(t *testing.T) {
	tests := []struct {
		cfg   fallback.LineConfig
		frame string
		want  string
		err   error
	}{
		{fallback.LineConfig{}, "  abc.DEF-1 ", "abc.DEF-1", nil},
		{fallback.LineConfig{Prefix: "]Q1"}, "]Q1hello", "hello", nil},
		{fallback.LineConfig{Prefix: "]Q1"}, "hello", "", fallback.ErrFrame},
		{fallback.LineConfig{}, "", "", fallback.ErrFrame},
		{fallback.LineConfig{}, "caf\xc3\xa9", "", fallback.ErrFrame},
	}
	for _, tt := range tests {
		got, err := fallback.ParseScan(tt.cfg, []byte(tt.frame))
		if got != tt.want || !errors.Is(err, tt.err) && (tt.err != nil || err != nil) {
			t.Errorf("ParseScan(%+v, %q) = %q, %v; want %q, %v", tt.cfg, tt.frame, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseScan(f *testing.F) {
	f.Add([]byte("GATED1.0a1b2c3d.v-0123456789ab.1.2.1.AAAA"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := fallback.ParseScan(fallback.LineConfig{MaxLen: 256}, b)
		if err != nil {
			return
		}
		for _, c := range []byte(s) {
			if c < ' ' || c > '~' {
				t.Fatalf("ParseScan(%q) = %q with byte %#x", b, s, c)
			}
		}
	})
}
