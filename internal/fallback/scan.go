package fallback

import (
	"bytes"
	"fmt"
	"time"
)

// NewScanReader returns a reader for a serial QR/barcode scanner: such
// scanners send what they decoded as a line of text, framed like an ASCII
// card reader's (LineConfig: ending, prefix, suffix; MaxLen 256 when 0).
// Each line becomes a KindScan event carrying the text as a Secret (a
// pass payload is a bearer credential: it is never logged). Only
// printable ASCII is taken; other lines are dropped as bad frames.
func NewScanReader(cfg SerialConfig, line LineConfig) (*SerialReader, error) {
	if line.MaxLen <= 0 {
		line.MaxLen = 256
	}
	return newSerialReader(cfg, &scanProto{cfg: line})
}

// ParseScan checks one scanner frame (without its ending) and returns its
// text: prefix and suffix stripped, spaces trimmed, printable ASCII only.
func ParseScan(cfg LineConfig, frame []byte) (string, error) {
	s, err := stripFrame(cfg, frame)
	if err != nil {
		return "", err
	}
	if len(s) == 0 {
		return "", fmt.Errorf("%w: empty scan", ErrFrame)
	}
	if i := bytes.IndexFunc(s, func(r rune) bool { return r < ' ' || r > '~' }); i >= 0 {
		return "", fmt.Errorf("%w: byte %#02x at %d is not printable", ErrFrame, s[i], i)
	}
	return string(s), nil
}

// scanProto frames lines like lineProto and emits each as a scan.
type scanProto struct {
	cfg      LineConfig
	buf      []byte
	skipping bool // after an overlong line, up to its ending
}

func (p *scanProto) feed(b []byte, now time.Time, emit func(Event), drop func(error)) {
	end := p.cfg.ending()
	p.buf = append(p.buf, b...)
	for {
		frame, rest, ok := SplitFrame(p.buf, end)
		if !ok {
			break
		}
		if p.skipping {
			p.skipping = false
		} else if len(bytes.TrimSpace(frame)) > 0 {
			if text, err := ParseScan(p.cfg, frame); err != nil {
				drop(err)
			} else {
				emit(Event{Time: now, Kind: KindScan, PIN: NewSecret(text)})
			}
		}
		p.buf = append(p.buf[:0], rest...)
	}
	if limit := p.cfg.maxLen() + len(end); len(p.buf) > limit {
		keep := p.buf[len(p.buf)-(len(end)-1):]
		p.buf = append(p.buf[:0], keep...)
		if !p.skipping {
			drop(fmt.Errorf("%w: line longer than %d bytes", ErrFrame, p.cfg.maxLen()))
		}
		p.skipping = true
	}
}

func (p *scanProto) tick(time.Time, func(Event)) {}

func (p *scanProto) reset() { p.buf, p.skipping = p.buf[:0], false }
