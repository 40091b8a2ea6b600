package match

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoDescriptors is returned by Fuse when given nothing to fuse.
var ErrNoDescriptors = errors.New("match: no descriptors to fuse")

// Fuse combines descriptors of one face, seen in several frames, into one
// probe: their mean direction, scaled to the mean of their lengths.
//
// The length is kept because averaging shortens a vector (the more the
// frames differ, the more), and distances are measured in the model's own
// space: a unit-length model's descriptors (compared by cosine) stay on the
// unit sphere, where the Euclidean distance is a function of the cosine;
// dlib's descriptors (lengths about 1.33 to 1.52 on idols.json, compared
// Euclidean) stay on the shell where single descriptors lie, so a fused
// stranger is not pulled toward every template by the shrinking alone (the
// plain mean is measured beside it in docs/accuracy.md, "Multi-frame
// fusion"). One descriptor is returned as a copy of itself.
//
// The descriptors must have one length and finite components; the caller
// keeps ownership of them.
func Fuse(vs [][]float32) ([]float32, error) {
	if len(vs) == 0 {
		return nil, ErrNoDescriptors
	}
	dim := len(vs[0])
	sum := make([]float64, dim)
	var length float64
	for i, v := range vs {
		if len(v) != dim {
			return nil, fmt.Errorf("match: fuse: descriptor %d: %w: got %d, want %d", i, ErrDimension, len(v), dim)
		}
		var sq float64
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("match: fuse: descriptor %d: %w", i, ErrNotFinite)
			}
			sum[j] += float64(x)
			sq += float64(x) * float64(x)
		}
		length += math.Sqrt(sq)
	}
	length /= float64(len(vs))
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dim)
	if norm == 0 {
		// Opposite descriptors cancel: there is no direction to keep,
		// and the zero vector is as far from every template as can be
		// said without one.
		return out, nil
	}
	for j, x := range sum {
		out[j] = float32(x / norm * length)
	}
	return out, nil
}
