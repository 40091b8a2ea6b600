package calibrate

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/gated-dev/gated/internal/match"
)

// Errors returned by Fit and Estimate methods; callers branch on them.
var (
	// ErrTooFew: the gallery is too small to estimate anything about
	// strangers. The gate must not identify by face alone.
	ErrTooFew = errors.New("calibrate: gallery too small to estimate")
	// ErrTargetMissed: the policy's estimated stranger-accept rate is over
	// the target.
	ErrTargetMissed = errors.New("calibrate: stranger-accept estimate misses the target")
	// ErrInput: a template is empty, of another dimension, or not finite.
	ErrInput = errors.New("calibrate: unusable template")
)

// Templates is an enrolled gallery as calibrate sees it: each resident's
// templates, all of one model, in the space the matcher compares them in
// (unit length for cosine models).
type Templates map[string][][]float32

// Config says what to aim for and how hard to look. The zero value uses the
// defaults.
type Config struct {
	// Target is the largest acceptable chance that one attempt by a stranger
	// is accepted (default 1e-4: one in 10,000).
	Target float64
	// MinAccept is the smallest share of residents' attempts a mode must
	// accept to be worth offering (default 0.8); below it residents would
	// mostly be sent to their card anyway.
	MinAccept float64
	// MaxMisidentify bounds the share of residents' attempts taken for
	// another resident in Identify mode (default 0.005).
	MaxMisidentify float64
	// Confidence is the one-sided confidence of the upper bound on the
	// stranger-accept rate (default 0.95).
	Confidence float64
	// Margins are the minimum margins Choose tries; default 0 and 2.5, 5 and
	// 10% of the median different-resident score.
	Margins []float32
	// MinResidents is the fewest residents, at least 3 of them with two or
	// more templates, that Fit accepts (default 10).
	MinResidents int
	// TailShare is the share of the lowest different-resident scores the
	// tail is fitted to (default 0.05; at least 30 scores are used).
	TailShare float64
	// Bootstrap is the number of bootstrap replicates (default 200).
	Bootstrap int
	// MaxProbes bounds the templates presented to the gallery (default 4000;
	// more are sampled), and so the time Fit takes.
	MaxProbes int
	// MaxScores bounds the different-resident scores kept (default 1e6).
	MaxScores int
	// Duplicate is the distance, as a share of the median distance between
	// templates of different residents, under which two templates of
	// different residents are taken for one face filed under two names
	// (default 0.2; a negative value turns the check off). Such templates
	// are left out of the stranger statistics and listed in
	// Estimate.Duplicates for staff to resolve.
	Duplicate float64
	// BPCER is the share of live faces the gate's presentation-attack
	// detection refuses (0 without PAD): residents' acceptance is
	// multiplied by 1 - BPCER before a mode is judged worth offering. The
	// stranger bound is unchanged (PAD does not stop strangers).
	BPCER float64
	// Fuse is how many frames the gate fuses into one probe (face.frames;
	// match.Fuse). Fused probes lie nearer to everyone than single frames
	// (docs/accuracy.md, "Multi-frame fusion"), so with Fuse > 1 the
	// different-resident scores come from fused probes: each set of
	// min(Fuse, m) of a resident's m templates, fused, against the other
	// residents' single templates, as the gate compares them. Residents'
	// own figures stay leave-one-template-out (fusion only helps them).
	// Default 1: single templates.
	Fuse int
	// Seed makes sampling and bootstrap repeatable.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.Target == 0 {
		c.Target = 1e-4
	}
	if c.MinAccept == 0 {
		c.MinAccept = 0.8
	}
	if c.MaxMisidentify == 0 {
		c.MaxMisidentify = 0.005
	}
	if c.Confidence == 0 {
		c.Confidence = 0.95
	}
	if c.MinResidents == 0 {
		c.MinResidents = 10
	}
	if c.TailShare == 0 {
		c.TailShare = 0.05
	}
	if c.Bootstrap == 0 {
		c.Bootstrap = 200
	}
	if c.MaxProbes == 0 {
		c.MaxProbes = 4000
	}
	if c.MaxScores == 0 {
		c.MaxScores = 1_000_000
	}
	if c.Duplicate == 0 {
		c.Duplicate = 0.2
	}
	if c.Fuse == 0 {
		c.Fuse = 1
	}
	return c
}

