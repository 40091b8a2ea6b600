package fallback

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzNoOpen is the pure twin of TestNoByteSequenceOpensTheDoor: any bytes,
// split over an ASCII reader, a Wiegand converter and a keypad, through the
// same decision (allow set, card+PIN paired per reader), never open unless the
// bytes hold an allowed credential's own frame.
func FuzzNoOpen(f *testing.F) {
	f.Add([]byte(strings.Repeat("9", 200)+"4242424242\r\n"), uint8(0))
	f.Add([]byte("4242424243\r\n777\r\n"), uint8(3))
	f.Add([]byte("2026073\r\n"), uint8(1))
	f.Add([]byte("2580#"), uint8(2))
	f.Add([]byte("18446744073709551616\r\n"), uint8(0))
	w, _ := EncodeWiegand(1, 4242, 26)
	hexW := fmt.Sprintf("%07X", w)
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		s := strings.ToUpper(string(b))
		for _, allowed := range []string{"4242424242", hexW, "777", "2580"} {
			if strings.Contains(s, allowed) {
				return // holds a real credential's frame
			}
		}
		now := time.Unix(1_800_000_000, 0)
		pairing := NewPairing(PairingConfig{Bind: map[string]string{"pad": "ascii"}, Now: func() time.Time { return now }})
		pins := map[string]string{"777": "2580"}
		allow := map[string]bool{"4242424242": true, "1:4242": true}
		asciiCfg := LineConfig{MaxLen: 32}
		readers := map[string]protocol{
			"ascii":   &lineProto{cfg: asciiCfg, parse: func(f []byte) (Card, error) { return ParseASCII(asciiCfg, f) }},
			"wiegand": &lineProto{cfg: LineConfig{}, parse: func(f []byte) (Card, error) { return ParseWiegand(WiegandConfig{}, f) }},
			"pad":     &keypadProto{},
		}
		names := []string{"ascii", "wiegand", "pad"}
		for i := 0; i < len(b); {
			n := min(len(b)-i, int(split%7)+1)
			name := names[(i/n+int(split))%3]
			readers[name].feed(b[i:i+n], now, func(ev Event) {
				ev.Reader = name
				open := ev.Kind == KindCard && allow[ev.Card.Key()]
				switch ev.Kind {
				case KindCard:
					pairing.Card(ev)
				case KindPIN:
					if c, _, ok := pairing.PIN(ev); ok && pins[c.Key()] == ev.PIN.Reveal() {
						open = true
					}
				}
				if open {
					t.Fatalf("door opened by %v from %q", ev, b)
				}
			}, func(error) {})
			i += n
		}
	})
}
