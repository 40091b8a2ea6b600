package fallback_test

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/fallback"
)

func TestNormalizeCardNumber(t *testing.T) {
	nines := strings.Repeat("9", 39)
	tests := []struct {
		in, want string // want "" for refused
	}{
		// Issue 12: staff-entered numbers were stored as typed.
		{"01001", "1001"},
		{" 3003", "3003"},
		{"1001", "1001"},
		{"3003 \r\n", "3003"},
		{"\t0004215673 ", "4215673"},
		{strings.Repeat("0", 60) + "7", "7"},
		{nines, nines},
		{"000" + nines, nines},
		{"１００１", "1001"},                 // full-width digits
		{"\u3000１２：３４５\u3000", "12:345"}, // full-width colon, ideographic spaces
		// Wiegand facility:number.
		{"12:34567", "12:34567"},
		{"012:000", "12:0"},
		{"0:0", "0:0"},
		{"1:0", "1:0"},
		{"255:65535", "255:65535"},
		{"65535:65535", "65535:65535"},
		{" 7:0099 ", "7:99"},
		// Refused.
		{"", ""},
		{"   ", ""},
		{"0", ""},
		{"0000", ""},
		{nines + "9", ""},
		{strings.Repeat("0", 64) + "7", ""},
		{"12a", ""},
		{"DEADBEEF", ""},
		{"0x1F", ""},
		{"-5", ""},
		{"+5", ""},
		{"1 001", ""},
		{"1,001", ""},
		{"1.0", ""},
		{"1e3", ""},
		{"12 : 345", ""},
		{"12:", ""},
		{":345", ""},
		{":", ""},
		{"1:2:3", ""},
		{"12::3", ""},
		{"65536:1", ""},
		{"1:65536", ""},
		{"1:99999999999999999999999", ""},
		{"١٢٣", ""}, // Arabic-Indic digits are not what a reader sends
		{"12\x00", ""},
	}
	for _, tt := range tests {
		got, err := fallback.NormalizeCardNumber(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, fallback.ErrCardNumber) {
				t.Errorf("NormalizeCardNumber(%q) = %q, %v; want an ErrCardNumber", tt.in, got, err)
			} else if !strings.Contains(err.Error(), "facility:number") {
				t.Errorf("NormalizeCardNumber(%q) error %q does not say what a card number looks like", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCardNumber(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestTypedEqualsSwiped: what staff type for a card is the key the reader
// gives when the card is swiped, for each kind of reader.
func TestTypedEqualsSwiped(t *testing.T) {
	w26, err := fallback.EncodeWiegand(12, 345, 26)
	if err != nil {
		t.Fatal(err)
	}
	w34zero, err := fallback.EncodeWiegand(1000, 0, 34)
	if err != nil {
		t.Fatal(err)
	}
	swipe := func(t *testing.T, c fallback.Card, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c.Key()
	}
	tests := []struct {
		name, typed string
		swiped      func(t *testing.T) string
	}{
		{"decimal reader, leading zeros", "01001", func(t *testing.T) string {
			c, err := fallback.ParseASCII(fallback.LineConfig{}, []byte("0000001001"))
			return swipe(t, c, err)
		}},
		{"hex reader", "3735928559", func(t *testing.T) string {
			c, err := fallback.ParseASCII(fallback.LineConfig{Base: 16}, []byte("DEADBEEF"))
			return swipe(t, c, err)
		}},
		{"Wiegand 26", "012:0345", func(t *testing.T) string {
			c, err := fallback.DecodeWiegand(w26, 26)
			return swipe(t, c, err)
		}},
		{"Wiegand 34, card 0", "1000:0", func(t *testing.T) string {
			c, err := fallback.DecodeWiegand(w34zero, 34)
			return swipe(t, c, err)
		}},
		{"Wiegand converter", "12:345", func(t *testing.T) string {
			c, err := fallback.ParseWiegand(fallback.WiegandConfig{}, []byte(fmt.Sprintf("%07X", w26)))
			return swipe(t, c, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.swiped(t)
			if got, err := fallback.NormalizeCardNumber(tt.typed); err != nil || got != want {
				t.Errorf("NormalizeCardNumber(%q) = %q, %v; the swiped card's key is %q", tt.typed, got, err, want)
			}
		})
	}
}

// canonicalKey is the form of every Card.Key a reader produces.
var canonicalKey = regexp.MustCompile(`^([1-9][0-9]{0,38}|(0|[1-9][0-9]{0,4}):(0|[1-9][0-9]{0,4}))$`)

// FuzzNormalizeCardNumber: every key a reader's parser produces is a fixed
// point of NormalizeCardNumber; whatever it accepts is canonical, a key a
// reader can produce, and stays the same when normalised again.
func FuzzNormalizeCardNumber(f *testing.F) {
	for _, s := range []string{"01001", " 3003", "0", "12:0345", "0:0", "2026073", "22468ACF1", "DEADBEEF",
		"65535:65535", "65536:1", strings.Repeat("9", 40), "１２：３", "1 2", "-1", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The readers' parsers, on s as a frame.
		for _, cfg := range []fallback.LineConfig{{Base: 10, MaxLen: 128}, {Base: 16, MaxLen: 128}} {
			if c, err := fallback.ParseASCII(cfg, []byte(s)); err == nil {
				if got, err := fallback.NormalizeCardNumber(c.Key()); err != nil || got != c.Key() {
					t.Fatalf("ParseASCII(base %d, %q) = key %q, but NormalizeCardNumber(%q) = %q, %v", cfg.Base, s, c.Key(), c.Key(), got, err)
				}
			}
		}
		if c, err := fallback.ParseWiegand(fallback.WiegandConfig{}, []byte(s)); err == nil {
			if got, err := fallback.NormalizeCardNumber(c.Key()); err != nil || got != c.Key() {
				t.Fatalf("ParseWiegand(%q) = key %q, but NormalizeCardNumber(%q) = %q, %v", s, c.Key(), c.Key(), got, err)
			}
		}
		// NormalizeCardNumber itself.
		got, err := fallback.NormalizeCardNumber(s)
		if err != nil {
			if !errors.Is(err, fallback.ErrCardNumber) {
				t.Fatalf("NormalizeCardNumber(%q) error %v is not an ErrCardNumber", s, err)
			}
			return
		}
		if !canonicalKey.MatchString(got) {
			t.Fatalf("NormalizeCardNumber(%q) = %q: not a canonical key", s, got)
		}
		if again, err := fallback.NormalizeCardNumber(got); err != nil || again != got {
			t.Fatalf("NormalizeCardNumber(%q) = %q, %v; not idempotent on %q", got, again, err, s)
		}
		// A reader can produce it: a decimal reader sends the number, a
		// 34-bit Wiegand reader the facility and number.
		fac, num, wiegand := strings.Cut(got, ":")
		var c fallback.Card
		if wiegand {
			f, _ := strconv.ParseUint(fac, 10, 16)
			n, _ := strconv.ParseUint(num, 10, 16)
			raw, eerr := fallback.EncodeWiegand(uint32(f), uint32(n), 34)
			if eerr != nil {
				t.Fatalf("EncodeWiegand(%s, 34): %v", got, eerr)
			}
			c, err = fallback.DecodeWiegand(raw, 34)
		} else {
			c, err = fallback.ParseASCII(fallback.LineConfig{}, []byte(got))
		}
		if err != nil || c.Key() != got {
			t.Fatalf("NormalizeCardNumber(%q) = %q, but a reader sending it reads %q, %v", s, got, c.Key(), err)
		}
	})
}