func (c Config) validate() error {
	if !(c.BPCER >= 0 && c.BPCER < 1) {
		return fmt.Errorf("calibrate: BPCER = %v, want a share in [0, 1)", c.BPCER)
	}
	bad := func(name string, v float64) error {
		return fmt.Errorf("calibrate: %s = %v, want a value in (0, 1)", name, v)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"Target", c.Target}, {"MinAccept", c.MinAccept}, {"MaxMisidentify", c.MaxMisidentify}, {"Confidence", c.Confidence}, {"TailShare", c.TailShare}} {
		if !(f.v > 0 && f.v < 1) {
			return bad(f.name, f.v)
		}
	}
	for _, m := range c.Margins {
		if !(m >= 0) || math.IsInf(float64(m), 0) {
			return fmt.Errorf("calibrate: margin %v, want a finite value >= 0", m)
		}
	}
	if c.Fuse < 1 || c.Fuse > 30 {
		return fmt.Errorf("calibrate: Fuse = %d, want 1-30 frames", c.Fuse)
	}
	if !(c.Duplicate < 1) {
		return fmt.Errorf("calibrate: Duplicate = %v, want a value under 1", c.Duplicate)
	}
	if c.MinResidents < 3 || c.Bootstrap < 20 || c.MaxProbes < 10 || c.MaxScores < 100 {
		return fmt.Errorf("calibrate: MinResidents %d, Bootstrap %d, MaxProbes %d, MaxScores %d: want at least 3, 20, 10, 100",
			c.MinResidents, c.Bootstrap, c.MaxProbes, c.MaxScores)
	}
	return nil
}

// Summary describes the different-resident scores: the distance from one
// resident's template to another resident's nearest template.
type Summary struct {
	Min, P001, P01, P05, Median float32 // minimum; 0.1%, 1%, 5% quantiles; median
}

// Tail is the fitted lower tail of the different-resident scores:
// F(s) = Φ(A + B·s), fitted to the scores under Upto.
type Tail struct {
	A, B   float64
	Upto   float32 // largest score in the fitted tail
	Points int     // scores in the fitted tail
}

// Estimate is what a gallery shows about strangers and residents. Its
// methods answer for any policy; Choose picks one. It does not change after
// Fit and is safe for concurrent use. It holds distances, never templates.
type Estimate struct {
	Config    Config // the configuration used, defaults filled in
	Residents int    // residents in the gallery
	Templates int    // templates in the gallery
	// Scores is the number of different-resident scores measured; Probes the
	// templates presented (all, or a sample of MaxProbes); GenuineProbes
	// those of residents with two or more templates.
	Scores, Probes, GenuineProbes int
	// Fused is the number of fused probes the scores come from (Config.Fuse
	// > 1; 0 otherwise).
	Fused    int
	Impostor Summary
	Tail     Tail
	// Duplicates are pairs of templates of different residents so close
	// that they are one face (one photo, or one person) filed under two
	// names. They say nothing about strangers and are left out of the
	// scores (they still count in the residents' figures, as the
	// misidentifications they are); staff should resolve them.
	Duplicates []Duplicate

	scores []float32  // sorted different-resident scores
	pairA  []int32    // scores[i] is from a template of resident pairA[i]
	pairB  []int32    // to resident pairB[i] (canonical indices)
	boot   []Tail     // bootstrap replicates of the tail fit
	rows   []probeRow // one per probe template
}

// Duplicate is one template of resident A and one of resident B closer
// than Upto (Config.Duplicate times the median different-resident template
// distance).
type Duplicate struct {
	A, B           string  // resident IDs, A before B in the canonical order
	Distance, Upto float32 // their distance; the cut it fell under
}

// probeRow is one template presented to the gallery without it.
type probeRow struct {
	resident int32   // whose template (canonical index)
	genuine  bool    // the resident has other templates
	self     float32 // distance to the resident's nearest other template (+Inf if none)
	o1, o2   float32 // nearest and second-nearest other residents
}

