// Package whiten adapts face descriptors to a population with a linear map
// fitted on labelled descriptors: within-person covariance whitening with
// strong shrinkage, then scaling to unit length, so that Euclidean distance
// between adapted descriptors is a monotone function of cosine distance.
// Directions along which one person's photos vary (pose, light, camera) are
// shrunk; directions that tell people apart keep their weight.
//
// It owns only the arithmetic of fitting and applying the map, in pure Go.
// It never reads or writes files, and never mixes spaces: an adapted
// descriptor is comparable only with descriptors adapted by the same
// Transform (its Name says which), never with raw ones.
//
// gated-eval measures it as the research model dlib+white
// (models.DlibWhiten), fitted on each split's enrolled gallery as a device
// would fit it on its residents' templates. The gate binary does not link
// it.
package whiten

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gated-dev/gated/internal/linalg"
)

// ErrTooFew is returned when the descriptors cannot support a fit.
var ErrTooFew = errors.New("whiten: too few labelled descriptors")

// DefaultShrink is the shrinkage used when Fit is given 0: the within-person
// covariance is blended half-and-half with a multiple of the identity of the
// same trace. Chosen on idols.json (public) and checked on the East Asian
// photos (docs/accuracy.md): from 0.3 to 0.8 the results barely move.
const DefaultShrink = 0.5

// Transform maps a descriptor x to W(x - mean), scaled to unit length.
type Transform struct {
	dim  int
	mean []float64
	w    []float64 // dim*dim, row-major, symmetric
	// Name identifies the fitted map, for templates to record
	// ("whiten-<first 12 hex digits of its SHA-256>").
	Name string
}

// Fit fits a transform on descriptors vecs labelled by labels (one person
// per label; people with a single descriptor add to the mean only). shrink
// in (0, 1] blends the within-person covariance with the identity; 0 means
// DefaultShrink.
func Fit(vecs [][]float32, labels []string, shrink float64) (*Transform, error) {
	if len(vecs) != len(labels) || len(vecs) == 0 {
		return nil, fmt.Errorf("%w: %d descriptors, %d labels", ErrTooFew, len(vecs), len(labels))
	}
	if shrink == 0 {
		shrink = DefaultShrink
	}
	if !(shrink > 0 && shrink <= 1) {
		return nil, fmt.Errorf("whiten: shrink %v, want a value in (0, 1]", shrink)
	}
	d := len(vecs[0])
	byPerson := map[string][]int{}
	for i, v := range vecs {
		if len(v) != d {
			return nil, fmt.Errorf("whiten: descriptor %d has %d components, want %d", i, len(v), d)
		}
		byPerson[labels[i]] = append(byPerson[labels[i]], i)
	}
	mean := make([]float64, d)
	for _, v := range vecs {
		for j, x := range v {
			mean[j] += float64(x) / float64(len(vecs))
		}
	}
	cov := make([]float64, d*d)
	dof := 0
	r := make([]float64, d)
	people := make([]string, 0, len(byPerson))
	for p := range byPerson {
		people = append(people, p)
	}
	slices.Sort(people) // a fixed summation order: the same fit, the same Name
	for _, p := range people {
		idx := byPerson[p]
		if len(idx) < 2 {
			continue
		}
		c := make([]float64, d)
		for _, i := range idx {
			for j, x := range vecs[i] {
				c[j] += float64(x) / float64(len(idx))
			}
		}
		for _, i := range idx {
			for j, x := range vecs[i] {
				r[j] = float64(x) - c[j]
			}
			for a := range d {
				ra := r[a]
				row := cov[a*d : (a+1)*d]
				for b := range d {
					row[b] += ra * r[b]
				}
			}
		}
		dof += len(idx) - 1
	}
	if dof < 10 {
		return nil, fmt.Errorf("%w: %d within-person degrees of freedom, need 10 (people with two or more descriptors)", ErrTooFew, dof)
	}
	var tr float64
	for a := range d {
		tr += cov[a*d+a]
	}
	avg := tr / float64(dof) / float64(d)
	for i := range cov {
		cov[i] *= (1 - shrink) / float64(dof)
	}
	for a := range d {
		cov[a*d+a] += shrink * avg
	}
	vals, vecsE := linalg.SymEigen(cov, d)
	w := make([]float64, d*d)
	for k := range d {
		if !(vals[k] > 0) {
			return nil, fmt.Errorf("whiten: covariance not positive definite (eigenvalue %g)", vals[k])
		}
		s := 1 / math.Sqrt(vals[k])
		for a := range d {
			va := vecsE[a*d+k] * s
			for b := range d {
				w[a*d+b] += va * vecsE[b*d+k]
			}
		}
	}
	t := &Transform{dim: d, mean: mean, w: w}
	t.Name = "whiten-" + t.digest()[:12]
	return t, nil
}

func (t *Transform) digest() string {
	h := sha256.New()
	var b [8]byte
	for _, x := range append(append([]float64(nil), t.mean...), t.w...) {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Dim is the descriptor dimension the transform takes and gives.
func (t *Transform) Dim() int { return t.dim }

// Apply returns the adapted descriptor of v (unit length).
func (t *Transform) Apply(v []float32) ([]float32, error) {
	if len(v) != t.dim {
		return nil, fmt.Errorf("whiten: descriptor has %d components, want %d", len(v), t.dim)
	}
	d := t.dim
	c := make([]float64, d)
	for j, x := range v {
		c[j] = float64(x) - t.mean[j]
	}
	out := make([]float32, d)
	var norm float64
	y := make([]float64, d)
	for a := range d {
		row := t.w[a*d : (a+1)*d]
		var s float64
		for b, x := range c {
			s += row[b] * x
		}
		y[a] = s
		norm += s * s
	}
	norm = math.Sqrt(norm)
	if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("whiten: descriptor maps to %v length", norm)
	}
	for a := range d {
		out[a] = float32(y[a] / norm)
	}
	return out, nil
}
