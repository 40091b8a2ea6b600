package fallback

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"
)

// Opener opens a serial device. Readers reopen through it after a loss.
type Opener func(path string) (io.ReadWriteCloser, error)

// ReadTimeout is how long a read on a port opened by SerialOpener waits for
// a byte before returning (0, io.EOF). Reader loops wake at least this often.
const ReadTimeout = 100 * time.Millisecond

// SerialOpener opens a tty at baud, 8N1, raw, with reads that time out after
// ReadTimeout.
func SerialOpener(baud int) Opener {
	return func(path string) (io.ReadWriteCloser, error) {
		p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: ReadTimeout})
		if err != nil {
			return nil, fmt.Errorf("open %s at %d baud: %w", path, baud, err)
		}
		return p, nil
	}
}

// Backoff is the wait between attempts to reopen a lost device: Min after
// the first failure, doubling up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// Next returns the wait after prev (0 for the first failure). The zero
// Backoff waits 100 ms doubling to 2 s, so a replugged reader is back within
// about 2 s.
func (b Backoff) Next(prev time.Duration) time.Duration {
	if b.Min <= 0 {
		b.Min = 100 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = max(b.Min, 2*time.Second)
	}
	if prev < b.Min {
		return b.Min
	}
	return min(prev*2, b.Max)
}

// Sleep waits d or until ctx is done, reporting whether it waited all of d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
