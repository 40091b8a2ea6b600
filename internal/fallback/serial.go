package fallback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// SerialConfig is what every serial reader needs.
type SerialConfig struct {
	Name string // the reader's name in events, health and logs
	Path string // device node, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...
	Baud int    // 9600 when 0
	// Open opens Path; SerialOpener(Baud) when nil.
	Open    Opener
	Backoff Backoff
	Logger  *slog.Logger     // slog.Default() is NOT used: nil discards
	Now     func() time.Time // time.Now when nil
}

// protocol turns bytes from the line into events. Implementations are pure
// apart from their own buffers.
type protocol interface {
	// feed consumes bytes that arrived at now, emitting events and
	// reporting rejected frames through drop.
	feed(p []byte, now time.Time, emit func(Event), drop func(error))
	// tick runs when the line is idle (timeouts).
	tick(now time.Time, emit func(Event))
	// reset forgets partial input after the device was lost.
	reset()
}

// SerialReader is a card reader or keypad on a serial line. Make one with
// NewASCIIReader, NewWiegandReader or NewKeypadReader.
type SerialReader struct {
	cfg    SerialConfig
	proto  protocol
	health *Tracker
	log    *slog.Logger
	now    func() time.Time
}

func newSerialReader(cfg SerialConfig, p protocol) (*SerialReader, error) {
	if cfg.Name == "" || cfg.Path == "" {
		return nil, fmt.Errorf("%w: serial reader needs a name and a path", ErrConfig)
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Open == nil {
		cfg.Open = SerialOpener(cfg.Baud)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("reader", cfg.Name)
	return &SerialReader{cfg: cfg, proto: p, health: NewTracker(cfg.Name, cfg.Now()), log: log, now: cfg.Now}, nil
}

// NewASCIIReader returns a reader for card numbers sent as text lines.
func NewASCIIReader(cfg SerialConfig, line LineConfig) (*SerialReader, error) {
	if err := line.validate(); err != nil {
		return nil, err
	}
	return newSerialReader(cfg, &lineProto{cfg: line, parse: func(f []byte) (Card, error) { return ParseASCII(line, f) }})
}

// NewWiegandReader returns a reader for a Wiegand-to-serial converter.
func NewWiegandReader(cfg SerialConfig, w WiegandConfig) (*SerialReader, error) {
	if err := w.validate(); err != nil {
		return nil, err
	}
	return newSerialReader(cfg, &lineProto{cfg: w.Line, parse: func(f []byte) (Card, error) { return ParseWiegand(w, f) }})
}

// KeypadConfig configures a serial keypad sending one ASCII byte per key.
type KeypadConfig struct {
	InterKey  time.Duration // see PINEntry
	MaxDigits int
}

// NewKeypadReader returns a reader for a serial keypad: '0'-'9' are digits,
// '*' clears, '#' submits; CR and LF are ignored; any other byte is dropped
// and clears the digits entered before it.
func NewKeypadReader(cfg SerialConfig, k KeypadConfig) (*SerialReader, error) {
	return newSerialReader(cfg, &keypadProto{entry: PINEntry{InterKey: k.InterKey, MaxDigits: k.MaxDigits}})
}

// Name returns the reader's configured name.
func (r *SerialReader) Name() string { return r.cfg.Name }

// Health returns the reader's current health.
func (r *SerialReader) Health() Health { return r.health.Health() }

// Run reads events until ctx is done, reopening the device with backoff
// whenever it fails or vanishes. It returns ctx's error.
func (r *SerialReader) Run(ctx context.Context, events chan<- Event) error {
	var wait time.Duration
	for {
		up, err := r.session(ctx, events)
		r.health.Down(r.now(), err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if up {
			wait = 0
			r.log.Warn("reader lost", "err", err)
		} else {
			r.log.Debug("reader unavailable", "err", err)
		}
		wait = r.cfg.Backoff.Next(wait)
		if !Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// idleHangup: reads returning EOF at once this many times in a row mean the
// other end hung up (a tty read with a timeout otherwise waits ReadTimeout).
const (
	idleHangup   = 3
	fastEOF      = 20 * time.Millisecond
	statInterval = 250 * time.Millisecond
)

// session runs one open of the device; up reports whether it opened.
func (r *SerialReader) session(ctx context.Context, events chan<- Event) (up bool, err error) {
	rw, err := r.cfg.Open(r.cfg.Path)
	if err != nil {
		return false, err
	}
	defer rw.Close()
	st0, statErr := os.Stat(r.cfg.Path)
	r.proto.reset()
	r.health.Up(r.now())
	r.log.Info("reader up", "path", r.cfg.Path)

	emit := func(ev Event) {
		ev.Reader = r.cfg.Name
		if ev.Kind == KindCard || ev.Kind == KindPIN {
			r.health.Frame()
		}
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	lim := logLimiter{every: 10 * time.Second}
	drop := func(err error) {
		r.health.Drop()
		if lim.allow(r.now()) {
			r.log.Warn("frame dropped", "err", err, "dropped", r.health.Health().Dropped)
		}
	}
	buf := make([]byte, 256)
	fast := 0
	lastStat := time.Now()
	for ctx.Err() == nil {
		t0 := time.Now()
		n, err := rw.Read(buf)
		if n > 0 {
			fast = 0
			r.proto.feed(buf[:n], r.now(), emit, drop)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return true, fmt.Errorf("%w: %v", ErrGone, err)
		}
		if n == 0 {
			if time.Since(t0) < fastEOF {
				if fast++; fast >= idleHangup {
					return true, fmt.Errorf("%w: %s hung up", ErrGone, r.cfg.Path)
				}
			} else {
				fast = 0
			}
			r.proto.tick(r.now(), emit)
		}
		if statErr == nil && time.Since(lastStat) >= statInterval {
			lastStat = time.Now()
			st, err := os.Stat(r.cfg.Path)
			if err != nil || !os.SameFile(st0, st) {
				return true, fmt.Errorf("%w: %s removed or replaced", ErrGone, r.cfg.Path)
			}
		}
	}
	return true, ctx.Err()
}

// logLimiter allows one log line per period in per-frame loops.
type logLimiter struct {
	every time.Duration
	last  time.Time
}

func (l *logLimiter) allow(now time.Time) bool {
	if l.last.IsZero() || now.Sub(l.last) >= l.every {
		l.last = now
		return true
	}
	return false
}

// lineProto frames lines and parses each with parse.
type lineProto struct {
	cfg   LineConfig
	parse func([]byte) (Card, error)
	buf   []byte
	// skipping is set after an overlong line: everything up to the next
	// ending belongs to it and must not be parsed as a frame of its own.
	skipping bool
}

func (l *lineProto) feed(p []byte, now time.Time, emit func(Event), drop func(error)) {
	end := l.cfg.ending()
	l.buf = append(l.buf, p...)
	for {
		frame, rest, ok := SplitFrame(l.buf, end)
		if !ok {
			break
		}
		if l.skipping {
			l.skipping = false
		} else if len(bytes.TrimSpace(frame)) > 0 {
			card, err := l.parse(frame)
			if err != nil {
				drop(err)
			} else {
				emit(Event{Time: now, Kind: KindCard, Card: card})
			}
		}
		l.buf = append(l.buf[:0], rest...)
	}
	if limit := l.cfg.maxLen() + len(end); len(l.buf) > limit {
		// Keep a possible partial ending so it can still be matched.
		keep := l.buf[len(l.buf)-(len(end)-1):]
		l.buf = append(l.buf[:0], keep...)
		if !l.skipping {
			drop(fmt.Errorf("%w: line longer than %d bytes", ErrFrame, l.cfg.maxLen()))
		}
		l.skipping = true
	}
}

func (l *lineProto) tick(time.Time, func(Event)) {}

func (l *lineProto) reset() { l.buf, l.skipping = l.buf[:0], false }

// keypadProto turns key bytes into Key and PIN events.
type keypadProto struct {
	entry PINEntry
}

func (k *keypadProto) feed(p []byte, now time.Time, emit func(Event), drop func(error)) {
	for _, b := range p {
		if b == '\r' || b == '\n' {
			continue
		}
		if !isKey(b) {
			// Line noise: drop it, and the digits before it, so a PIN is
			// only ever digits typed in a row.
			drop(fmt.Errorf("%w: byte %#02x is not a key", ErrFrame, b))
			if k.entry.Len() > 0 {
				k.entry.clear()
				emit(Event{Time: now, Kind: KindKey, Digits: 0})
			}
			continue
		}
		step, pin := k.entry.Key(b, now)
		switch step {
		case StepDigit, StepCleared:
			emit(Event{Time: now, Kind: KindKey, Digits: k.entry.Len()})
		case StepSubmitted:
			emit(Event{Time: now, Kind: KindPIN, PIN: pin})
		case StepCode:
			emit(Event{Time: now, Kind: KindCode, PIN: pin})
		}
	}
}

func isKey(b byte) bool {
	return b >= '0' && b <= '9' || b == KeyClear || b == KeySubmit
}

func (k *keypadProto) tick(now time.Time, emit func(Event)) {
	if k.entry.Expire(now) {
		emit(Event{Time: now, Kind: KindKey, Digits: 0})
	}
}

func (k *keypadProto) reset() { k.entry.clear() }
