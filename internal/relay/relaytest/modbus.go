package relaytest

import (
	"io"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/relay"
)

// ModbusBoard plays a Modbus RTU relay board with inputs on the peer end of
// a pty pair: it answers read-discrete-inputs (0x02) with the inputs the
// test sets and echoes write-single-coil (0x05), recording the coil's
// state. Requests for another address, or with a bad CRC, get no answer, as
// on a real RS485 bus.
type ModbusBoard struct {
	Address byte

	mu     sync.Mutex
	inputs [64]bool
	coils  map[int]bool
	writes []CoilWrite
	polls  int
}

// CoilWrite is one coil switched by the driver.
type CoilWrite struct {
	Coil int
	On   bool
	Time time.Time
}

// SetInput sets input i (0-based) as the board will report it.
func (b *ModbusBoard) SetInput(i int, on bool) {
	b.mu.Lock()
	b.inputs[i] = on
	b.mu.Unlock()
}

// Coil reports coil i's state.
func (b *ModbusBoard) Coil(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.coils[i]
}

// Writes returns every coil write, in order.
func (b *ModbusBoard) Writes() []CoilWrite {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]CoilWrite(nil), b.writes...)
}

// Polls counts the input reads answered.
func (b *ModbusBoard) Polls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.polls
}

// Serve answers requests read from rw until stop is closed or a read fails
// with an error other than EOF (a pty peer's read timeout is EOF).
func (b *ModbusBoard) Serve(rw io.ReadWriter, stop <-chan struct{}) {
	var buf []byte
	tmp := make([]byte, 64)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := rw.Read(tmp)
		if err != nil && err != io.EOF && n == 0 {
			return
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) >= 8 { // both requests are 8 bytes
			req := buf[:8]
			if relay.ModbusCRC(req[:6]) != uint16(req[6])|uint16(req[7])<<8 {
				buf = buf[1:] // resynchronise
				continue
			}
			buf = buf[8:]
			if req[0] != b.Address {
				continue
			}
			if resp := b.answer(req); resp != nil {
				rw.Write(resp)
			}
		}
	}
}

func (b *ModbusBoard) answer(req []byte) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch req[1] {
	case 0x02:
		start, n := int(req[2])<<8|int(req[3]), int(req[4])<<8|int(req[5])
		if n < 1 || start+n > len(b.inputs) {
			return crc([]byte{b.Address, 0x82, 0x02})
		}
		b.polls++
		out := []byte{b.Address, 0x02, byte((n + 7) / 8)}
		out = append(out, make([]byte, (n+7)/8)...)
		for i := range n {
			if b.inputs[start+i] {
				out[3+i/8] |= 1 << (i % 8)
			}
		}
		return crc(out)
	case 0x05:
		coil := int(req[2])<<8 | int(req[3])
		on := req[4] == 0xFF
		if b.coils == nil {
			b.coils = map[int]bool{}
		}
		b.coils[coil] = on
		b.writes = append(b.writes, CoilWrite{Coil: coil, On: on, Time: time.Now()})
		return append([]byte(nil), req...)
	}
	return crc([]byte{b.Address, req[1] | 0x80, 0x01})
}

func crc(b []byte) []byte {
	c := relay.ModbusCRC(b)
	return append(b, byte(c), byte(c>>8))
}
