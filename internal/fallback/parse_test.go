package fallback

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestParseASCII(t *testing.T) {
	tests := []struct {
		name    string
		cfg     LineConfig
		in      string
		want    string // Card.Key()
		wantErr error
	}{
		{"decimal", LineConfig{}, "12345678", "12345678", nil},
		{"leading zeros", LineConfig{}, "0012345678", "12345678", nil},
		{"spaces", LineConfig{}, "  42 ", "42", nil},
		{"zero", LineConfig{}, "0000", "", ErrFrame},
		{"empty", LineConfig{}, "", "", ErrFrame},
		{"letter", LineConfig{}, "12a4", "", ErrFrame},
		{"hex in decimal", LineConfig{}, "DEADBEEF", "", ErrFrame},
		{"sign", LineConfig{}, "-12", "", ErrFrame},
		{"inner space", LineConfig{}, "12 34", "", ErrFrame},
		{"NUL", LineConfig{}, "12\x0034", "", ErrFrame},
		{"39 digits", LineConfig{}, strings.Repeat("9", 39), strings.Repeat("9", 39), nil},
		{"40 digits never wraps", LineConfig{}, "1" + strings.Repeat("0", 39), "", ErrFrame},
		{"too long", LineConfig{MaxLen: 8}, "123456789", "", ErrFrame},
		{"hex", LineConfig{Base: 16}, "DEADBEEF", "3735928559", nil},
		{"hex lower", LineConfig{Base: 16}, "deadbeef", "3735928559", nil},
		{"hex 7-byte UID", LineConfig{Base: 16}, "04A1B2C3D4E5F6", "1303689068602870", nil},
		{"hex 10-byte UID", LineConfig{Base: 16}, "0102030405060708090A", "4759477275222530853130", nil},
		{"hex 128 bit", LineConfig{Base: 16}, strings.Repeat("F", 32), "340282366920938463463374607431768211455", nil},
		{"hex 129 bit", LineConfig{Base: 16}, "1" + strings.Repeat("0", 32), "", ErrFrame},
		{"hex 0x", LineConfig{Base: 16}, "0xBEEF", "", ErrFrame},
		{"prefix", LineConfig{Prefix: "ID:"}, "ID:77", "77", nil},
		{"prefix missing", LineConfig{Prefix: "ID:"}, "77", "", ErrFrame},
		{"suffix", LineConfig{Suffix: ";"}, "77;", "77", nil},
		{"suffix missing", LineConfig{Suffix: ";"}, "77", "", ErrFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseASCII(tt.cfg, []byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseASCII(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got.Key() != tt.want {
				t.Errorf("ParseASCII(%q) = %q, want %q", tt.in, got.Key(), tt.want)
			}
		})
	}
}

func TestWiegandRoundTrip(t *testing.T) {
	tests := []struct {
		fac, num uint32
		n        int
		raw      uint64
	}{
		// H10301 facility 1 card 12345.
		{1, 12345, 26, 0x2026073},
		{0, 0, 26, 0x0000001},
		{255, 65535, 26, 0x1FFFFFF},
		{65535, 65535, 34, 0x1FFFFFFFF},
		{4660, 22136, 34, 0x22468ACF1},
	}
	for _, tt := range tests {
		raw, err := EncodeWiegand(tt.fac, tt.num, tt.n)
		if err != nil || raw != tt.raw {
			t.Errorf("EncodeWiegand(%d, %d, %d) = %#x, %v, want %#x", tt.fac, tt.num, tt.n, raw, err, tt.raw)
		}
		c, err := DecodeWiegand(tt.raw, tt.n)
		want := fmt.Sprintf("%d:%d", tt.fac, tt.num)
		if err != nil || c.Key() != want || c.Bits != tt.n {
			t.Errorf("DecodeWiegand(%#x, %d) = %v, %v, want %s", tt.raw, tt.n, c, err, want)
		}
		// Every single-bit error is caught by parity.
		for b := range tt.n {
			if _, err := DecodeWiegand(tt.raw^1<<b, tt.n); !errors.Is(err, ErrParity) {
				t.Errorf("DecodeWiegand(%#x with bit %d flipped) error = %v, want ErrParity", tt.raw, b, err)
			}
		}
	}
	if _, err := DecodeWiegand(1<<26, 26); !errors.Is(err, ErrFrame) {
		t.Errorf("DecodeWiegand(27 bits) error = %v, want ErrFrame", err)
	}
	if _, err := DecodeWiegand(1, 37); !errors.Is(err, ErrFrame) {
		t.Errorf("DecodeWiegand(37-bit) error = %v, want ErrFrame", err)
	}
	if _, err := EncodeWiegand(256, 1, 26); err == nil {
		t.Error("EncodeWiegand(facility 256, 26 bits) succeeded")
	}
}

func TestParseWiegand(t *testing.T) {
	tests := []struct {
		cfg     WiegandConfig
		in      string
		want    string
		wantErr error
	}{
		{WiegandConfig{}, "2026073", "1:12345", nil},
		{WiegandConfig{Bits: 26}, "2026073", "1:12345", nil},
		{WiegandConfig{Bits: 34}, "2026073", "", ErrFrame},
		{WiegandConfig{}, "2026072", "", ErrParity},
		{WiegandConfig{}, "22468ACF1", "4660:22136", nil},
		{WiegandConfig{}, "12345", "", ErrFrame},
		{WiegandConfig{}, "202607G", "", ErrFrame},
		{WiegandConfig{}, "A026073", "", ErrFrame}, // bit 27 set
		{WiegandConfig{Line: LineConfig{Prefix: "W26:"}}, "W26:2026073", "1:12345", nil},
	}
	for _, tt := range tests {
		got, err := ParseWiegand(tt.cfg, []byte(tt.in))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseWiegand(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got.Key() != tt.want {
			t.Errorf("ParseWiegand(%q) = %q, want %q", tt.in, got.Key(), tt.want)
		}
	}
}

// replay feeds a recorded stream through a protocol in random chunks and
// returns one line per event or dropped frame.
func replay(p protocol, data []byte, seed uint64) string {
	var out strings.Builder
	rng := rand.New(rand.NewPCG(seed, 1))
	emit := func(ev Event) { fmt.Fprintf(&out, "%s\n", strings.TrimPrefix(ev.String(), ": ")) }
	drop := func(err error) { fmt.Fprintf(&out, "drop: %v\n", err) }
	now := time.Unix(0, 0)
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(16))
		p.feed(data[:n], now, emit, drop)
		data = data[n:]
	}
	return out.String()
}

