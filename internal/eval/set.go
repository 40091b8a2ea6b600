// Package eval measures how well face descriptors separate people: false
// match and false non-match rates over thresholds (1:1), and what a 1:N gate
// would do with a gallery/probe split (correct accepts, misidentifications,
// strangers let in). It works on labelled descriptors only; computing them
// from photos is the caller's job.
//
// It never touches a store, a camera or a door, and keeps no state. It is
// research code: only cmd/gated-eval and tests import it, and the gate
// binary does not link it (internal/testenv's layout test keeps it so).
// Distances are match.Distance, the gate's own.
package eval

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/gated-dev/gated/internal/match"
)

// Set is a labelled set of face descriptors: Vectors[i] shows Labels[i].
type Set struct {
	Dim     int
	Vectors [][]float32
	Labels  []string
}

// Len is the number of descriptors.
func (s *Set) Len() int { return len(s.Vectors) }

// People returns the distinct labels, sorted.
func (s *Set) People() []string {
	p := slices.Clone(s.Labels)
	slices.Sort(p)
	return slices.Compact(p)
}

// Add appends one labelled descriptor, checking its dimension.
func (s *Set) Add(label string, v []float32) error {
	if s.Dim == 0 {
		s.Dim = len(v)
	}
	if len(v) != s.Dim || s.Dim == 0 {
		return fmt.Errorf("eval: descriptor for %q has %d components, want %d", label, len(v), s.Dim)
	}
	s.Vectors = append(s.Vectors, v)
	s.Labels = append(s.Labels, label)
	return nil
}

// ErrFormat is wrapped by every error about a malformed descriptor file.
var ErrFormat = errors.New("eval: malformed descriptor file")

// maxDescriptors bounds what ReadDescriptors accepts, so that a hostile file
// cannot make it allocate without limit.
const maxDescriptors = 10_000_000

// ReadDescriptors reads labelled descriptors in the JSON format of go-face's
// test data (idols.json):
//
//	{"idols": [{"id": "...", "name": "...", "band_name": "..."}],
//	 "faces": [{"idol_id": "...", "descriptor": "<base64 of 128 little-endian float32>"}]}
//
// Labels are the people's names where "idols" lists them (with the id
// appended when two people share a name), else their ids. Every descriptor
// must decode to the same number of finite float32 values.
func ReadDescriptors(r io.Reader) (*Set, error) {
	var doc struct {
		Idols []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"idols"`
		Faces []struct {
			IdolID     string `json:"idol_id"`
			Descriptor string `json:"descriptor"`
		} `json:"faces"`
	}
	dec := json.NewDecoder(io.LimitReader(r, 1<<31))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(doc.Faces) == 0 {
		return nil, fmt.Errorf("%w: no faces", ErrFormat)
	}
	if len(doc.Faces) > maxDescriptors {
		return nil, fmt.Errorf("%w: %d faces, at most %d", ErrFormat, len(doc.Faces), maxDescriptors)
	}
	names := make(map[string]string, len(doc.Idols))
	count := make(map[string]int)
	for _, p := range doc.Idols {
		count[p.Name]++
	}
	for _, p := range doc.Idols {
		if p.ID == "" {
			continue
		}
		n := p.Name
		if n == "" || count[n] > 1 {
			n = p.Name + "#" + p.ID
		}
		names[p.ID] = n
	}
	s := &Set{}
	for i, f := range doc.Faces {
		if f.IdolID == "" {
			return nil, fmt.Errorf("%w: face %d has no idol_id", ErrFormat, i)
		}
		raw, err := base64.StdEncoding.DecodeString(f.Descriptor)
		if err != nil {
			return nil, fmt.Errorf("%w: face %d: descriptor: %v", ErrFormat, i, err)
		}
		if len(raw) == 0 || len(raw)%4 != 0 {
			return nil, fmt.Errorf("%w: face %d: descriptor has %d bytes, not a whole number of float32", ErrFormat, i, len(raw))
		}
		v := make([]float32, len(raw)/4)
		for j := range v {
			x := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%w: face %d: component %d is not finite", ErrFormat, i, j)
			}
			v[j] = x
		}
		label, ok := names[f.IdolID]
		if !ok {
			label = f.IdolID
		}
		if err := s.Add(label, v); err != nil {
			return nil, fmt.Errorf("%w: face %d: %v", ErrFormat, i, err)
		}
	}
	return s, nil
}

// WithoutCrossLabelDuplicates returns s without every descriptor that lies
// within eps of a descriptor labelled as someone else, and how many it
// dropped. Such pairs are one photo filed under two people (idols.json has
// 30 pairs under 0.1, then none up to 0.2, while photos of different people
// are rarely under 0.27): they measure labelling errors, not the model, and
// would swamp the rare-event tails calibration is tested on.
func (s *Set) WithoutCrossLabelDuplicates(eps float32) (*Set, int) {
	drop, n := s.CrossLabelDuplicates(eps)
	return s.Without(drop), n
}

// CrossLabelDuplicates marks every descriptor of s that lies within eps of
// a descriptor labelled as someone else (see WithoutCrossLabelDuplicates),
// and counts them.
func (s *Set) CrossLabelDuplicates(eps float32) (drop []bool, n int) {
	drop = make([]bool, len(s.Vectors))
	for i := range s.Vectors {
		for j := i + 1; j < len(s.Vectors); j++ {
			if s.Labels[i] != s.Labels[j] && match.Distance(s.Vectors[i], s.Vectors[j]) < eps {
				drop[i], drop[j] = true, true
			}
		}
	}
	for _, d := range drop {
		if d {
			n++
		}
	}
	return drop, n
}

// Without returns s without the descriptors drop marks: with the same
// marks, sets of the same photos described by other models keep the same
// photos.
func (s *Set) Without(drop []bool) *Set {
	out := &Set{Dim: s.Dim}
	for i, v := range s.Vectors {
		if i < len(drop) && drop[i] {
			continue
		}
		out.Vectors = append(out.Vectors, v)
		out.Labels = append(out.Labels, s.Labels[i])
	}
	return out
}
