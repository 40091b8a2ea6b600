package recognizer

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCollectorSpacesFramesAndPassesAdvice(t *testing.T) {
	c := NewCollector()
	var tips []Problem
	go func() {
		c.Offer(Assessment{Problem: TooSmall})
		c.Offer(Assessment{Problem: TooSmall}) // the same advice once
		c.Offer(Assessment{Problem: TooBlurry})
		for i := range 10 {
			c.Offer(Assessment{Problem: Good, Face: Face{Descriptor: []float32{float32(i)}}})
		}
	}()
	got, err := c.Collect(context.Background(), 3, func(p Problem) { tips = append(tips, p) })
	if err != nil {
		t.Fatal(err)
	}
	// Frames 0, 3 and 6: two passed over between takes.
	if len(got) != 3 || got[0][0] != 0 || got[1][0] != 3 || got[2][0] != 6 {
		t.Errorf("Collect took %v, want frames 0, 3 and 6", got)
	}
	if len(tips) > 2 || (len(tips) > 0 && tips[0] != TooSmall) {
		t.Errorf("advice passed on: %v; want each change once", tips)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := NewCollector().Collect(ctx, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Collect with no frames = %v, want the deadline", err)
	}
}

// jumped measures with match.Distance, the one distance every package
// uses; a frame whose descriptor is missing or of another length is a jump
// (the challenge fails closed), never a panic.
func TestJumped(t *testing.T) {
	a := []float32{0, 0, 0, 0}
	for _, tt := range []struct {
		b    []float32
		want bool
	}{
		{[]float32{0, 0, 0, 0}, false},
		{[]float32{0.3, 0, 0, 0}, false},
		{[]float32{0.3, 0.4, 0, 0}, true}, // 0.5: at the limit
		{[]float32{0, 0, 0, 2}, true},
		{nil, true},
		{[]float32{0, 0}, true},
		{[]float32{0, 0, 0, 0, 0}, true},
	} {
		if got := jumped(a, tt.b, 0.5); got != tt.want {
			t.Errorf("jumped(%v, %v, 0.5) = %v, want %v", a, tt.b, got, tt.want)
		}
	}
}