func TestReplayFixtures(t *testing.T) {
	tests := []struct {
		file  string
		proto func() protocol
	}{
		{"ascii-dec10-crlf.bin", func() protocol {
			return &lineProto{cfg: LineConfig{}, parse: func(f []byte) (Card, error) { return ParseASCII(LineConfig{}, f) }}
		}},
		{"ascii-hex-prefix-cr.bin", func() protocol {
			c := LineConfig{Ending: "\r", Prefix: "UID:", Base: 16}
			return &lineProto{cfg: c, parse: func(f []byte) (Card, error) { return ParseASCII(c, f) }}
		}},
		{"ascii-stx-etx.bin", func() protocol {
			c := LineConfig{Ending: "\x03", Prefix: "\x02"}
			return &lineProto{cfg: c, parse: func(f []byte) (Card, error) { return ParseASCII(c, f) }}
		}},
		{"wiegand-hex-crlf.bin", func() protocol {
			c := WiegandConfig{}
			return &lineProto{cfg: c.Line, parse: func(f []byte) (Card, error) { return ParseWiegand(c, f) }}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := replay(tt.proto(), data, 1)
			// Chunking must not change the result.
			for seed := uint64(2); seed < 20; seed++ {
				if again := replay(tt.proto(), data, seed); again != got {
					t.Fatalf("replay with seed %d differs:\n%s\nwant\n%s", seed, again, got)
				}
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".bin")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestReplayFixtures -update)", err)
			}
			if got != string(want) {
				t.Errorf("replay %s =\n%s\nwant\n%s", tt.file, got, want)
			}
		})
	}
}

func TestOverlongLineTailIsNotAFrame(t *testing.T) {
	// 100 digits then CRLF: the frame is dropped whole; its last digits
	// must not come out as a card of their own.
	c := LineConfig{MaxLen: 16}
	p := &lineProto{cfg: c, parse: func(f []byte) (Card, error) { return ParseASCII(c, f) }}
	got := replay(p, []byte(strings.Repeat("7", 100)+"\r\n12\r\n"), 3)
	want := "drop: fallback: bad frame: line longer than 16 bytes\ncard ascii 12\n"
	if got != want {
		t.Errorf("replay = %q, want %q", got, want)
	}
}

