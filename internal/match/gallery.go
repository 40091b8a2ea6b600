// Package match is gated's 1:N face matcher: an in-memory gallery of face
// templates (several per resident) that answers "who is this, how sure, and
// who came second" for a probe descriptor.
//
// It owns only vectors and resident IDs held in memory. It never stores
// anything on disk, never logs, and never decides to open a door: a Policy
// turns a Result into accept or reject, and the caller acts on it.
//
// Distances are Euclidean, as dlib's face descriptors are compared. Models
// whose embeddings are compared by cosine similarity are matched by
// normalising their vectors to unit length first, where Euclidean distance
// is a monotone function of cosine distance.
//
// # Speed
//
// A lookup scans every template, exactly: no approximate index, no missed
// match. It is fast because, beside each template, the gallery keeps its
// projection onto the leading principal components of the gallery's own
// contents (dim/4 of them: 32 for dlib), in one contiguous block. The distance between
// two projections is a lower bound of the true distance, and it already holds
// most of it, so the scan reads the projections first and computes a true
// distance only for templates whose bound is under the runner-up's distance
// found so far: about 1% of them in a gallery of 100,000 dlib templates. The components are fitted by Reindex; a gallery that was never
// reindexed projects onto its first coordinates: just as exact, only slower.
//
// # Caveats
//
// Vectors passed in are copied; the gallery holds no reference to caller
// memory. All methods are safe for concurrent use. Reindex takes the write
// lock for the whole refit (about a second per 100,000 templates), so callers
// run it when the gate is quiet.
package match

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Errors returned by Gallery methods.
var (
	ErrDimension = errors.New("match: descriptor has the wrong dimension")
	ErrNotFinite = errors.New("match: descriptor has a NaN or infinite value")
	ErrNoID      = errors.New("match: empty resident ID")
)

// Result is the outcome of a 1:N lookup. Distances are Euclidean in the
// model's descriptor space. An empty Resident means the gallery was empty.
type Result struct {
	Resident string  // nearest resident
	Distance float32 // distance to that resident's nearest template
	// Runner is the second-nearest resident (a different person), empty when
	// the gallery holds only one resident.
	Runner         string
	RunnerDistance float32
}

// Margin is how much nearer the best resident is than the runner-up; +Inf when
// there is no runner-up.
func (r Result) Margin() float32 {
	if r.Runner == "" {
		return float32(math.Inf(1))
	}
	return r.RunnerDistance - r.Distance
}

// Gallery is an in-memory set of face templates grouped by resident.
// The zero value is not usable; call New.
type Gallery struct {
	mu   sync.RWMutex
	dim  int
	head int // number of leading components stored in the head block

	// Template i is vecs[i*dim:(i+1)*dim], its projection is
	// headv[i*head:(i+1)*head], and it belongs to resident slot owner[i].
	vecs  []float32
	headv []float32
	owner []int32

	ids   []string         // slot -> resident ID ("" when free)
	slots map[string]int32 // resident ID -> slot
	where [][]int32        // slot -> indexes of its templates
	free  []int32          // free slots

	proj      []float32 // head*dim row-major orthonormal rows; nil: first coordinates
	fittedLen int       // number of templates when proj was fitted
}

// New returns an empty gallery for descriptors of dim components.
func New(dim int) *Gallery {
	if dim <= 0 {
		panic("match: New with non-positive dimension")
	}
	head := dim / 4
	if head < 1 {
		head = dim
	}
	return &Gallery{dim: dim, head: head, slots: make(map[string]int32)}
}

// Dim is the descriptor dimension the gallery was made for.
func (g *Gallery) Dim() int { return g.dim }

// Len returns the number of residents and of templates.
func (g *Gallery) Len() (residents, templates int) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.slots), len(g.owner)
}

// Residents returns the IDs of all residents in the gallery, sorted.
func (g *Gallery) Residents() []string {
	g.mu.RLock()
	ids := make([]string, 0, len(g.slots))
	for id := range g.slots {
		ids = append(ids, id)
	}
	g.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

func (g *Gallery) check(v []float32) error {
	if len(v) != g.dim {
		return fmt.Errorf("%w: got %d, want %d", ErrDimension, len(v), g.dim)
	}
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return ErrNotFinite
		}
	}
	return nil
}

