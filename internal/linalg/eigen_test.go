package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSymEigen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 32} {
		// A random symmetric matrix.
		a := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				x := rng.NormFloat64()
				a[i*n+j], a[j*n+i] = x, x
			}
		}
		orig := append([]float64(nil), a...)
		vals, vecs := SymEigen(a, n)
		for k := 0; k < n; k++ {
			// A v_k = lambda_k v_k
			for i := 0; i < n; i++ {
				var av float64
				for j := 0; j < n; j++ {
					av += orig[i*n+j] * vecs[j*n+k]
				}
				if d := math.Abs(av - vals[k]*vecs[i*n+k]); d > 1e-9 {
					t.Fatalf("n=%d: (A v_%d)[%d] off by %g", n, k, i, d)
				}
			}
			// Columns are orthonormal.
			for l := 0; l < n; l++ {
				var dot float64
				for i := 0; i < n; i++ {
					dot += vecs[i*n+k] * vecs[i*n+l]
				}
				want := 0.0
				if k == l {
					want = 1
				}
				if math.Abs(dot-want) > 1e-9 {
					t.Fatalf("n=%d: v_%d . v_%d = %g, want %g", n, k, l, dot, want)
				}
			}
		}
	}
}

func TestSymEigenDiagonal(t *testing.T) {
	vals, _ := SymEigen([]float64{3, 0, 0, 0, 1, 0, 0, 0, 2}, 3)
	for i, want := range []float64{3, 1, 2} {
		if vals[i] != want {
			t.Errorf("eigenvalue %d = %g, want %g", i, vals[i], want)
		}
	}
}
