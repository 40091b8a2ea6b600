package match

import (
	"slices"

	"github.com/gated-dev/gated/internal/linalg"
)

// maxFitSamples bounds the templates used to fit the projection: the
// covariance of 20,000 of them is as good as of all for this purpose.
const maxFitSamples = 20000

// Reindex fits the gallery's projection to its current templates (their
// leading principal components) and recomputes every template's projection.
// Lookups give the same answers before and after; only their speed changes.
// It does nothing while the gallery holds fewer than 2*dim templates.
func (g *Gallery) Reindex() {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.owner)
	if n < 2*g.dim {
		return
	}
	g.proj = leadingComponents(g.vecs, g.dim, g.head, maxFitSamples)
	for i := 0; i < n; i++ {
		g.project(g.headv[i*g.head:(i+1)*g.head], g.vecs[i*g.dim:(i+1)*g.dim])
	}
	g.fittedLen = n
}

// Fitted returns how many templates the gallery held when its projection
// was last fitted (0: never). A caller may Reindex again once the gallery
// has grown well past it.
func (g *Gallery) Fitted() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.fittedLen
}

// leadingComponents returns k orthonormal rows of length dim (row-major):
// the eigenvectors of the covariance of the rows of vecs with the largest
// eigenvalues, estimated from at most maxRows evenly spaced rows.
func leadingComponents(vecs []float32, dim, k, maxRows int) []float32 {
	n := len(vecs) / dim
	step := 1
	if n > maxRows {
		step = n / maxRows
	}
	mean := make([]float64, dim)
	cnt := 0
	for i := 0; i < n; i += step {
		for j, x := range vecs[i*dim : (i+1)*dim] {
			mean[j] += float64(x)
		}
		cnt++
	}
	for j := range mean {
		mean[j] /= float64(cnt)
	}
	cov := make([]float64, dim*dim)
	c := make([]float64, dim)
	for i := 0; i < n; i += step {
		for j, x := range vecs[i*dim : (i+1)*dim] {
			c[j] = float64(x) - mean[j]
		}
		for a := 0; a < dim; a++ {
			ca := c[a]
			row := cov[a*dim : (a+1)*dim]
			for b := a; b < dim; b++ {
				row[b] += ca * c[b]
			}
		}
	}
	for a := 0; a < dim; a++ {
		for b := a + 1; b < dim; b++ {
			cov[b*dim+a] = cov[a*dim+b]
		}
	}
	vals, vecsE := linalg.SymEigen(cov, dim)
	order := make([]int, dim)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case vals[a] > vals[b]:
			return -1
		case vals[a] < vals[b]:
			return 1
		}
		return a - b
	})
	out := make([]float32, k*dim)
	for r := 0; r < k; r++ {
		col := order[r]
		for j := 0; j < dim; j++ {
			out[r*dim+j] = float32(vecsE[j*dim+col])
		}
	}
	return out
}
