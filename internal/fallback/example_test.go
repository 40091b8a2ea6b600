package fallback_test

import (
	"context"
	"fmt"
	"time"

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

func ExampleAuthenticator() {
	now := time.Unix(1_800_000_000, 0)
	auth, _ := fallback.NewAuthenticator(fallback.AuthConfig{
		Checker: pinTable{"42": "1234"}, // the daemon passes the store here
		Now:     func() time.Time { return now },
	})
	ctx := context.Background()
	for _, ev := range []fallback.Event{
		{Reader: "gate", Kind: fallback.KindCard, Card: fallback.Card{Number: "42"}},
		{Reader: "gate", Kind: fallback.KindPIN, PIN: fallback.NewSecret("1234")},
	} {
		d, _ := auth.Handle(ctx, ev)
		fmt.Println(ev, "->", d.Outcome)
	}
	// Output:
	// gate: card unknown 42 -> need-pin
	// gate: pin (4 digits) -> granted
}
