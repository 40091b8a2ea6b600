package fallback

import (
	"fmt"
	"math/bits"
	"strconv"
)

// WiegandConfig says how a Wiegand-to-serial converter sends frames: each
// raw frame, most significant bit first, as hex digits right-aligned in a
// line (26 bits in 7 digits, 34 bits in 9), framed as in Line (Base is
// ignored).
type WiegandConfig struct {
	Line LineConfig
	// Bits is 26 or 34; 0 accepts both, telling them apart by the number of
	// hex digits.
	Bits int
}

func (c WiegandConfig) validate() error {
	switch c.Bits {
	case 0, 26, 34:
	default:
		return fmt.Errorf("%w: wiegand bits %d: use 26, 34 or 0 (both)", ErrConfig, c.Bits)
	}
	return nil
}

// DecodeWiegand checks the parity of a raw frame of n bits (26 or 34; bit 1,
// the leading even-parity bit, is the most significant) and returns the card.
//
// 26-bit (H10301): P(even over bits 2-13) F(8) C(16) P(odd over bits 14-25).
// 34-bit: P(even over bits 2-17) F(16) C(16) P(odd over bits 18-33).
func DecodeWiegand(raw uint64, n int) (Card, error) {
	var half, fbits int
	var format Format
	switch n {
	case 26:
		half, fbits, format = 12, 8, FormatWiegand26
	case 34:
		half, fbits, format = 16, 16, FormatWiegand34
	default:
		return Card{}, fmt.Errorf("%w: %d-bit wiegand frame", ErrFrame, n)
	}
	if raw>>uint(n) != 0 {
		return Card{}, fmt.Errorf("%w: more than %d bits", ErrFrame, n)
	}
	payload := (raw >> 1) & (1<<uint(n-2) - 1)
	lead := raw >> uint(n-1) & 1
	trail := raw & 1
	hi := payload >> uint(half)
	lo := payload & (1<<uint(half) - 1)
	if (uint64(bits.OnesCount64(hi))+lead)%2 != 0 {
		return Card{}, fmt.Errorf("%w: leading even parity", ErrParity)
	}
	if (uint64(bits.OnesCount64(lo))+trail)%2 != 1 {
		return Card{}, fmt.Errorf("%w: trailing odd parity", ErrParity)
	}
	cbits := n - 2 - fbits
	card := payload & (1<<uint(cbits) - 1)
	fac := payload >> uint(cbits)
	return Card{
		Number:      strconv.FormatUint(card, 10),
		Facility:    uint32(fac),
		HasFacility: true,
		Bits:        n,
		Format:      format,
	}, nil
}

// EncodeWiegand builds the raw n-bit frame (26 or 34) for a facility code
// and card number, with both parity bits. It is the inverse of DecodeWiegand
// and serves tests and tools that write frames.
func EncodeWiegand(facility, number uint32, n int) (uint64, error) {
	var half, fbits int
	switch n {
	case 26:
		half, fbits = 12, 8
	case 34:
		half, fbits = 16, 16
	default:
		return 0, fmt.Errorf("%w: %d-bit wiegand frame", ErrFrame, n)
	}
	cbits := n - 2 - fbits
	if uint64(facility) >= 1<<uint(fbits) || uint64(number) >= 1<<uint(cbits) {
		return 0, fmt.Errorf("%w: facility %d or card %d does not fit %d bits", ErrFrame, facility, number, n)
	}
	payload := uint64(facility)<<uint(cbits) | uint64(number)
	hi := payload >> uint(half)
	lo := payload & (1<<uint(half) - 1)
	lead := uint64(bits.OnesCount64(hi) % 2)
	trail := uint64(1 - bits.OnesCount64(lo)%2)
	return lead<<uint(n-1) | payload<<1 | trail, nil
}

// ParseWiegand decodes one frame (without its ending) from a
// Wiegand-to-serial converter: hex digits of the raw frame, parity checked.
func ParseWiegand(cfg WiegandConfig, frame []byte) (Card, error) {
	s, err := stripFrame(cfg.Line, frame)
	if err != nil {
		return Card{}, err
	}
	n := cfg.Bits
	switch {
	case n == 0 && len(s) == 7:
		n = 26
	case n == 0 && len(s) == 9:
		n = 34
	case n == 0:
		return Card{}, fmt.Errorf("%w: %d hex digits: want 7 (26 bits) or 9 (34 bits)", ErrFrame, len(s))
	case len(s) != (n+3)/4:
		return Card{}, fmt.Errorf("%w: %d hex digits for %d bits", ErrFrame, len(s), n)
	}
	var raw uint64
	for _, c := range s {
		d := digitValue(c, 16)
		if d < 0 {
			return Card{}, fmt.Errorf("%w: %q is not a hex digit", ErrFrame, c)
		}
		raw = raw<<4 | uint64(d)
	}
	return DecodeWiegand(raw, n)
}
