package fallback

import (
	"bytes"
	"fmt"
	"math/big"
)

// LineConfig says how a serial reader frames and formats a card number.
type LineConfig struct {
	// Ending ends each frame; "\r\n" when empty. Readers that end with a
	// lone CR or LF are configured with "\r" or "\n"; STX/ETX readers with
	// Prefix "\x02" and Ending "\x03".
	Ending string
	// Prefix and Suffix, when set, must be present and are stripped.
	Prefix, Suffix string
	// Base is 10 (decimal digits, the default) or 16 (hex digits).
	Base int
	// MaxLen bounds a frame in bytes; longer frames are dropped. 64 when 0.
	MaxLen int
}

func (c LineConfig) ending() []byte {
	if c.Ending == "" {
		return []byte("\r\n")
	}
	return []byte(c.Ending)
}

func (c LineConfig) maxLen() int {
	if c.MaxLen <= 0 {
		return 64
	}
	return c.MaxLen
}

func (c LineConfig) validate() error {
	switch c.Base {
	case 0, 10, 16:
	default:
		return fmt.Errorf("%w: line base %d: use 10 or 16", ErrConfig, c.Base)
	}
	return nil
}

// maxDigits bounds a card number: 128 bits, which covers every UID length
// (4, 7 or 10 bytes) and every Wiegand format.
const (
	maxHexDigits = 32
	maxDecDigits = 39
)

// SplitFrame returns the first frame in buf ended by ending, and the bytes
// after it. ok is false when buf holds no complete frame yet.
func SplitFrame(buf, ending []byte) (frame, rest []byte, ok bool) {
	i := bytes.Index(buf, ending)
	if i < 0 {
		return nil, buf, false
	}
	return buf[:i], buf[i+len(ending):], true
}

// ParseASCII decodes one frame (without its ending) from an ASCII reader.
// Surrounding spaces are ignored; the prefix and suffix must match when
// configured; the rest must be only digits of the base, at most 128 bits,
// and not zero. The number is returned in canonical decimal.
func ParseASCII(cfg LineConfig, frame []byte) (Card, error) {
	s, err := stripFrame(cfg, frame)
	if err != nil {
		return Card{}, err
	}
	base := cfg.Base
	if base == 0 {
		base = 10
	}
	n, err := parseNumber(s, base)
	if err != nil {
		return Card{}, err
	}
	return Card{Number: n, Format: FormatASCII}, nil
}

func stripFrame(cfg LineConfig, frame []byte) ([]byte, error) {
	if len(frame) > cfg.maxLen() {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFrame, len(frame), cfg.maxLen())
	}
	s := bytes.TrimSpace(frame)
	if cfg.Prefix != "" {
		if !bytes.HasPrefix(s, []byte(cfg.Prefix)) {
			return nil, fmt.Errorf("%w: prefix missing", ErrFrame)
		}
		s = bytes.TrimSpace(s[len(cfg.Prefix):])
	}
	if cfg.Suffix != "" {
		if !bytes.HasSuffix(s, []byte(cfg.Suffix)) {
			return nil, fmt.Errorf("%w: suffix missing", ErrFrame)
		}
		s = bytes.TrimSpace(s[:len(s)-len(cfg.Suffix)])
	}
	return s, nil
}

// parseNumber checks s is only digits of base and returns it as canonical
// decimal. It never wraps: too many digits is an error.
func parseNumber(s []byte, base int) (string, error) {
	if len(s) == 0 {
		return "", fmt.Errorf("%w: empty number", ErrFrame)
	}
	for _, c := range s {
		if digitValue(c, base) < 0 {
			return "", fmt.Errorf("%w: %q is not a base-%d digit", ErrFrame, c, base)
		}
	}
	t := bytes.TrimLeft(s, "0")
	if len(t) == 0 {
		return "", fmt.Errorf("%w: card number zero", ErrFrame)
	}
	limit := maxDecDigits
	if base == 16 {
		limit = maxHexDigits
	}
	if len(t) > limit {
		return "", fmt.Errorf("%w: %d significant digits, more than %d", ErrFrame, len(t), limit)
	}
	if base == 10 {
		return string(t), nil
	}
	if len(t) <= 15 { // fits in 60 bits: no big.Int needed
		var v uint64
		for _, c := range t {
			v = v<<4 | uint64(digitValue(c, 16))
		}
		return fmt.Sprint(v), nil
	}
	var v big.Int
	if _, ok := v.SetString(string(t), 16); !ok {
		return "", fmt.Errorf("%w: bad hex number", ErrFrame)
	}
	return v.String(), nil
}

func digitValue(c byte, base int) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case base == 16 && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