// Fit measures a gallery. It is deterministic for a given gallery and Seed.
func Fit(g Templates, cfg Config) (*Estimate, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dim := 0
	for id, vs := range g {
		for k, v := range vs {
			if dim == 0 {
				dim = len(v)
			}
			if len(v) == 0 || len(v) != dim {
				return nil, fmt.Errorf("%w: %s template %d has %d components, want %d", ErrInput, id, k, len(v), dim)
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, fmt.Errorf("%w: %s template %d is not finite", ErrInput, id, k)
				}
			}
		}
	}
	var vecs [][]float32
	var owner []int32
	multi := 0
	people, ids := canonical(g)
	for r, vs := range people {
		if len(vs) >= 2 {
			multi++
		}
		for _, v := range vs {
			vecs = append(vecs, v)
			owner = append(owner, int32(r))
		}
	}
	n := len(people)
	if n < cfg.MinResidents || multi < 3 {
		return nil, fmt.Errorf("%w: %d residents (%d with two or more templates), need %d (3)", ErrTooFew, n, multi, cfg.MinResidents)
	}
	rng := newRNG(cfg.Seed, streamSample)

	probes := make([]int, len(vecs))
	for i := range probes {
		probes[i] = i
	}
	if len(probes) > cfg.MaxProbes {
		rng.Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
		probes = probes[:cfg.MaxProbes]
		slices.Sort(probes)
	}
	perRow := n - 1
	if total := len(probes) * (n - 1); total > cfg.MaxScores {
		perRow = max(1, cfg.MaxScores/len(probes))
	}

	e := &Estimate{Config: cfg, Residents: n, Templates: len(vecs), Probes: len(probes)}
	// cut is the distance under which two templates are one capture: of two
	// residents, one face under two names (their scores against each other
	// are left out of the stranger statistics, and every template stays a
	// target for everyone else); of one resident, near-copies (frames of one
	// visit), which leave-one-out takes out together.
	cut := e.duplicateCut(vecs, owner)
	capture := captures(vecs, owner, cut)
	found := map[[2]int]float32{} // template pairs of different residents under cut
	near := make([]float32, n)    // per resident: nearest template to the probe
	var pairA, pairB []int32
	others := make([]int32, 0, n)
	for _, p := range probes {
		for r := range near {
			near[r] = float32(math.Inf(1))
		}
		q, a := vecs[p], owner[p]
		for j, v := range vecs {
			if j == p {
				continue
			}
			d := match.Distance(q, v)
			if capture[j] == capture[p] {
				continue // the probe's own capture: left out with it
			}
			if d < cut {
				found[[2]int{min(p, j), max(p, j)}] = d
			}
			if d < near[owner[j]] {
				near[owner[j]] = d
			}
		}
		row := probeRow{resident: a, self: near[a], o1: float32(math.Inf(1)), o2: float32(math.Inf(1))}
		row.genuine = !math.IsInf(float64(row.self), 1)
		others = others[:0]
		for r, d := range near {
			if int32(r) == a {
				continue
			}
			others = append(others, int32(r))
			switch {
			case d < row.o1:
				row.o1, row.o2 = d, row.o1
			case d < row.o2:
				row.o2 = d
			}
		}
		e.rows = append(e.rows, row)
		if row.genuine {
			e.GenuineProbes++
		}
		if cfg.Fuse > 1 {
			continue // fused probes give the scores (below)
		}
		for _, b := range sample(others, perRow, rng) {
			e.scores = append(e.scores, near[b])
			pairA = append(pairA, a)
			pairB = append(pairB, b)
		}
	}
	same := map[[2]int32]bool{} // resident pairs showing one face
	for _, k := range slices.SortedFunc(maps.Keys(found), func(x, y [2]int) int {
		return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]))
	}) {
		a, b := min(owner[k[0]], owner[k[1]]), max(owner[k[0]], owner[k[1]])
		same[[2]int32{a, b}] = true
		e.Duplicates = append(e.Duplicates, Duplicate{A: ids[a], B: ids[b], Distance: found[k], Upto: cut})
	}
	if cfg.Fuse > 1 {
		fq, fo := fusedProbes(vecs, owner, cfg.Fuse, rng)
		if len(fq) > cfg.MaxProbes {
			idx := rng.Perm(len(fq))[:cfg.MaxProbes]
			slices.Sort(idx)
			var q2 [][]float32
			var o2 []int32
			for _, i := range idx {
				q2, o2 = append(q2, fq[i]), append(o2, fo[i])
			}
			fq, fo = q2, o2
		}
		e.Fused = len(fq)
		perRow := n - 1
		if total := len(fq) * (n - 1); total > cfg.MaxScores {
			perRow = max(1, cfg.MaxScores/len(fq))
		}
		for i, q := range fq {
			a := fo[i]
			for r := range near {
				near[r] = float32(math.Inf(1))
			}
			for j, v := range vecs {
				if owner[j] == a {
					continue
				}
				if d := match.Distance(q, v); d < near[owner[j]] {
					near[owner[j]] = d
				}
			}
			others = others[:0]
			for r := range n {
				if int32(r) != a {
					others = append(others, int32(r))
				}
			}
			for _, b := range sample(others, perRow, rng) {
				e.scores = append(e.scores, near[b])
				pairA = append(pairA, a)
				pairB = append(pairB, b)
			}
		}
	}
	if len(same) > 0 {
		k := 0
		for i := range e.scores {
			if !same[[2]int32{min(pairA[i], pairB[i]), max(pairA[i], pairB[i])}] {
				e.scores[k], pairA[k], pairB[k] = e.scores[i], pairA[i], pairB[i]
				k++
			}
		}
		e.scores, pairA, pairB = e.scores[:k], pairA[:k], pairB[:k]
	}
	e.Scores = len(e.scores)
	if e.Scores < 100 {
		return nil, fmt.Errorf("%w: %d different-resident scores, need 100", ErrTooFew, e.Scores)
	}
	// Sort the scores, carrying their residents along.
	order := make([]int, len(e.scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(e.scores[i], e.scores[j]) })
	sorted := make([]float32, len(order))
	sa, sb := make([]int32, len(order)), make([]int32, len(order))
	for i, o := range order {
		sorted[i], sa[i], sb[i] = e.scores[o], pairA[o], pairB[o]
	}
	e.scores, e.pairA, e.pairB = sorted, sa, sb
	q := func(p float64) float32 { return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))] }
	e.Impostor = Summary{Min: sorted[0], P001: q(0.001), P01: q(0.01), P05: q(0.05), Median: q(0.5)}

	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	var ok bool
	if e.Tail, ok = fitTail(sorted, sa, sb, ones, cfg.TailShare); !ok {
		return nil, fmt.Errorf("%w: the lowest different-resident scores do not rise (degenerate gallery)", ErrTooFew)
	}
	if e.boot = e.bootstrap(cfg.Seed); len(e.boot) < cfg.Bootstrap/2 {
		return nil, fmt.Errorf("%w: the tail fit failed on %d of %d bootstrap replicates", ErrTooFew, cfg.Bootstrap-len(e.boot), cfg.Bootstrap)
	}
	if len(cfg.Margins) == 0 {
		m := e.Impostor.Median
		e.Config.Margins = []float32{0, 0.025 * m, 0.05 * m, 0.1 * m}
	}
	return e, nil
}

