package fallback

import (
	"fmt"
	"log/slog"
	"time"
)

// EventKind says what an Event carries.
type EventKind uint8

const (
	// KindCard is a card presented to a reader.
	KindCard EventKind = iota + 1
	// KindPIN is a PIN submitted with '#'.
	KindPIN
	// KindKey is a single key press, for user feedback only; it carries how
	// many digits are entered, never which.
	KindKey
	// KindCode is a visitor code: '#', digits, '#' (see PINEntry).
	KindCode
	// KindScan is a line of text from a QR/barcode scanner.
	KindScan
)

func (k EventKind) String() string {
	switch k {
	case KindCard:
		return "card"
	case KindPIN:
		return "pin"
	case KindKey:
		return "key"
	case KindCode:
		return "code"
	case KindScan:
		return "scan"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Format names how a card number was read.
type Format uint8

const (
	FormatUnknown   Format = iota
	FormatASCII            // a number sent as text by a serial reader
	FormatWiegand26        // H10301: 8-bit facility, 16-bit card
	FormatWiegand34        // 16-bit facility, 16-bit card
	FormatRaw              // raw bits of another length (OSDP RAW)
	FormatOSDPText         // OSDP FMT: the number as text
)

func (f Format) String() string {
	switch f {
	case FormatASCII:
		return "ascii"
	case FormatWiegand26:
		return "wiegand26"
	case FormatWiegand34:
		return "wiegand34"
	case FormatRaw:
		return "raw"
	case FormatOSDPText:
		return "osdp-fmt"
	}
	return "unknown"
}

// Card is a card as read. Number is canonical decimal without leading zeros
// ("0" for a Wiegand card numbered 0), the form NormalizeCardNumber gives
// what staff type;
// for Wiegand formats it is the card number without the facility code.
type Card struct {
	Number      string
	Facility    uint32
	HasFacility bool
	Bits        int // frame length in bits; 0 for text formats
	Format      Format
}

// Key is the canonical credential key to look the card up by:
// "facility:number" when the format has a facility code, else "number".
func (c Card) Key() string {
	if c.HasFacility {
		return fmt.Sprintf("%d:%s", c.Facility, c.Number)
	}
	return c.Number
}

func (c Card) String() string {
	return c.Format.String() + " " + c.Key()
}

// Secret holds a PIN. Its String, GoString, Format and LogValue never show
// it; call Reveal only to hand it to the checker.
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal returns the secret.
func (s Secret) Reveal() string { return s.s }

// Len returns the number of bytes of the secret.
func (s Secret) Len() int { return len(s.s) }

func (s Secret) String() string             { return "[redacted]" }
func (s Secret) GoString() string           { return "fallback.Secret{[redacted]}" }
func (s Secret) LogValue() slog.Value       { return slog.StringValue("[redacted]") }
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Event is what readers send to the daemon.
type Event struct {
	Reader string // the reader's configured name
	Time   time.Time
	Kind   EventKind
	Card   Card   // KindCard
	PIN    Secret // KindPIN, KindCode; KindScan: the text scanned
	Digits int    // KindKey: digits entered so far (0 after a clear)
}

func (e Event) String() string {
	switch e.Kind {
	case KindCard:
		return fmt.Sprintf("%s: card %s", e.Reader, e.Card)
	case KindPIN:
		return fmt.Sprintf("%s: pin (%d digits)", e.Reader, e.PIN.Len())
	case KindKey:
		return fmt.Sprintf("%s: key (%d digits)", e.Reader, e.Digits)
	}
	return e.Reader + ": " + e.Kind.String()
}

// LogValue keeps PINs out of structured logs.
func (e Event) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reader", e.Reader), slog.String("kind", e.Kind.String())}
	switch e.Kind {
	case KindCard:
		attrs = append(attrs, slog.String("card", e.Card.String()))
	case KindPIN:
		attrs = append(attrs, slog.Int("digits", e.PIN.Len()))
	case KindKey:
		attrs = append(attrs, slog.Int("digits", e.Digits))
	}
	return slog.GroupValue(attrs...)
}
