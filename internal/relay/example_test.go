package relay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

func ExamplePulse() {
	r := &relaytest.Relay{} // in the daemon: relay.NewSerial or relay.OpenGPIO
	if err := relay.Pulse(context.Background(), r, 10*time.Millisecond); err != nil {
		fmt.Println("alarm:", err)
	}
	for _, op := range r.Ops() {
		fmt.Println("open:", op.Open)
	}
	// Output:
	// open: true
	// open: false
}

func ExampleLCUS() {
	c, _ := relay.LCUS(1)
	fmt.Printf("on % X, off % X\n", c.On, c.Off)
	// Output: on A0 01 01 A2, off A0 01 00 A1
}
