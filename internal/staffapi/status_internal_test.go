package staffapi

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/gated-dev/gated/internal/gate"
)

// TestDecisionsAlwaysEncode: a decision whose distance or margin is not a
// finite number (an unknown face at an empty gallery) still encodes as
// JSON, so the decision stream of gated watch never breaks.
func TestDecisionsAlwaysEncode(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, g := range []gate.Decision{
		{Method: gate.MethodFace, Outcome: gate.Denied, Distance: inf},
		{Method: gate.MethodFace, Outcome: gate.Granted, Resident: "r-1", Distance: nan, Margin: nan},
		{Method: gate.MethodFace, Outcome: gate.Granted, Resident: "r-1", Distance: 0.3, Margin: inf},
	} {
		b, err := json.Marshal(apiDecision(g))
		if err != nil {
			t.Errorf("decision %+v does not encode: %v", g, err)
			continue
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil || back["distance"] == nil {
			t.Errorf("%s: %v; want a distance field", b, err)
		}
	}
}
