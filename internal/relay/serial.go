package relay

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tarm/serial"
)

// Opener opens a serial device.
type Opener func(path string) (io.ReadWriteCloser, error)

// SerialOpener opens a tty at baud, 8N1, raw.
func SerialOpener(baud int) Opener {
	return func(path string) (io.ReadWriteCloser, error) {
		p, err := serial.OpenPort(&serial.Config{Name: path, Baud: baud, ReadTimeout: 100 * time.Millisecond})
		if err != nil {
			return nil, fmt.Errorf("open %s at %d baud: %w", path, baud, err)
		}
		return p, nil
	}
}

// Commands are the bytes that switch one relay on (coil energized) and off.
type Commands struct {
	On, Off []byte
}

func (c Commands) validate() error {
	if len(c.On) == 0 || len(c.Off) == 0 {
		return fmt.Errorf("%w: relay on and off commands must not be empty", ErrConfig)
	}
	if bytes.Equal(c.On, c.Off) {
		return fmt.Errorf("%w: relay on and off commands are the same bytes", ErrConfig)
	}
	return nil
}

// LCUS returns the commands of the common USB "LCUS" relay boards (CH340,
// 9600 baud) for channel 1-8: A0 <channel> <state> <checksum>, the checksum
// being the sum of the first three bytes mod 256. Channel 1 on is
// A0 01 01 A2, off is A0 01 00 A1.
func LCUS(channel int) (Commands, error) {
	if channel < 1 || channel > 8 {
		return Commands{}, fmt.Errorf("%w: LCUS channel %d: use 1-8", ErrConfig, channel)
	}
	frame := func(state byte) []byte {
		b := []byte{0xA0, byte(channel), state, 0}
		b[3] = b[0] + b[1] + b[2]
		return b
	}
	return Commands{On: frame(1), Off: frame(0)}, nil
}

// ParseCommands reads on and off commands written in hex, as in a config
// file: "A0 01 01 A2", "a00101a2" and "A0:01:01:A2" are the same.
func ParseCommands(onHex, offHex string) (Commands, error) {
	parse := func(name, s string) ([]byte, error) {
		clean := strings.NewReplacer(" ", "", ":", "", ",", "", "0x", "", "0X", "").Replace(s)
		b, err := hex.DecodeString(clean)
		if err != nil {
			return nil, fmt.Errorf("%w: relay %s command %q: %v", ErrConfig, name, s, err)
		}
		return b, nil
	}
	on, err := parse("on", onHex)
	if err != nil {
		return Commands{}, err
	}
	off, err := parse("off", offHex)
	if err != nil {
		return Commands{}, err
	}
	c := Commands{On: on, Off: off}
	return c, c.validate()
}

// SerialConfig configures a serial relay board.
type SerialConfig struct {
	Path     string
	Baud     int    // 9600 when 0
	Open     Opener // SerialOpener(Baud) when nil
	Commands Commands
	Mode     Mode
	Logger   *slog.Logger // nil discards
}

// Serial drives a relay board over a serial line. The port is opened on
// first use and reopened once when a write fails (a board unplugged and
// plugged back). Safe for concurrent use. It cannot read the relay's state
// back (it is no StateReader): the boards it drives answer nothing.
type Serial struct {
	cfg  SerialConfig
	log  *slog.Logger
	mu   sync.Mutex
	port io.ReadWriteCloser
}

// NewSerial checks cfg and returns the driver; it does not open the port.
func NewSerial(cfg SerialConfig) (*Serial, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: serial relay needs a path", ErrConfig)
	}
	if err := cfg.Commands.validate(); err != nil {
		return nil, err
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Open == nil {
		cfg.Open = SerialOpener(cfg.Baud)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Serial{cfg: cfg, log: log.With("relay", cfg.Path)}, nil
}

// Set writes the command that opens or locks the door.
func (s *Serial) Set(ctx context.Context, open bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("relay %s: %w", s.cfg.Path, err)
	}
	cmd := s.cfg.Commands.Off
	if s.cfg.Mode.energized(open) {
		cmd = s.cfg.Commands.On
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.write(cmd)
	if err == nil {
		return nil
	}
	// The board may have been replugged: reopen once and retry.
	s.closePort()
	if err2 := s.write(cmd); err2 != nil {
		s.closePort()
		return fmt.Errorf("relay %s: set open=%v: %w", s.cfg.Path, open, err2)
	}
	s.log.Info("relay port reopened", "after", err)
	return nil
}

func (s *Serial) write(cmd []byte) error {
	if s.port == nil {
		p, err := s.cfg.Open(s.cfg.Path)
		if err != nil {
			return err
		}
		s.port = p
	}
	n, err := s.port.Write(cmd)
	if err == nil && n != len(cmd) {
		err = io.ErrShortWrite
	}
	return err
}

func (s *Serial) closePort() {
	if s.port != nil {
		_ = s.port.Close()
		s.port = nil
	}
}

// Halt locks the door, retrying; see Lock.
func (s *Serial) Halt() error { return Lock(s) }

// Close closes the port without changing the relay. Call Halt first.
func (s *Serial) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closePort()
	return nil
}
