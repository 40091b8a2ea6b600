package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// Door is the door's own inputs and alarms ([door]): a door contact, an
// exit (request-to-exit) button and a tamper switch, each a GPIO line or an
// input of a Modbus RTU relay board ([door.board]), and an optional alarm
// output (a buzzer or a siren relay) on a GPIO line or a coil of that
// board. All are optional. A door contact may be given here or, as before,
// in [relay.contact] (GPIO only), not both.
type Door struct {
	// HeldOpen is how long the door may stand open before the held-open
	// alarm; 30 s when unset (see HeldOpenTime).
	HeldOpen Duration    `toml:"held_open"`
	Board    *DoorBoard  `toml:"board"`
	Contact  *DoorInput  `toml:"contact"` // active = the door is closed
	Exit     *DoorInput  `toml:"exit"`    // active = the exit button is pressed
	Tamper   *DoorInput  `toml:"tamper"`  // active = the enclosure is open or the wiring cut
	Alarm    *DoorOutput `toml:"alarm"`   // on while a door alarm stands
}

// DoorBoard is a serial relay board with input lines. Only Modbus RTU
// boards (function 0x02 read discrete inputs, 0x05 write single coil) are
// supported: the LCUS and byte-command boards have no inputs.
type DoorBoard struct {
	Type    string `toml:"type"` // "modbus"
	Device  string `toml:"device"`
	Baud    int    `toml:"baud"`    // 9600 when 0
	Address int    `toml:"address"` // the board's slave address; 1 when 0
}

// DoorInput is one input: a GPIO line (chip and line) or an input of the
// board (input, numbered from 1 as printed on the board: IN1 is 1).
type DoorInput struct {
	Chip      string `toml:"chip"`
	Line      int    `toml:"line"`
	Input     int    `toml:"input"`
	ActiveLow bool   `toml:"active_low"` // the switch pulls the line low when active
	PullUp    bool   `toml:"pull_up"`    // GPIO: internal pull-up, for switches to ground
}

// OnBoard reports whether the input is one of [door.board]'s.
func (i DoorInput) OnBoard() bool { return i.Input > 0 }

// DoorOutput is the alarm output: a GPIO line, or a coil of the board
// (numbered from 1: CH1 is 1). It must not be the door relay's channel.
type DoorOutput struct {
	Chip      string `toml:"chip"`
	Line      int    `toml:"line"`
	Coil      int    `toml:"coil"`
	ActiveLow bool   `toml:"active_low"`
}

// DefaultHeldOpen is door.held_open when it is not set.
const DefaultHeldOpen = 30 * time.Second

// HeldOpenTime is door.held_open, or DefaultHeldOpen.
func (d Door) HeldOpenTime() time.Duration {
	if d.HeldOpen.Duration == 0 {
		return DefaultHeldOpen
	}
	return d.HeldOpen.Duration
}

// BoardAddress is door.board.address, or 1.
func (b DoorBoard) BoardAddress() int {
	if b.Address == 0 {
		return 1
	}
	return b.Address
}

// BoardInputs is how many inputs gated reads from the board: up to the
// highest one configured.
func (d Door) BoardInputs() int {
	n := 0
	for _, in := range []*DoorInput{d.Contact, d.Exit, d.Tamper} {
		if in != nil && in.Input > n {
			n = in.Input
		}
	}
	return n
}

func (c *Config) checkDoor() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	d := c.Door
	if h := d.HeldOpen.Duration; h != 0 && (h < time.Second || h > time.Hour) {
		bad("door.held_open", d.HeldOpen.String(), `use 1s to 1h, e.g. "30s"`)
	}
	if b := d.Board; b != nil {
		if b.Type != "modbus" {
			bad("door.board.type", fmt.Sprintf("%q", b.Type), `use "modbus" (Modbus RTU boards with inputs; LCUS and byte-command boards have none)`)
		}
		if !filepath.IsAbs(b.Device) {
			bad("door.board.device", fmt.Sprintf("%q", b.Device), "give the board's serial device, e.g. /dev/gate-io")
		}
		if b.Address < 0 || b.Address > 247 {
			bad("door.board.address", fmt.Sprint(b.Address), "use the board's Modbus address, 1-247")
		}
		if b.Baud < 0 {
			bad("door.board.baud", fmt.Sprint(b.Baud), "use the board's speed, e.g. 9600")
		}
		if b.Type == "modbus" && c.Relay.Device != "" && b.Device == c.Relay.Device && c.Relay.Type != "" {
			bad("door.board.device", "is the relay board's device", "the door relay's board and the input board are two devices; a Modbus board that also drives the lock is not supported yet")
		}
	}
	for _, in := range []struct {
		name string
		in   *DoorInput
	}{{"door.contact", d.Contact}, {"door.exit", d.Exit}, {"door.tamper", d.Tamper}} {
		if in.in == nil {
			continue
		}
		switch {
		case in.in.Input < 0 || in.in.Input > 64:
			bad(in.name+".input", fmt.Sprint(in.in.Input), "number the board's input from 1 (IN1) to 64")
		case in.in.OnBoard() && in.in.Chip != "":
			bad(in.name, "both a GPIO chip and a board input are set", "keep one: chip and line, or input")
		case in.in.OnBoard() && d.Board == nil:
			bad(in.name+".input", "there is no [door.board]", `add [door.board] type = "modbus", device = "/dev/gate-io", or use a GPIO chip and line`)
		case !in.in.OnBoard() && (in.in.Chip == "" || in.in.Line < 0):
			bad(in.name, "needs a GPIO chip and line, or a board input", `e.g. chip = "gpiochip0", line = 22, or input = 1`)
		}
	}
	if d.Contact != nil && c.Relay.Contact != nil {
		bad("door.contact", "the door contact is also set in [relay.contact]", "keep one: [relay.contact] (GPIO) or [door.contact]")
	}
	if a := d.Alarm; a != nil {
		switch {
		case a.Coil < 0 || a.Coil > 64:
			bad("door.alarm.coil", fmt.Sprint(a.Coil), "number the board's relay from 1 (CH1)")
		case a.Coil > 0 && a.Chip != "":
			bad("door.alarm", "both a GPIO chip and a board coil are set", "keep one")
		case a.Coil > 0 && d.Board == nil:
			bad("door.alarm.coil", "there is no [door.board]", "add [door.board], or use a GPIO chip and line")
		case a.Coil == 0 && (a.Chip == "" || a.Line < 0):
			bad("door.alarm", "needs a GPIO chip and line, or a board coil", `e.g. chip = "gpiochip0", line = 23, or coil = 2`)
		case a.Coil == 0 && c.Relay.Type == "gpio" && a.Chip == c.Relay.Chip && a.Line == c.Relay.Line:
			bad("door.alarm.line", "is the door relay's line", "the alarm output must be another line: it must never open the door")
		}
	}
	return errs
}
