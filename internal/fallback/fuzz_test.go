package fallback

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func FuzzParseASCII(f *testing.F) {
	for _, s := range []string{"0004215673", "UID:DEADBEEF", "  42 ", "0", strings.Repeat("9", 40), "12\x0034"} {
		f.Add([]byte(s), uint8(10))
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, b []byte, base uint8) {
		cfg := LineConfig{Base: 10, Prefix: "", MaxLen: 128}
		if base%2 == 1 {
			cfg.Base = 16
		}
		c, err := ParseASCII(cfg, b)
		if err != nil {
			return
		}
		// A card is canonical decimal and came from digits in the input.
		if c.Number == "" || c.Number[0] == '0' || strings.Trim(c.Number, "0123456789") != "" {
			t.Fatalf("ParseASCII(%q) = %q: not canonical", b, c.Number)
		}
		if cfg.Base == 10 && !bytes.Contains(b, []byte(c.Number)) {
			t.Fatalf("ParseASCII(%q) = %q: number not in the input", b, c.Number)
		}
	})
}

func FuzzParseWiegand(f *testing.F) {
	for _, s := range []string{"2026073", "22468ACF1", "2026072", "ZZZZZZZ", "W26:2026073"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseWiegand(WiegandConfig{}, b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same frame: parity held.
		raw, err := EncodeWiegand(c.Facility, mustUint(t, c.Number), c.Bits)
		if err != nil {
			t.Fatalf("EncodeWiegand(%v): %v", c, err)
		}
		got, err := ParseWiegand(WiegandConfig{}, []byte(strings.ToUpper(string(bytes.TrimSpace(b)))))
		if err != nil || got != c {
			t.Fatalf("ParseWiegand(%q) not stable: %v %v", b, got, err)
		}
		if back, _ := DecodeWiegand(raw, c.Bits); back != c {
			t.Fatalf("round trip of %v = %v", c, back)
		}
		// Staff can type the key a reader gives: it comes back unchanged.
		if n, err := NormalizeCardNumber(c.Key()); err != nil || n != c.Key() {
			t.Fatalf("NormalizeCardNumber(%q) = %q, %v; want it unchanged", c.Key(), n, err)
		}
	})
}

func mustUint(t *testing.T, s string) uint32 {
	var v uint32
	for _, c := range s {
		v = v*10 + uint32(c-'0')
	}
	return v
}

// FuzzLineStream: any byte stream, in any chunking, gives the same events,
// every event's frame is within the line length limit, and nothing panics.
func FuzzLineStream(f *testing.F) {
	f.Add([]byte("0004215673\r\n0000000000\r\n"), uint8(3))
	f.Add([]byte(strings.Repeat("7", 100)+"\r\n12\r\n"), uint8(1))
	f.Add([]byte("\x0212\x03\x02\x03"), uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		cfg := LineConfig{MaxLen: 16}
		mk := func() protocol {
			return &lineProto{cfg: cfg, parse: func(f []byte) (Card, error) { return ParseASCII(cfg, f) }}
		}
		whole := replayChunks(mk(), b, len(b)+1)
		if got := replayChunks(mk(), b, int(chunk%32)+1); got != whole {
			t.Fatalf("chunked replay differs:\n%s\nwant\n%s", got, whole)
		}
	})
}

func replayChunks(p protocol, b []byte, n int) string {
	var out strings.Builder
	emit := func(ev Event) { out.WriteString(ev.String() + "\n") }
	drop := func(err error) { out.WriteString("drop\n") }
	for len(b) > 0 {
		k := min(n, len(b))
		p.feed(b[:k], time.Unix(0, 0), emit, drop)
		b = b[k:]
	}
	return out.String()
}

// FuzzKeypad: a PIN only ever comes out of digits followed by '#', never
// longer than MaxDigits.
func FuzzKeypad(f *testing.F) {
	f.Add([]byte("12*34#"))
	f.Add([]byte("1234567890123#"))
	f.Add([]byte("\x7f9\x0d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := &keypadProto{entry: PINEntry{MaxDigits: 8}}
		var pins []string
		emit := func(ev Event) {
			if ev.Kind == KindPIN {
				pins = append(pins, ev.PIN.Reveal())
			}
		}
		k.feed(b, time.Unix(0, 0), emit, func(error) {})
		for _, p := range pins {
			if p == "" || len(p) > 8 || strings.Trim(p, "0123456789") != "" {
				t.Fatalf("PIN %q from %q", p, b)
			}
			// The digits were typed in a row (CR and LF are ignored).
			clean := bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), []byte("\n"), nil)
			if !bytes.Contains(clean, []byte(p)) {
				t.Fatalf("PIN %q not typed in %q", p, b)
			}
		}
	})
}
