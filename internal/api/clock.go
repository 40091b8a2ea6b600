package api

import (
	"context"
	"time"
)

// ClockReset is the clock floor before and after gated clock reset.
type ClockReset struct {
	Old time.Time `json:"old"`
	New time.Time `json:"new"`
}

// ResetClock lowers the store's clock floor to the gate's clock (admin).
func (c *Client) ResetClock(ctx context.Context) (out ClockReset, err error) {
	err = c.c.Do(ctx, "POST", "/v0/clock/reset", nil, &out)
	return out, err
}
