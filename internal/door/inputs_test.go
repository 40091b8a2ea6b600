package door

import (
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// TestInputsOnBoardAndGPIO reads a contact and a tamper switch on a Modbus
// board played over a pty pair, an exit button on a (fake) GPIO line, and
// switches a GPIO alarm output.
func TestInputsOnBoardAndGPIO(t *testing.T) {
	p := serialtest.New(t)
	board := &relaytest.ModbusBoard{Address: 1}
	stop := make(chan struct{})
	defer close(stop)
	go board.Serve(p.OpenPeer(100*time.Millisecond), stop)
	chip := &relaytest.Chip{}
	h := inputHW{
		gpioIn: func(c string, off int, al, pu bool) (relay.Input, error) {
			if c != "gpiochip0" || off != 4 || !al {
				t.Errorf("exit requested as %s line %d active-low %v, want gpiochip0 line 4 active-low", c, off, al)
			}
			return chip.Line(off), nil
		},
		gpioOut: chip.Request,
	}
	cfg := config.Door{
		Board:   &config.DoorBoard{Type: "modbus", Device: p.Device},
		Contact: &config.DoorInput{Input: 1},
		Tamper:  &config.DoorInput{Input: 3, ActiveLow: true}, // a closed enclosure holds IN3 on
		Exit:    &config.DoorInput{Chip: "gpiochip0", Line: 4, ActiveLow: true},
		Alarm:   &config.DoorOutput{Chip: "gpiochip0", Line: 9},
	}
	in, err := openInputs(cfg, nil, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	board.SetInput(0, true) // door shut
	board.SetInput(2, true) // enclosure shut
	if got, want := in.Read(), (Reading{HasContact: true, Closed: true, HasExit: true, HasTamper: true}); got != want {
		t.Errorf("Read() = %+v, want %+v", got, want)
	}
	if got := board.Polls(); got != 1 {
		t.Errorf("board polled %d times for one reading, want 1", got)
	}
	board.SetInput(0, false)
	board.SetInput(2, false)
	chip.Line(4).Set(1)
	if got, want := in.Read(), (Reading{HasContact: true, HasExit: true, Exit: true, HasTamper: true, Tamper: true}); got != want {
		t.Errorf("Read() door open, exit pressed, tampered = %+v, want %+v", got, want)
	}
	if err := in.Sound(true); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if got := chip.Line(9).Values(); !slices.Equal(got, []int{1, 0}) || !chip.Line(9).Closed() {
		t.Errorf("alarm line values = %v, released %v; want [1 0] (on, off at close), released", got, chip.Line(9).Closed())
	}
	p.Unplug() // the board is gone: its inputs drop out of the reading
	in2, err := openInputs(config.Door{Board: cfg.Board, Contact: cfg.Contact}, nil, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	defer in2.Close()
	if got := in2.Read(); got.HasContact {
		t.Errorf("Read() with the board unplugged = %+v, want no contact reading", got)
	}
}

func TestInputsBoardCoilAlarm(t *testing.T) {
	p := serialtest.New(t)
	board := &relaytest.ModbusBoard{Address: 7}
	stop := make(chan struct{})
	defer close(stop)
	go board.Serve(p.OpenPeer(100*time.Millisecond), stop)
	in, err := OpenInputs(config.Door{Board: &config.DoorBoard{Type: "modbus", Device: p.Device, Address: 7}, Alarm: &config.DoorOutput{Coil: 2}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Any() || !in.HasAlarm() {
		t.Errorf("Any() = %v, HasAlarm() = %v; want no inputs, an alarm", in.Any(), in.HasAlarm())
	}
	if err := in.Sound(true); err != nil || !board.Coil(1) {
		t.Fatalf("Sound(true) = %v, coil CH2 (1) on = %v", err, board.Coil(1))
	}
	if err := in.Close(); err != nil || board.Coil(1) {
		t.Errorf("Close() = %v, coil CH2 on = %v; want off", err, board.Coil(1))
	}
}
