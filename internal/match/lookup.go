package match

import (
	"fmt"
	"math"
)

// Lookup finds the nearest resident to the probe descriptor q and the
// nearest other resident. It is exact: every template is considered.
func (g *Gallery) Lookup(q []float32) (Result, error) {
	if err := g.check(q); err != nil {
		return Result{}, fmt.Errorf("match: lookup: %w", err)
	}
	var buf [64]float32
	ph := buf[:0]
	if g.head > len(buf) {
		ph = make([]float32, 0, g.head)
	}
	ph = ph[:g.head]

	g.mu.RLock()
	defer g.mu.RUnlock()
	g.project(ph, q)
	best, bd, runner, rd := g.scan(q, ph)
	r := Result{Distance: float32(math.Inf(1)), RunnerDistance: float32(math.Inf(1))}
	if best >= 0 {
		r.Resident, r.Distance = g.ids[best], sqrt(bd)
	}
	if runner >= 0 {
		r.Runner, r.RunnerDistance = g.ids[runner], sqrt(rd)
	}
	return r, nil
}

// Distance returns the distance from q to the nearest template of one
// resident (1:1 verification), and false when the resident has none.
func (g *Gallery) Distance(resident string, q []float32) (float32, bool, error) {
	if err := g.check(q); err != nil {
		return 0, false, fmt.Errorf("match: distance: %w", err)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	slot, ok := g.slots[resident]
	if !ok || len(g.where[slot]) == 0 {
		return 0, false, nil
	}
	d := g.dim
	best := float32(math.Inf(1))
	for _, i := range g.where[slot] {
		best = min(best, sqdist(q, g.vecs[int(i)*d:int(i+1)*d]))
	}
	return sqrt(best), true, nil
}

// scan returns the slots and squared distances of the nearest resident and
// of the nearest other resident (slot -1 when there is none). q is the probe
// and ph its projection.
func (g *Gallery) scan(q, ph []float32) (best int32, bd float32, runner int32, rd float32) {
	d, h := g.dim, g.head
	best, runner = -1, -1
	bd, rd = float32(math.Inf(1)), float32(math.Inf(1))
	vecs, headv, owner := g.vecs, g.headv, g.owner
	fast := h%8 == 0
	half := h / 2
	for i, o := range owner {
		// The projected distance is a lower bound of the true one, and
		// partial sums only grow: once either reaches rd, this template can
		// change neither the best nor the runner-up. This bound, checked
		// halfway and at the end of the projection, rejects ~99% of templates
		// of a large gallery, so it is written out by hand for speed.
		hv := headv[i*h : (i+1)*h]
		if fast {
			hv = hv[:len(ph)]
			var s0, s1, s2, s3 float32
			j := 0
			for ; j < half; j += 4 {
				d0, d1, d2, d3 := ph[j]-hv[j], ph[j+1]-hv[j+1], ph[j+2]-hv[j+2], ph[j+3]-hv[j+3]
				s0 += d0 * d0
				s1 += d1 * d1
				s2 += d2 * d2
				s3 += d3 * d3
			}
			if (s0+s1)+(s2+s3) >= rd {
				continue
			}
			for ; j < len(ph); j += 4 {
				d0, d1, d2, d3 := ph[j]-hv[j], ph[j+1]-hv[j+1], ph[j+2]-hv[j+2], ph[j+3]-hv[j+3]
				s0 += d0 * d0
				s1 += d1 * d1
				s2 += d2 * d2
				s3 += d3 * d3
			}
			if (s0+s1)+(s2+s3) >= rd {
				continue
			}
		} else if boundedDist(ph, hv, rd) >= rd {
			continue
		}
		dist := boundedDist(q, vecs[i*d:(i+1)*d], rd)
		if dist >= rd {
			continue
		}
		switch {
		case o == best:
			bd = min(bd, dist)
		case dist < bd:
			runner, rd = best, bd
			best, bd = o, dist
		default: // bd <= dist < rd, another resident
			runner, rd = o, dist
		}
	}
	return best, bd, runner, rd
}

// Distance is the Euclidean distance of two descriptors of equal length: the
// distance Lookup, Gallery.Distance and Policy speak of, and the one every
// other package measures with. It panics when b is shorter than a.
func Distance(a, b []float32) float32 { return sqrt(sqdist(a, b)) }

// boundedDist is the squared distance of p and v, summed in blocks of 16
// components; it stops early, returning a partial sum, once that reaches limit.
func boundedDist(p, v []float32, limit float32) float32 {
	v = v[:len(p)]
	var d float32
	for len(p) >= 16 {
		d += sqdist16((*[16]float32)(p), (*[16]float32)(v))
		if d >= limit {
			return d
		}
		p, v = p[16:], v[16:]
	}
	return d + sqdist(p, v)
}

// sqdist is the squared Euclidean distance of two equal-length vectors.
func sqdist(a, b []float32) float32 {
	if len(a) == 16 && len(b) == 16 {
		return sqdist16((*[16]float32)(a), (*[16]float32)(b))
	}
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func sqdist16(a, b *[16]float32) float32 {
	d0, d1, d2, d3 := a[0]-b[0], a[1]-b[1], a[2]-b[2], a[3]-b[3]
	s0, s1, s2, s3 := d0*d0, d1*d1, d2*d2, d3*d3
	d0, d1, d2, d3 = a[4]-b[4], a[5]-b[5], a[6]-b[6], a[7]-b[7]
	s0 += d0 * d0
	s1 += d1 * d1
	s2 += d2 * d2
	s3 += d3 * d3
	d0, d1, d2, d3 = a[8]-b[8], a[9]-b[9], a[10]-b[10], a[11]-b[11]
	s0 += d0 * d0
	s1 += d1 * d1
	s2 += d2 * d2
	s3 += d3 * d3
	d0, d1, d2, d3 = a[12]-b[12], a[13]-b[13], a[14]-b[14], a[15]-b[15]
	s0 += d0 * d0
	s1 += d1 * d1
	s2 += d2 * d2
	s3 += d3 * d3
	return (s0 + s1) + (s2 + s3)
}

func sqrt(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// Policy decides whether a lookup result identifies a resident.
type Policy struct {
	// Threshold is the largest distance accepted as the same person.
	Threshold float32
	// MinMargin is how much farther the runner-up resident must be.
	MinMargin float32
}

// Validate reports a policy that cannot be used.
func (p Policy) Validate() error {
	if !(p.Threshold > 0) || math.IsInf(float64(p.Threshold), 0) {
		return fmt.Errorf("match: threshold %v must be a positive, finite distance", p.Threshold)
	}
	if !(p.MinMargin >= 0) || math.IsInf(float64(p.MinMargin), 0) {
		return fmt.Errorf("match: minimum margin %v must be zero or a positive, finite distance", p.MinMargin)
	}
	return nil
}

// Accept reports whether r identifies r.Resident: the distance is under the
// threshold and the runner-up is at least MinMargin farther away.
func (p Policy) Accept(r Result) bool {
	return r.Resident != "" && r.Distance < p.Threshold && r.Margin() >= p.MinMargin
}