// captures groups each resident's templates into captures: templates
// chained by distances under cut (single linkage: frames of one visit, each
// a little away from the last, are one capture however far the chain goes).
// It returns, per template, the index of its capture's first template.
func captures(vecs [][]float32, owner []int32, cut float32) []int {
	root := make([]int, len(vecs))
	for i := range root {
		root[i] = i
	}
	find := func(i int) int {
		for root[i] != i {
			root[i] = root[root[i]]
			i = root[i]
		}
		return i
	}
	for start := 0; start < len(vecs); {
		end := start
		for end < len(vecs) && owner[end] == owner[start] {
			end++
		}
		for i := start; i < end; i++ {
			for j := i + 1; j < end; j++ {
				if match.Distance(vecs[i], vecs[j]) < cut {
					ri, rj := find(i), find(j)
					root[max(ri, rj)] = min(ri, rj)
				}
			}
		}
		start = end
	}
	for i := range root {
		root[i] = find(i)
	}
	return root
}

// duplicateCut is the distance under which two templates of different
// residents are one face under two names: Config.Duplicate times the median
// distance of a sample of different-resident pairs, drawn from its own
// stream (so the cut is set before any score); -1 when the check is off.
func (e *Estimate) duplicateCut(vecs [][]float32, owner []int32) float32 {
	if e.Config.Duplicate < 0 {
		return -1
	}
	rng := newRNG(e.Config.Seed, streamDuplicate)
	var sample []float32
	for range 4000 {
		i, j := rng.IntN(len(vecs)), rng.IntN(len(vecs))
		if owner[i] != owner[j] {
			sample = append(sample, match.Distance(vecs[i], vecs[j]))
		}
	}
	if len(sample) == 0 {
		return -1
	}
	slices.Sort(sample)
	return float32(e.Config.Duplicate) * sample[len(sample)/2]
}

