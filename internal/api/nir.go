package api

import "context"

// NIRRegister asks the gate to register its colour and NIR cameras: Pairs
// frame pairs with exactly one face in each (default 10), within Timeout
// (default 60 s, at most 2 min).
type NIRRegister struct {
	Pairs   int      `json:"pairs,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

// NIRRegistered is the registration stored.
type NIRRegistered struct {
	Summary  string  `json:"summary"`
	Scale    float64 `json:"scale"`
	ShiftX   float64 `json:"shift_x"`
	ShiftY   float64 `json:"shift_y"`
	Residual float64 `json:"residual_px"`
	Pairs    int     `json:"pairs"`
}

// RegisterNIR runs the guided colour-to-NIR registration at the gate.
func (c *Client) RegisterNIR(ctx context.Context, r NIRRegister) (out NIRRegistered, err error) {
	err = c.c.Do(ctx, "POST", "/v0/camera/nir-register", r, &out)
	return
}
