package relaytest

import (
	"bytes"
	"io"
	"time"
)

// Watch reads the line of a serial relay board (the peer end of its pty
// pair) until stop is closed, and calls seen for each occurrence of one of
// cmds, in the order they arrive, with the time it was read. Bytes that
// start no command are skipped. Reads that time out (a pty peer opened with
// a read timeout returns 0 bytes) go on; a read error other than EOF ends
// the watch.
func Watch(r io.Reader, stop <-chan struct{}, seen func(cmd []byte, at time.Time), cmds ...[]byte) {
	var buf []byte
	tmp := make([]byte, 64)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := r.Read(tmp)
		if err != nil && err != io.EOF && n == 0 {
			return
		}
		buf = append(buf, tmp[:n]...)
		at := time.Now()
	scan:
		for len(buf) > 0 {
			for _, c := range cmds {
				if bytes.HasPrefix(buf, c) {
					seen(c, at)
					buf = buf[len(c):]
					continue scan
				}
				if bytes.HasPrefix(c, buf) {
					break scan // the start of a command: wait for the rest
				}
			}
			buf = buf[1:]
		}
	}
}
