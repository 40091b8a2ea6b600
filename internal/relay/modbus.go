package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Modbus RTU relay boards with input lines (the Waveshare "Modbus RTU Relay
// (D)" and the many RS485/USB boards like it): the door's inputs (contact,
// exit button, tamper) are their discrete inputs, read with function 0x02,
// and an alarm output (a buzzer) is one of their coils, switched with
// function 0x05. Frames are RTU: address, function, data, CRC-16 (poly
// 0xA001, low byte first). These are the only serial boards with inputs
// gated supports; the LCUS and byte-command boards have none.

// ErrModbus: a Modbus board answered with something other than the answer
// to the request (a bad CRC, another address or function, an exception).
var ErrModbus = errors.New("relay: modbus")

// ModbusCRC is the Modbus RTU CRC-16 of b.
func ModbusCRC(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func withCRC(b []byte) []byte {
	c := ModbusCRC(b)
	return append(b, byte(c), byte(c>>8))
}

// ReadInputsRequest is the frame asking board addr for n discrete inputs
// from input 0 (function 0x02).
func ReadInputsRequest(addr byte, n int) []byte {
	return withCRC([]byte{addr, 0x02, 0, 0, byte(n >> 8), byte(n)})
}

// WriteCoilRequest is the frame switching coil (0-based) of board addr on
// or off (function 0x05); the board echoes it.
func WriteCoilRequest(addr byte, coil int, on bool) []byte {
	v := byte(0x00)
	if on {
		v = 0xFF
	}
	return withCRC([]byte{addr, 0x05, byte(coil >> 8), byte(coil), v, 0})
}

// readInputsLen is the length of a full answer to ReadInputsRequest(_, n).
func readInputsLen(n int) int { return 5 + (n+7)/8 }

// ParseReadInputs checks the answer of board addr to ReadInputsRequest(addr,
// n) and returns the n inputs, input 0 first. An exception answer, a bad
// CRC, or an answer for another board or function is an ErrModbus.
func ParseReadInputs(resp []byte, addr byte, n int) ([]bool, error) {
	if len(resp) == 5 && resp[1] == 0x82 && resp[0] == addr && ModbusCRC(resp[:3]) == uint16(resp[3])|uint16(resp[4])<<8 {
		return nil, fmt.Errorf("%w: board %d: exception %d reading inputs", ErrModbus, addr, resp[2])
	}
	want := readInputsLen(n)
	if len(resp) != want {
		return nil, fmt.Errorf("%w: answer of %d bytes, want %d", ErrModbus, len(resp), want)
	}
	body := resp[:want-2]
	if ModbusCRC(body) != uint16(resp[want-2])|uint16(resp[want-1])<<8 {
		return nil, fmt.Errorf("%w: bad CRC in % X", ErrModbus, resp)
	}
	if resp[0] != addr || resp[1] != 0x02 || int(resp[2]) != (n+7)/8 {
		return nil, fmt.Errorf("%w: answer % X is not board %d's inputs", ErrModbus, resp, addr)
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = resp[3+i/8]&(1<<(i%8)) != 0
	}
	return out, nil
}

// ModbusConfig configures a Modbus RTU board.
type ModbusConfig struct {
	Path    string
	Baud    int    // 9600 when 0
	Address byte   // the board's slave address, 1-247
	Inputs  int    // how many inputs to read, 1-64
	Open    Opener // SerialOpener(Baud) when nil
	Timeout time.Duration
	Logger  *slog.Logger
}

// Modbus is a Modbus RTU board on a serial line: its inputs are read and a
// coil switched, one request at a time. The port is opened on first use and
// again after an error (a board unplugged and plugged back). Safe for
// concurrent use.
type Modbus struct {
	cfg  ModbusConfig
	log  *slog.Logger
	mu   sync.Mutex
	port io.ReadWriteCloser
}

// NewModbus checks cfg; it does not open the port.
func NewModbus(cfg ModbusConfig) (*Modbus, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: a modbus board needs a device", ErrConfig)
	}
	if cfg.Address < 1 || cfg.Address > 247 {
		return nil, fmt.Errorf("%w: modbus address %d: use 1-247", ErrConfig, cfg.Address)
	}
	if cfg.Inputs < 1 || cfg.Inputs > 64 {
		return nil, fmt.Errorf("%w: modbus inputs %d: use 1-64", ErrConfig, cfg.Inputs)
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Open == nil {
		cfg.Open = SerialOpener(cfg.Baud)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Modbus{cfg: cfg, log: log.With("board", cfg.Path)}, nil
}

// Inputs reads the board's inputs, input 0 first.
func (m *Modbus) Inputs() ([]bool, error) {
	resp, err := m.exchange(ReadInputsRequest(m.cfg.Address, m.cfg.Inputs), readInputsLen(m.cfg.Inputs))
	if err != nil {
		return nil, err
	}
	in, err := ParseReadInputs(resp, m.cfg.Address, m.cfg.Inputs)
	if err != nil {
		return nil, fmt.Errorf("modbus %s: %w", m.cfg.Path, err)
	}
	return in, nil
}

// SetCoil switches coil (0-based) on or off and checks the echo.
func (m *Modbus) SetCoil(coil int, on bool) error {
	req := WriteCoilRequest(m.cfg.Address, coil, on)
	resp, err := m.exchange(req, len(req))
	if err != nil {
		return err
	}
	if !bytes.Equal(resp, req) {
		return fmt.Errorf("modbus %s: %w: coil %d: answer % X, want the echo % X", m.cfg.Path, ErrModbus, coil, resp, req)
	}
	return nil
}

// exchange writes req and reads an answer of want bytes (or the 5 of an
// exception) within the timeout.
func (m *Modbus) exchange(req []byte, want int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.port == nil {
		p, err := m.cfg.Open(m.cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("modbus: %w", err)
		}
		m.port = p
	}
	resp, err := m.roundTrip(req, want)
	if err != nil {
		_ = m.port.Close() // opened again next time
		m.port = nil
		return nil, fmt.Errorf("modbus %s: %w", m.cfg.Path, err)
	}
	return resp, nil
}

func (m *Modbus) roundTrip(req []byte, want int) ([]byte, error) {
	if _, err := m.port.Write(req); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(m.cfg.Timeout)
	var resp []byte
	buf := make([]byte, 64)
	for len(resp) < want {
		if len(resp) >= 2 && resp[1]&0x80 != 0 && len(resp) >= 5 {
			break // an exception: 5 bytes
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no answer within %v (got % X)", m.cfg.Timeout, resp)
		}
		n, err := m.port.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp = append(resp, buf[:n]...)
	}
	return resp, nil
}

// Close closes the port.
func (m *Modbus) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.port == nil {
		return nil
	}
	err := m.port.Close()
	m.port = nil
	return err
}
