package fallback

import (
	"sync"
	"time"
)

// Health is a reader's state as the daemon sees it.
type Health struct {
	Reader     string
	Up         bool      // the device is open and answering
	Since      time.Time // when Up last changed
	LastErr    string    // why it last went down; kept after it comes back
	Frames     uint64    // frames decoded into events
	Dropped    uint64    // frames rejected (bad framing, parity, CRC, MAC)
	Reconnects uint64    // times the device was opened again after a loss
}

// Tracker keeps a reader's Health; its methods are safe for concurrent use.
// Reader implementations outside this package (fallback/osdp) embed one.
type Tracker struct {
	mu    sync.Mutex
	h     Health
	opens uint64
}

// NewTracker returns a Tracker for a reader that starts down at now.
func NewTracker(reader string, now time.Time) *Tracker {
	return &Tracker{h: Health{Reader: reader, Since: now}}
}

// Health returns a copy of the current state.
func (t *Tracker) Health() Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

// Up marks the reader up at now.
func (t *Tracker) Up(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.h.Up {
		t.h.Up, t.h.Since = true, now
		if t.opens > 0 {
			t.h.Reconnects++
		}
		t.opens++
	}
}

// Down marks the reader down at now for err.
func (t *Tracker) Down(now time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.h.LastErr = err.Error()
	}
	if t.h.Up {
		t.h.Up, t.h.Since = false, now
	}
}

// Frame counts a decoded frame.
func (t *Tracker) Frame() {
	t.mu.Lock()
	t.h.Frames++
	t.mu.Unlock()
}

// Drop counts a rejected frame.
func (t *Tracker) Drop() {
	t.mu.Lock()
	t.h.Dropped++
	t.mu.Unlock()
}
