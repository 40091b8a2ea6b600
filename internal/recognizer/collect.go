package recognizer

import (
	"context"
	"fmt"
)

// Collector gathers the descriptors of one enrollment from the camera's
// frames: the camera loop Offers each frame's Assessment, and Collect
// takes good ones, a few frames apart so that the templates are not copies
// of one pose, passing the quality advice on each time it changes. Safe
// for one Collect and a concurrent stream of Offers.
type Collector struct {
	good    chan []float32
	advice  chan Problem
	lastTip Problem // Offer's own: the camera loop is one goroutine
}

// NewCollector returns a Collector ready for frames.
func NewCollector() *Collector {
	return &Collector{good: make(chan []float32, 64), advice: make(chan Problem, 8)}
}

// Offer hands over one frame's assessment; it never blocks.
func (c *Collector) Offer(a Assessment) {
	if a.Problem == Good {
		select {
		case c.good <- a.Face.Descriptor:
		default: // enough already
		}
		return
	}
	if a.Problem != c.lastTip {
		c.lastTip = a.Problem
		select {
		case c.advice <- a.Problem:
		default:
		}
	}
}

// collectGap is how many good frames are passed over between two taken.
const collectGap = 2

// Collect waits for n good descriptors, or until ctx ends, reporting
// advice through tips (may be nil).
func (c *Collector) Collect(ctx context.Context, n int, tips func(Problem)) ([][]float32, error) {
	var out [][]float32
	skip := 0
	for len(out) < n {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d good frames: %w", len(out), n, ctx.Err())
		case p := <-c.advice:
			if tips != nil {
				tips(p)
			}
		case v := <-c.good:
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, v)
			skip = collectGap
		}
	}
	return out, nil
}
