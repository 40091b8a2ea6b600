package match_test

import (
	"errors"
	"math"
	"testing"

	"github.com/gated-dev/gated/internal/match"
)

func TestFuseKeepsDirectionAndLength(t *testing.T) {
	tests := []struct {
		name string
		in   [][]float32
		want []float32
	}{
		{"one descriptor is itself", [][]float32{{3, 4}}, []float32{3, 4}},
		// Unit vectors 90 degrees apart: the mean (0.5, 0.5) is scaled
		// back onto the unit circle.
		{"unit vectors stay unit", [][]float32{{1, 0}, {0, 1}}, []float32{float32(math.Sqrt(0.5)), float32(math.Sqrt(0.5))}},
		// Lengths 2 and 4 along one direction: the mean length, 3.
		{"lengths are averaged", [][]float32{{2, 0}, {4, 0}}, []float32{3, 0}},
		{"opposite descriptors cancel to zero", [][]float32{{1, 0}, {-1, 0}}, []float32{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := match.Fuse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("Fuse(%v) = %v, want %v", tt.in, got, tt.want)
				}
			}
		})
	}
	in := [][]float32{{1, 2}}
	out, _ := match.Fuse(in)
	out[0] = 9
	if in[0][0] != 1 {
		t.Errorf("Fuse returned the caller's slice: changing the result changed the input")
	}
}

func TestFuseRefusesBadInput(t *testing.T) {
	nan := float32(math.NaN())
	for _, tt := range []struct {
		name string
		in   [][]float32
		want error
	}{
		{"nothing", nil, match.ErrNoDescriptors},
		{"mixed dimensions", [][]float32{{1, 2}, {1, 2, 3}}, match.ErrDimension},
		{"NaN", [][]float32{{1, 2}, {nan, 0}}, match.ErrNotFinite},
	} {
		if _, err := match.Fuse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("Fuse(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// BenchmarkFuse: the gate fuses twice a frame (to follow the face, and to
// decide), three 512-d descriptors (fr-feature's) each time.
func BenchmarkFuse(b *testing.B) {
	vs := make([][]float32, 3)
	for i := range vs {
		vs[i] = make([]float32, 512)
		for j := range vs[i] {
			vs[i][j] = float32((i+1)*(j%7)) / 100
		}
	}
	for b.Loop() {
		if _, err := match.Fuse(vs); err != nil {
			b.Fatal(err)
		}
	}
}
