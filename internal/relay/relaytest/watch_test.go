package relaytest_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// chunks returns its slices one Read at a time, then EOF forever.
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		time.Sleep(time.Millisecond)
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

func TestWatchFindsCommandsAcrossReads(t *testing.T) {
	on, off := []byte{0xA0, 0x01, 0x01, 0xA2}, []byte{0xA0, 0x01, 0x00, 0xA1}
	in := &chunks{parts: [][]byte{{0x00, 0xA0, 0x01}, {0x00, 0xA1, 0xA0}, {0x01, 0x01, 0xA2, 0xFF}, {0xA0, 0x01, 0x00}, {0xA1}}}
	stop := make(chan struct{})
	var got [][]byte
	go func() { time.Sleep(100 * time.Millisecond); close(stop) }()
	relaytest.Watch(in, stop, func(cmd []byte, _ time.Time) { got = append(got, cmd) }, on, off)
	want := [][]byte{off, on, off}
	if len(got) != len(want) {
		t.Fatalf("Watch saw %x, want %x", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("Watch saw %x, want %x", got, want)
		}
	}
}