func TestPINEntry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type key struct {
		k  byte
		at time.Duration
	}
	tests := []struct {
		name  string
		keys  []key
		steps []Step
		pin   string // last submitted
	}{
		{"submit", []key{{'1', 0}, {'2', 1}, {'3', 2}, {'#', 3}}, []Step{StepDigit, StepDigit, StepDigit, StepSubmitted}, "123"},
		{"clear", []key{{'1', 0}, {'*', 1}, {'9', 2}, {'#', 3}}, []Step{StepDigit, StepCleared, StepDigit, StepSubmitted}, "9"},
		{"osdp keys", []key{{'4', 0}, {0x7F, 1}, {'5', 2}, {0x0D, 3}}, []Step{StepDigit, StepCleared, StepDigit, StepSubmitted}, "5"},
		{"lone # starts a visitor code", []key{{'#', 0}}, []Step{StepDigit}, ""},
		// A visitor code: '#', digits, '#'. It is no PIN, and longer than
		// MaxDigits is fine (up to maxCodeDigits).
		{"visitor code", []key{{'#', 0}, {'1', 0}, {'2', 0}, {'3', 0}, {'4', 0}, {'5', 0}, {'#', 1}}, []Step{StepDigit, StepDigit, StepDigit, StepDigit, StepDigit, StepDigit, StepCode}, ""},
		{"## is nothing", []key{{'#', 0}, {'#', 0}, {'1', 1}, {'2', 1}, {'#', 1}}, []Step{StepDigit, StepCleared, StepDigit, StepDigit, StepSubmitted}, "12"},
		{"code mode expires", []key{{'#', 0}, {'1', 6}, {'#', 6}}, []Step{StepDigit, StepDigit, StepSubmitted}, "1"},
		{"PIN then # then PIN", []key{{'1', 0}, {'#', 0}, {'#', 1}, {'*', 1}, {'2', 1}, {'#', 1}}, []Step{StepDigit, StepSubmitted, StepDigit, StepCleared, StepDigit, StepSubmitted}, "2"},
		{"timeout", []key{{'1', 0}, {'2', 6}, {'#', 7}}, []Step{StepDigit, StepDigit, StepSubmitted}, "2"},
		{"timeout then submit", []key{{'1', 0}, {'#', 6}}, []Step{StepDigit, StepCleared}, ""},
		{"junk", []key{{'A', 0}, {0, 0}}, []Step{StepIgnored, StepIgnored}, ""},
		{"overflow", []key{{'1', 0}, {'2', 0}, {'3', 0}, {'4', 0}, {'5', 0}}, []Step{StepDigit, StepDigit, StepDigit, StepDigit, StepCleared}, ""},
		// The tail of an over-long entry is no entry of its own (red team:
		// "31443210#" on a 6-digit keypad was taken as "0#").
		{"overflow tail dropped", []key{{'1', 0}, {'2', 0}, {'3', 0}, {'4', 0}, {'5', 0}, {'0', 0}, {'#', 0}, {'7', 1}, {'8', 1}, {'#', 1}},
			[]Step{StepDigit, StepDigit, StepDigit, StepDigit, StepCleared, StepIgnored, StepCleared, StepDigit, StepDigit, StepSubmitted}, "78"},
		{"overflow then clear", []key{{'1', 0}, {'2', 0}, {'3', 0}, {'4', 0}, {'5', 0}, {'*', 0}, {'9', 1}, {'#', 1}},
			[]Step{StepDigit, StepDigit, StepDigit, StepDigit, StepCleared, StepCleared, StepDigit, StepSubmitted}, "9"},
		{"overflow then pause", []key{{'1', 0}, {'2', 0}, {'3', 0}, {'4', 0}, {'5', 0}, {'6', 7}, {'#', 7}},
			[]Step{StepDigit, StepDigit, StepDigit, StepDigit, StepCleared, StepDigit, StepSubmitted}, "6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PINEntry{MaxDigits: 4}
			var pin string
			for i, k := range tt.keys {
				step, s := p.Key(k.k, t0.Add(k.at*time.Second))
				if step != tt.steps[i] {
					t.Errorf("key %d (%q): step = %d, want %d", i, k.k, step, tt.steps[i])
				}
				if step == StepSubmitted {
					pin = s.Reveal()
				}
			}
			if pin != tt.pin {
				t.Errorf("PIN = %q, want %q", pin, tt.pin)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	ev := Event{Reader: "gate", Kind: KindPIN, PIN: NewSecret("4711")}
	for _, s := range []string{
		fmt.Sprint(ev), fmt.Sprintf("%v %+v %#v %s %q %x", ev, ev, ev, ev.PIN, ev.PIN, ev.PIN),
		fmt.Sprintf("%+v", struct{ E Event }{ev}), ev.LogValue().String(),
	} {
		if strings.Contains(s, "4711") || strings.Contains(s, "34373131") {
			t.Errorf("PIN leaked: %s", s)
		}
	}
}

func BenchmarkParseASCII(b *testing.B) {
	frame := []byte("0004215673")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseASCII(LineConfig{}, frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWiegand(b *testing.B) {
	frame := []byte("2026073")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseWiegand(WiegandConfig{}, frame); err != nil {
			b.Fatal(err)
		}
	}
}