// sample keeps k of xs, drawn without replacement (a partial
// Fisher-Yates), or all of them when k >= len(xs).
func sample(xs []int32, k int, rng *rand.Rand) []int32 {
	if k >= len(xs) {
		return xs
	}
	for i := range k {
		j := i + rng.IntN(len(xs)-i)
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs[:k]
}

// maxFusedSets bounds the fused probes made of one resident's templates.
const maxFusedSets = 10

// fusedProbes are the probes a gate fusing k frames would see of each
// resident: the fused descriptor (match.Fuse) of every set of min(k, m) of
// their m templates (at most maxFusedSets sets, drawn when there are more);
// one template alone is its own probe. vecs are grouped by resident
// (owner), in the canonical order.
func fusedProbes(vecs [][]float32, owner []int32, k int, rng *rand.Rand) ([][]float32, []int32) {
	var out [][]float32
	var own []int32
	for start := 0; start < len(vecs); {
		end := start
		var mine []int
		for end < len(vecs) && owner[end] == owner[start] {
			mine = append(mine, end)
			end++
		}
		kk := min(k, len(mine))
		seen := map[string]bool{}
		for _, set := range subsets(len(mine), kk, maxFusedSets, rng) {
			key := fmt.Sprint(set)
			if seen[key] {
				continue
			}
			seen[key] = true
			vs := make([][]float32, len(set))
			for i, x := range set {
				vs[i] = vecs[mine[x]]
			}
			f, err := match.Fuse(vs)
			if err != nil {
				continue // checked finite and of one length in Fit
			}
			out, own = append(out, f), append(own, owner[start])
		}
		start = end
	}
	return out, own
}

// subsets returns every k-subset of 0..m-1 in lexicographic order when
// there are at most limit of them, else limit subsets drawn at random
// (sorted; possibly repeated).
func subsets(m, k, limit int, rng *rand.Rand) [][]int {
	if k == 0 {
		return nil
	}
	// C(m, k), stopping once over limit.
	c := 1
	for i := range k {
		c = c * (m - i) / (i + 1)
		if c > limit {
			break
		}
	}
	if c > limit {
		out := make([][]int, limit)
		for i := range out {
			out[i] = rng.Perm(m)[:k]
			slices.Sort(out[i])
		}
		return out
	}
	var out [][]int
	set := make([]int, k)
	var rec func(pos, from int)
	rec = func(pos, from int) {
		if pos == k {
			out = append(out, slices.Clone(set))
			return
		}
		for x := from; x <= m-(k-pos); x++ {
			set[pos] = x
			rec(pos+1, x+1)
		}
	}
	rec(0, 0)
	return out
}

// Random streams: each use of the seed has its own, so that sampling a large
// gallery, the tail's bootstrap and the residents' intervals do not shift
// one another, and Spread can redo the bootstrap alone.
const (
	streamSample = iota + 1
	streamTail
	streamAccept
	streamDuplicate
)

func newRNG(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream*0x9e3779b97f4a7c15^0x5851f42d4c957f2d))
}

