package fallback_test

import (
	"fmt"

	"github.com/gated-dev/gated/internal/fallback"
)

func ExampleParseWiegand() {
	c, err := fallback.ParseWiegand(fallback.WiegandConfig{Bits: 26}, []byte("2026073"))
	fmt.Println(c, err)
	_, err = fallback.ParseWiegand(fallback.WiegandConfig{Bits: 26}, []byte("2026072"))
	fmt.Println(err)
	// Output:
	// wiegand26 1:12345 <nil>
	// fallback: wiegand parity error: trailing odd parity
}

func ExampleParseASCII() {
	c, _ := fallback.ParseASCII(fallback.LineConfig{Prefix: "UID:", Base: 16}, []byte("UID:DEADBEEF"))
	fmt.Println(c.Key())
	// Output: 3735928559
}

func ExamplePairing() {
	p := fallback.NewPairing(fallback.PairingConfig{Bind: map[string]string{"gate-pad": "gate"}})
	p.Card(fallback.Event{Reader: "gate", Kind: fallback.KindCard, Card: fallback.Card{Number: "42"}})
	card, reader, ok := p.PIN(fallback.Event{Reader: "gate-pad", Kind: fallback.KindPIN, PIN: fallback.NewSecret("1234")})
	fmt.Println(card.Key(), reader, ok)
	_, _, ok = p.PIN(fallback.Event{Reader: "gate-pad", Kind: fallback.KindPIN, PIN: fallback.NewSecret("1234")})
	fmt.Println(ok)
	// Output:
	// 42 gate true
	// false
}
