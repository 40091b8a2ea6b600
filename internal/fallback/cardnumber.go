package fallback

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrCardNumber is wrapped by NormalizeCardNumber's errors: the text is not
// a card number any reader could send.
var ErrCardNumber = errors.New("fallback: not a card number")

// cardNumberHelp says what a card number looks like, in every error of
// NormalizeCardNumber.
const cardNumberHelp = "type the card's number in decimal as the gate reads it " +
	"(1 to 39 digits, e.g. 4215673; a reader set to hex is converted to decimal), " +
	"or facility:number for a Wiegand card (e.g. 12:34567, each 0 to 65535)"

// maxCardInput bounds what NormalizeCardNumber reads, leading zeros
// included: the longest frame an ASCII reader accepts by default.
const maxCardInput = 64

// NormalizeCardNumber turns a card number typed by staff into exactly the
// Card.Key that a reader produces for that card, so that a card registered
// by hand is found when it is swiped. It accepts:
//
//   - a number in decimal digits: Key of a card read as text (ASCII and
//     OSDP FMT readers) or as raw bits (OSDP RAW). Readers set to hex
//     convert to decimal, so staff type the decimal form. Leading zeros are
//     dropped ("01001" is the card a reader reads as 1001); 0 is refused,
//     as every reader refuses it; at most 39 significant digits (128 bits).
//   - facility:number, both decimal: Key of a Wiegand 26- or 34-bit card.
//     Each part drops its leading zeros, 0 stays "0" ("012:000" is
//     "12:0"); each is at most 65535.
//
// Space around the number is ignored; full-width digits and colon (as a
// Chinese input method types them) count as their ASCII forms. Anything
// else (letters, signs, inner spaces, separators other than one colon, an
// empty or over-long text) is refused with an error wrapping ErrCardNumber
// that says what a card number looks like.
func NormalizeCardNumber(s string) (string, error) {
	t := strings.TrimSpace(halfWidth(s))
	if t == "" {
		return "", fmt.Errorf("%w: empty: %s", ErrCardNumber, cardNumberHelp)
	}
	if len(t) > maxCardInput {
		return "", fmt.Errorf("%w: %d characters is too long: %s", ErrCardNumber, len(t), cardNumberHelp)
	}
	fac, num, wiegand := strings.Cut(t, ":")
	if !wiegand {
		n, err := decimal(t)
		switch {
		case err != nil:
			return "", fmt.Errorf("%w: %q %v: %s", ErrCardNumber, t, err, cardNumberHelp)
		case n == "0":
			return "", fmt.Errorf("%w: 0 is not a card number any reader sends: %s", ErrCardNumber, cardNumberHelp)
		case len(n) > maxDecDigits:
			return "", fmt.Errorf("%w: %d digits, more than the %d of the longest card (128 bits): %s", ErrCardNumber, len(n), maxDecDigits, cardNumberHelp)
		}
		return n, nil
	}
	f, err := decimal(fac)
	if err != nil {
		return "", fmt.Errorf("%w: facility %q %v: %s", ErrCardNumber, fac, err, cardNumberHelp)
	}
	n, err := decimal(num)
	if err != nil {
		return "", fmt.Errorf("%w: number %q after the facility %v: %s", ErrCardNumber, num, err, cardNumberHelp)
	}
	for _, part := range []struct{ name, v string }{{"facility", f}, {"number", n}} {
		// 16 bits each: 34-bit Wiegand's facility and either format's
		// card number (26-bit facilities stop at 255, a subset).
		if _, err := strconv.ParseUint(part.v, 10, 16); err != nil {
			return "", fmt.Errorf("%w: Wiegand %s %s is over 65535: %s", ErrCardNumber, part.name, part.v, cardNumberHelp)
		}
	}
	return f + ":" + n, nil
}

// decimal checks s is only ASCII decimal digits and returns it without
// its leading zeros ("0" for zero).
func decimal(s string) (string, error) {
	if s == "" {
		return "", errors.New("is empty")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("has %q, not a digit", r)
		}
	}
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t, nil
	}
	return "0", nil
}

// halfWidth maps full-width digits and colon (U+FF10-FF1A) to ASCII.
func halfWidth(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= '０' && r <= '：' }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '：' {
			return r - '０' + '0'
		}
		return r
	}, s)
}
