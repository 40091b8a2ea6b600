package calibrate_test

import (
	"errors"
	"fmt"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/match"
)

// The daemon estimates from its own gallery, decides the mode, and checks a
// policy before it lets face alone open the door.
func Example() {
	var g calibrate.Templates // resident ID -> templates, from the store
	est, err := calibrate.Fit(g, calibrate.Config{Target: 1e-4})
	if errors.Is(err, calibrate.ErrTooFew) {
		fmt.Println("too few residents to estimate: face only confirms a card holder, or is off")
		return
	}
	d := est.Choose()
	fmt.Println(d.Mode, d.Reason)
	if err := est.CheckIdentify(match.Policy{Threshold: 0.6}); err != nil {
		fmt.Println("refused:", err)
	}
	// Output: too few residents to estimate: face only confirms a card holder, or is off
}
