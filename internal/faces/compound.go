package faces

import (
	"errors"

	"github.com/gated-dev/gated/internal/store"
)

// RemoveFor takes the face data of ids out of the matcher at once, then
// runs change: a store change that destroys it (a compound import's
// erasure orders and removals). If change fails before changing anything
// the templates go back; after a store.ErrPending they stay out.
func (s *Set) RemoveFor(ids []string, change func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string][][]float32{}
	if s.gallery != nil {
		for _, id := range ids {
			if ts := s.gallery.Templates(id); ts != nil {
				old[id] = ts
				s.gallery.Remove(id)
			}
		}
	}
	err := change()
	if err != nil && !errors.Is(err, store.ErrPending) {
		for id, ts := range old {
			if aerr := s.gallery.Add(id, ts...); aerr != nil {
				s.log.Error("faces: could not put templates back after a refused change", "resident", id, "err", aerr)
			}
		}
		return err
	}
	if len(old) > 0 {
		s.changed()
	}
	return err
}
