package relay_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

func TestModbusCRC(t *testing.T) {
	// The Modbus specification's example: read 10 holding registers of
	// board 1 is 01 03 00 00 00 0A C5 CD.
	if got, want := relay.ModbusCRC([]byte{1, 3, 0, 0, 0, 0x0A}), uint16(0xCDC5); got != want {
		t.Errorf("ModbusCRC(01 03 00 00 00 0A) = %04X, want %04X", got, want)
	}
	if got, want := relay.ReadInputsRequest(1, 8), []byte{1, 2, 0, 0, 0, 8, 0x79, 0xCC}; !bytes.Equal(got, want) {
		t.Errorf("ReadInputsRequest(1, 8) = % X, want % X", got, want)
	}
}

func TestParseReadInputs(t *testing.T) {
	ok := []byte{1, 2, 1, 0b101}
	c := relay.ModbusCRC(ok)
	ok = append(ok, byte(c), byte(c>>8))
	got, err := relay.ParseReadInputs(ok, 1, 4)
	if err != nil || !slices.Equal(got, []bool{true, false, true, false}) {
		t.Fatalf("ParseReadInputs(% X) = %v, %v; want [true false true false]", ok, got, err)
	}
	bad := slices.Clone(ok)
	bad[3] ^= 2 // a flipped bit on the line
	exc := []byte{1, 0x82, 2}
	c = relay.ModbusCRC(exc)
	exc = append(exc, byte(c), byte(c>>8))
	for name, resp := range map[string][]byte{"bad crc": bad, "other board": ok, "exception": exc, "short": ok[:4]} {
		addr := byte(1)
		if name == "other board" {
			addr = 2
		}
		if _, err := relay.ParseReadInputs(resp, addr, 4); !errors.Is(err, relay.ErrModbus) {
			t.Errorf("ParseReadInputs(%s: % X) = %v, want ErrModbus", name, resp, err)
		}
	}
}

func FuzzParseReadInputs(f *testing.F) {
	f.Add([]byte{1, 2, 1, 5, 0x91, 0x8B}, 4)
	f.Add([]byte{1, 0x82, 2, 0xC1, 0x61}, 8)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		n = 1 + (n%64+64)%64
		in, err := relay.ParseReadInputs(b, 1, n)
		if err == nil && len(in) != n {
			t.Fatalf("ParseReadInputs gave %d inputs, want %d", len(in), n)
		}
	})
}

// TestModbusOverPTY reads inputs and switches a coil on a board played over
// a real pty pair, and survives the board being unplugged and plugged back.
func TestModbusOverPTY(t *testing.T) {
	p := serialtest.New(t)
	board := &relaytest.ModbusBoard{Address: 3}
	stop := make(chan struct{})
	defer close(stop)
	go board.Serve(p.OpenPeer(100*time.Millisecond), stop)
	m, err := relay.NewModbus(relay.ModbusConfig{Path: p.Device, Address: 3, Inputs: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	board.SetInput(2, true)
	got, err := m.Inputs()
	if err != nil || !slices.Equal(got, []bool{false, false, true, false}) {
		t.Fatalf("Inputs() = %v, %v; want input 2 on", got, err)
	}
	if err := m.SetCoil(1, true); err != nil || !board.Coil(1) {
		t.Fatalf("SetCoil(1, true) = %v, board coil 1 = %v", err, board.Coil(1))
	}
	other, err := relay.NewModbus(relay.ModbusConfig{Path: p.Device, Address: 4, Inputs: 4, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Inputs(); err == nil {
		t.Errorf("Inputs() of an address no board answers = nil error, want a timeout")
	}
}
