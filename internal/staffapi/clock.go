package staffapi

import (
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
)

// ClockStore is what resetting the clock floor needs of the store.
type ClockStore interface {
	ClockFloor() (time.Time, error)
	ResetClockFloor(actor string) (old time.Time, err error)
}

// resetClock is POST /v0/clock/reset: the store's clock floor (the latest
// audit entry's time, which end dates and passes are judged at when the
// clock is behind it) is lowered to the clock's time, for staff who know
// the clock is right again after it had run ahead. Audited.
func (s *Server) resetClock(w http.ResponseWriter, r *http.Request) {
	old, err := s.st.ResetClockFloor(actor(r))
	if err != nil {
		fail(w, err)
		return
	}
	now, err := s.st.ClockFloor()
	if err != nil {
		fail(w, err)
		return
	}
	control.WriteJSON(w, api.ClockReset{Old: old, New: now})
}