// bootstrap fits the tail to Bootstrap resamplings of the residents (each
// drawn with replacement; a score weighs the product of its two residents'
// draws) and returns the fits that succeeded.
func (e *Estimate) bootstrap(seed uint64) []Tail {
	rng := newRNG(seed, streamTail)
	n := e.Residents
	w := make([]float64, n)
	var out []Tail
	for range e.Config.Bootstrap {
		clear(w)
		for range n {
			w[rng.IntN(n)]++
		}
		if t, ok := fitTail(e.scores, e.pairA, e.pairB, w, e.Config.TailShare); ok {
			out = append(out, t)
		}
	}
	return out
}

// fitTail fits Φ⁻¹(F(s)) = A + B·s through the lowest share of the scores,
// each weighted by w[A]·w[B] of the residents it involves.
func fitTail(sorted []float32, pa, pb []int32, w []float64, share float64) (Tail, bool) {
	var total float64
	for i := range sorted {
		total += w[pa[i]] * w[pb[i]]
	}
	if total <= 0 {
		return Tail{}, false
	}
	var cum, sx, sy, sxx, sxy, k float64
	var upto float32
	for i, s := range sorted {
		wi := w[pa[i]] * w[pb[i]]
		if wi == 0 {
			continue
		}
		p := (cum + wi/2) / total
		cum += wi
		if p > share && k >= 30 {
			break
		}
		x, y := float64(s), probit(p)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
		k++
		upto = s
	}
	den := k*sxx - sx*sx
	if k < 3 || den <= 0 {
		return Tail{}, false
	}
	b := (k*sxy - sx*sy) / den
	if !(b > 0) {
		return Tail{}, false
	}
	return Tail{A: (sy - b*sx) / k, B: b, Upto: upto, Points: int(k)}, true
}

// F is the fitted tail's share of scores under s.
func (t Tail) F(s float32) float64 { return phi(t.A + t.B*float64(s)) }