// Add adds templates to a resident, creating the resident if needed.
// Either all templates are added or, on error, none.
func (g *Gallery) Add(resident string, templates ...[]float32) error {
	if resident == "" {
		return ErrNoID
	}
	for i, v := range templates {
		if err := g.check(v); err != nil {
			return fmt.Errorf("match: add %s template %d: %w", resident, i, err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	slot, ok := g.slots[resident]
	if !ok {
		slot = g.newSlot(resident)
	}
	for _, v := range templates {
		idx := int32(len(g.owner))
		g.vecs = append(g.vecs, v...)
		n := len(g.headv)
		g.headv = append(g.headv, make([]float32, g.head)...)
		g.project(g.headv[n:], v)
		g.owner = append(g.owner, slot)
		g.where[slot] = append(g.where[slot], idx)
	}
	return nil
}

// Replace sets a resident's templates to exactly the ones given; with none,
// it removes the resident.
func (g *Gallery) Replace(resident string, templates ...[]float32) error {
	if resident == "" {
		return ErrNoID
	}
	for i, v := range templates {
		if err := g.check(v); err != nil {
			return fmt.Errorf("match: replace %s template %d: %w", resident, i, err)
		}
	}
	g.Remove(resident) // Add cannot fail now, so removing first loses nothing.
	if len(templates) == 0 {
		return nil
	}
	return g.Add(resident, templates...)
}

func (g *Gallery) newSlot(id string) int32 {
	var slot int32
	if n := len(g.free); n > 0 {
		slot = g.free[n-1]
		g.free = g.free[:n-1]
		g.ids[slot] = id
		g.where[slot] = g.where[slot][:0]
	} else {
		slot = int32(len(g.ids))
		g.ids = append(g.ids, id)
		g.where = append(g.where, nil)
	}
	g.slots[id] = slot
	return slot
}

// Remove deletes a resident and all their templates, and reports whether the
// resident was there. Freed template rows are overwritten by the gallery's
// last rows, so no stale copy of the removed vectors stays reachable.
func (g *Gallery) Remove(resident string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot, ok := g.slots[resident]
	if !ok {
		return false
	}
	// Remove from the highest index down so that a moved row is never one of
	// this resident's rows still to be removed.
	idxs := slices.Clone(g.where[slot])
	slices.Sort(idxs)
	for k := len(idxs) - 1; k >= 0; k-- {
		g.removeRow(idxs[k])
	}
	delete(g.slots, resident)
	g.ids[slot] = ""
	g.where[slot] = nil
	g.free = append(g.free, slot)
	return true
}

// removeRow moves the last template row into row i and shrinks the gallery.
// The caller discards the removed resident's row list itself.
func (g *Gallery) removeRow(i int32) {
	d, h := g.dim, g.head
	last := int32(len(g.owner) - 1)
	if i != last {
		copy(g.vecs[int(i)*d:int(i+1)*d], g.vecs[int(last)*d:])
		copy(g.headv[int(i)*h:int(i+1)*h], g.headv[int(last)*h:])
		mover := g.owner[last]
		g.owner[i] = mover
		w := g.where[mover]
		w[slices.Index(w, last)] = i
	}
	clear(g.vecs[int(last)*d:])
	clear(g.headv[int(last)*h:])
	g.vecs = g.vecs[:int(last)*d]
	g.headv = g.headv[:int(last)*h]
	g.owner = g.owner[:last]
}

// project writes the projection of v onto the gallery's leading components
// into dst (len head).
func (g *Gallery) project(dst, v []float32) {
	if g.proj == nil {
		copy(dst, v[:g.head])
		return
	}
	d := g.dim
	for r := range dst {
		row := g.proj[r*d : (r+1)*d]
		var s float32
		for c, x := range v {
			s += row[c] * x
		}
		dst[r] = s
	}
}

// Templates returns copies of a resident's templates, or nil when the
// resident is not in the gallery.
func (g *Gallery) Templates(resident string) [][]float32 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	slot, ok := g.slots[resident]
	if !ok {
		return nil
	}
	return g.copyRows(g.where[slot])
}

// Snapshot returns copies of every resident's templates, keyed by resident
// ID: what calibration measures, without reading the store again.
func (g *Gallery) Snapshot() map[string][][]float32 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make(map[string][][]float32, len(g.slots))
	for id, slot := range g.slots {
		out[id] = g.copyRows(g.where[slot])
	}
	return out
}

// copyRows copies template rows; g.mu held.
func (g *Gallery) copyRows(idxs []int32) [][]float32 {
	d := g.dim
	block := make([]float32, len(idxs)*d)
	out := make([][]float32, len(idxs))
	for k, i := range idxs {
		out[k] = block[k*d : (k+1)*d : (k+1)*d]
		copy(out[k], g.vecs[int(i)*d:int(i+1)*d])
	}
	return out
}
