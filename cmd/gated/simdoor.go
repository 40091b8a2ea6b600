package main

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/gated-dev/gated/internal/relay"
)

// simDoorBoard plays the demo's door-contact board: a Modbus RTU board with
// inputs on the peer end of a pty pair, input 1 (IN1) the door contact
// (active: the door is shut). It answers read-discrete-inputs (0x02) only,
// as a real board would; anything else gets no answer (there is nothing
// else on the demo's bus). The tests' board (relaytest.ModbusBoard) is not
// used here because test helpers stay out of the binary.
type simDoorBoard struct {
	open atomic.Bool // the door stands open
}

// serve answers the daemon's polls until ctx ends or the pty fails.
func (b *simDoorBoard) serve(ctx context.Context, rw io.ReadWriter) {
	var buf []byte
	tmp := make([]byte, 64)
	for ctx.Err() == nil {
		n, err := rw.Read(tmp)
		if err != nil && n == 0 {
			return
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) >= 8 { // a read-inputs request is 8 bytes
			req := buf[:8]
			if relay.ModbusCRC(req[:6]) != uint16(req[6])|uint16(req[7])<<8 {
				buf = buf[1:] // resynchronise
				continue
			}
			buf = buf[8:]
			if req[0] != 1 || req[1] != 0x02 {
				continue
			}
			count := int(req[4])<<8 | int(req[5])
			resp := []byte{1, 0x02, byte((count + 7) / 8)}
			resp = append(resp, make([]byte, (count+7)/8)...)
			if !b.open.Load() && count > 0 && req[2] == 0 && req[3] == 0 {
				resp[3] |= 1 // IN1: shut
			}
			c := relay.ModbusCRC(resp)
			if _, err := rw.Write(append(resp, byte(c), byte(c>>8))); err != nil {
				return
			}
		}
	}
}