// phi is the standard normal distribution function; probit its inverse.
func phi(x float64) float64    { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func probit(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// PairFMR estimates F(t), the chance that a stranger's face is under t for
// one given resident (their nearest template): a point estimate and the upper
// confidence bound that decisions use.
func (e *Estimate) PairFMR(t float32) (point, upper float64) {
	emp := e.empirical(t)
	fs := make([]float64, len(e.boot))
	for i, b := range e.boot {
		fs[i] = b.F(t)
	}
	slices.Sort(fs)
	k := min(len(fs)-1, int(math.Ceil(e.Config.Confidence*float64(len(fs))))-1)
	return max(emp, e.Tail.F(t)), max(emp, fs[max(k, 0)])
}

// empirical is the share of different-resident scores under t.
func (e *Estimate) empirical(t float32) float64 {
	n := sort.Search(len(e.scores), func(i int) bool { return e.scores[i] >= t })
	return float64(n) / float64(len(e.scores))
}

// StrangerAccept estimates the chance that one attempt by a stranger is
// accepted as some resident under policy p at the gallery's current size:
// a point estimate, 1 - (1 - F)^N, and the upper bound N·F_upper (capped at
// 1) that holds whatever the margin and however residents' faces correlate.
func (e *Estimate) StrangerAccept(p match.Policy) (point, upper float64) {
	return e.strangerAt(p.Threshold, e.Residents)
}

func (e *Estimate) strangerAt(t float32, n int) (point, upper float64) {
	f, fu := e.PairFMR(t)
	return -math.Expm1(float64(n) * math.Log1p(-min(f, 1))), min(1, float64(n)*fu)
}

// Residents is what residents' own attempts would give under a policy,
// measured by presenting each template of a resident with two or more,
// leave-one-out, to the gallery.
type Residents struct {
	Probes  int
	Correct float64 // share accepted as themselves
	// CorrectLow and CorrectHigh bound Correct out of sample: one-sided
	// bounds at Config.Confidence each (so a 90% interval at the default)
	// for the share of attempts by residents like these (see Interval).
	CorrectLow, CorrectHigh float64
	// Measured is the number of residents the share is measured on (those
	// with two or more captures).
	Measured      int
	Misidentified float64 // share accepted as another resident
	// Stranger is the share of all probe templates that, with their own
	// resident removed from the gallery (so, as a stranger), would be
	// accepted: what the gallery itself shows, margin included.
	Stranger float64
}

// ResidentAccept measures policy p on the gallery's own templates (1:N).
func (e *Estimate) ResidentAccept(p match.Policy) Residents {
	var r Residents
	var mis, str int
	for _, row := range e.rows {
		if row.o1 < p.Threshold && row.o2-row.o1 >= p.MinMargin {
			str++
		}
		if row.genuine && row.self > row.o1 && row.o1 < p.Threshold && min(row.self, row.o2)-row.o1 >= p.MinMargin {
			mis++
		}
	}
	iv := e.interval(func(row probeRow) bool {
		return row.self <= row.o1 && row.self < p.Threshold && row.o1-row.self >= p.MinMargin
	})
	r.Probes, r.Measured = iv.Probes, iv.Residents
	r.Correct, r.CorrectLow, r.CorrectHigh = iv.Share, iv.Low, iv.High
	r.Misidentified = ratio(mis, r.Probes)
	r.Stranger = ratio(str, len(e.rows))
	return r
}

// VerifyAccept is the share of residents' attempts accepted in 1:1
// verification at threshold t: the card names the resident, and the face
// must be under t from one of their templates.
func (e *Estimate) VerifyAccept(t float32) float64 { return e.VerifyInterval(t).Share }

// VerifyInterval is VerifyAccept with its interval.
func (e *Estimate) VerifyInterval(t float32) Interval {
	return e.interval(func(row probeRow) bool { return row.self < t })
}

// Interval is a share of residents' attempts accepted (the mean over
// residents of each one's share), with one-sided bounds at
// Config.Confidence on each side. The attempts of one resident are alike (a
// resident whose face the model handles badly fails most of them), so
// residents, not attempts, are the unit: Low is the lower of a
// bootstrap over residents and a Wilson bound that counts each resident
// once; High likewise. The decisions use Low: a mode is offered only if
// even the pessimistic end accepts enough residents.
type Interval struct {
	Share, Low, High float64
	Probes           int // templates presented
	Residents        int // residents they belong to
}

// interval measures the share of genuine probe rows that ok accepts, each
// resident weighing the same, with its bounds; the resampling is seeded, and residents are in canonical
// order, so the answer is a function of the templates alone.
func (e *Estimate) interval(ok func(probeRow) bool) Interval {
	type count struct{ n, k int }
	per := map[int32]*count{}
	var order []int32
	var iv Interval
	for _, row := range e.rows {
		if !row.genuine {
			continue
		}
		c := per[row.resident]
		if c == nil {
			c = &count{}
			per[row.resident] = c
			order = append(order, row.resident)
		}
		c.n++
		iv.Probes++
		if ok(row) {
			c.k++
		}
	}
	iv.Residents = len(order)
	if iv.Probes == 0 {
		return iv
	}
	// Each resident counts once: the mean of their own shares, so that one
	// resident with many templates does not speak for everyone.
	share := func(r int32) float64 { c := per[r]; return float64(c.k) / float64(c.n) }
	var sum float64
	for _, r := range order {
		sum += share(r)
	}
	iv.Share = sum / float64(len(order))
	z := probit(e.Config.Confidence)
	iv.Low, iv.High = wilson(iv.Share, iv.Residents, z)
	rng := newRNG(e.Config.Seed, streamAccept)
	reps := make([]float64, e.Config.Bootstrap)
	for b := range reps {
		var s float64
		for range order {
			s += share(order[rng.IntN(len(order))])
		}
		reps[b] = s / float64(len(order))
	}
	slices.Sort(reps)
	lo := reps[int(math.Floor((1-e.Config.Confidence)*float64(len(reps))))]
	hi := reps[min(len(reps)-1, int(math.Ceil(e.Config.Confidence*float64(len(reps))))-1)]
	iv.Low, iv.High = min(iv.Low, lo), max(iv.High, hi)
	return iv
}

// wilson is the Wilson score interval for a share p of n trials at normal
// quantile z.
func wilson(p float64, n int, z float64) (lo, hi float64) {
	fn := float64(n)
	den := 1 + z*z/fn
	mid := (p + z*z/(2*fn)) / den
	half := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return max(0, mid-half), min(1, mid+half)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// CheckIdentify returns nil if face identification alone (1:N) under p keeps
// the upper bound on the stranger-accept rate within the target at the
// gallery's current size, else an error wrapping ErrTargetMissed that gives
// the figures. The daemon calls it before it lets face alone open the door.
func (e *Estimate) CheckIdentify(p match.Policy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if _, up := e.StrangerAccept(p); up > e.Config.Target {
		return fmt.Errorf("%w: threshold %.3f with %d residents lets a stranger in with probability up to %.2g per attempt, target %.2g",
			ErrTargetMissed, p.Threshold, e.Residents, up, e.Config.Target)
	}
	return nil
}

// CheckVerify is CheckIdentify for 1:1 verification with a card at
// threshold t: the bound is F_upper(t), with no factor N.
func (e *Estimate) CheckVerify(t float32) error {
	if !(t > 0) {
		return fmt.Errorf("calibrate: threshold %v must be positive", t)
	}
	if _, up := e.PairFMR(t); up > e.Config.Target {
		return fmt.Errorf("%w: 1:1 threshold %.3f lets a stranger holding a resident's card in with probability up to %.2g per attempt, target %.2g",
			ErrTargetMissed, t, up, e.Config.Target)
	}
	return nil
}

// ThresholdFor returns the largest threshold whose upper-bound stranger
// accept rate, with n residents compared (n = 1 for verification), is within
// target.
func (e *Estimate) ThresholdFor(target float64, n int) float32 {
	lo, hi := float32(0), e.scores[len(e.scores)-1]
	if _, up := e.strangerAt(hi, n); up <= target {
		return hi
	}
	for range 60 {
		mid := (lo + hi) / 2
		if _, up := e.strangerAt(mid, n); up <= target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// canonical orders a gallery by its templates alone, so that everything Fit
// computes (the probe sample, the bootstrap's draws of residents) is a
// function of the templates and Seed, never of resident IDs, map order or
// the order of enrollment (the IDs come back only to name residents): each resident's templates sorted by their bytes,
// residents by their sorted templates. Two residents with the same templates
// are interchangeable, so their order among themselves changes nothing.
func canonical(g Templates) (vecs [][][]float32, ids []string) {
	type person struct {
		id   string
		key  []byte
		vecs [][]float32
	}
	people := make([]person, 0, len(g))
	for id, vs := range g {
		keys := make([][]byte, len(vs))
		idx := make([]int, len(vs))
		for k, v := range vs {
			keys[k] = vecBytes(v)
			idx[k] = k
		}
		slices.SortStableFunc(idx, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
		p := person{id: id, vecs: make([][]float32, len(vs))}
		for k, i := range idx {
			p.vecs[k] = vs[i]
			p.key = append(p.key, keys[i]...)
		}
		people = append(people, p)
	}
	// Residents with the same templates are interchangeable in every figure;
	// their IDs break the tie only so that the pairs named to staff
	// (Duplicates) come out the same way every time.
	slices.SortStableFunc(people, func(a, b person) int { return cmp.Or(bytes.Compare(a.key, b.key), strings.Compare(a.id, b.id)) })
	vecs, ids = make([][][]float32, len(people)), make([]string, len(people))
	for i, p := range people {
		vecs[i], ids[i] = p.vecs, p.id
	}
	return vecs, ids
}

// vecBytes is a template's components as big-endian IEEE 754 bits, with
// the sign bit flipped (and all bits for negatives), so that byte order is
// numeric order; -0 and +0 are made equal first.
func vecBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		if x == 0 {
			x = 0
		}
		u := math.Float32bits(x)
		if u>>31 == 1 {
			u = ^u
		} else {
			u |= 1 << 31
		}
		binary.BigEndian.PutUint32(b[4*i:], u)
	}
	return b
}
