package eval

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gated-dev/gated/internal/linalg"
)

// Synthesizer draws artificial descriptors that are distributed like a real
// labelled set: person centres from the set's between-person covariance,
// templates around them from its pooled within-person covariance (both
// Gaussian). It makes galleries of any size for benchmarks; it is no
// substitute for real photos when measuring accuracy.
type Synthesizer struct {
	dim     int
	mean    []float64
	between []float64 // dim*dim square root of the between-person covariance
	within  []float64 // dim*dim square root of the within-person covariance
	rng     *rand.Rand
}

// NewSynthesizer fits the model to s, which needs people with two or more
// descriptors each. The seed makes the output repeatable.
func NewSynthesizer(s *Set, seed uint64) (*Synthesizer, error) {
	d := s.Dim
	byPerson := make(map[string][]int)
	for i, l := range s.Labels {
		byPerson[l] = append(byPerson[l], i)
	}
	mean := make([]float64, d)
	var centres [][]float64
	within := make([]float64, d*d)
	nWithin := 0
	for _, idx := range byPerson {
		c := make([]float64, d)
		for _, i := range idx {
			for j, x := range s.Vectors[i] {
				c[j] += float64(x) / float64(len(idx))
			}
		}
		centres = append(centres, c)
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			r := make([]float64, d)
			for j, x := range s.Vectors[i] {
				r[j] = float64(x) - c[j]
			}
			addOuter(within, r)
		}
		nWithin += len(idx) - 1
	}
	if nWithin < d || len(centres) < 2 {
		return nil, fmt.Errorf("eval: synthesizer needs more people with several descriptors (have %d people, %d within-person degrees of freedom, want at least %d)", len(centres), nWithin, d)
	}
	for _, c := range centres {
		for j := range c {
			mean[j] += c[j] / float64(len(centres))
		}
	}
	between := make([]float64, d*d)
	for _, c := range centres {
		r := make([]float64, d)
		for j := range c {
			r[j] = c[j] - mean[j]
		}
		addOuter(between, r)
	}
	scale(between, 1/float64(len(centres)-1))
	scale(within, 1/float64(nWithin))
	return &Synthesizer{
		dim:     d,
		mean:    mean,
		between: sqrtm(between, d),
		within:  sqrtm(within, d),
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

// Person draws a new person's centre.
func (z *Synthesizer) Person() []float64 {
	c := z.gauss(z.between)
	for j := range c {
		c[j] += z.mean[j]
	}
	return c
}

// Template draws one descriptor of the person with the given centre.
func (z *Synthesizer) Template(centre []float64) []float32 {
	e := z.gauss(z.within)
	v := make([]float32, z.dim)
	for j := range v {
		v[j] = float32(centre[j] + e[j])
	}
	return v
}

// Set draws people*perPerson descriptors labelled "s0", "s1", ...
func (z *Synthesizer) Set(people, perPerson int) *Set {
	s := &Set{Dim: z.dim}
	for p := 0; p < people; p++ {
		c := z.Person()
		l := fmt.Sprintf("s%d", p)
		for k := 0; k < perPerson; k++ {
			s.Vectors = append(s.Vectors, z.Template(c))
			s.Labels = append(s.Labels, l)
		}
	}
	return s
}

// gauss returns root * N(0, I).
func (z *Synthesizer) gauss(root []float64) []float64 {
	d := z.dim
	n := make([]float64, d)
	for j := range n {
		n[j] = z.rng.NormFloat64()
	}
	out := make([]float64, d)
	for r := 0; r < d; r++ {
		var s float64
		for c := 0; c < d; c++ {
			s += root[r*d+c] * n[c]
		}
		out[r] = s
	}
	return out
}

func addOuter(m, r []float64) {
	d := len(r)
	for a := 0; a < d; a++ {
		for b := 0; b < d; b++ {
			m[a*d+b] += r[a] * r[b]
		}
	}
}

func scale(m []float64, f float64) {
	for i := range m {
		m[i] *= f
	}
}

// sqrtm returns the symmetric square root of a covariance matrix (negative
// eigenvalues from rounding are taken as zero).
func sqrtm(m []float64, d int) []float64 {
	vals, vecs := linalg.SymEigen(append([]float64(nil), m...), d)
	out := make([]float64, d*d)
	for k := 0; k < d; k++ {
		s := math.Sqrt(math.Max(vals[k], 0))
		for a := 0; a < d; a++ {
			va := vecs[a*d+k] * s
			for b := 0; b < d; b++ {
				out[a*d+b] += va * vecs[b*d+k]
			}
		}
	}
	return out
}
