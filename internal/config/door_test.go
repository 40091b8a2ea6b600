package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
)

func TestDoor(t *testing.T) {
	c, err := config.Parse("/etc/gated/gated.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Door.HeldOpenTime(); got != 30*time.Second {
		t.Errorf("HeldOpenTime() without [door] = %v, want 30s", got)
	}
	board := "[door.board]\ntype = \"modbus\"\ndevice = \"/dev/gate-io\"\n"
	ok := minimal + "[door]\nheld_open = \"45s\"\n" + board +
		"[door.contact]\ninput = 1\n[door.exit]\ninput = 2\n[door.tamper]\nchip = \"gpiochip0\"\nline = 5\nactive_low = true\n[door.alarm]\ncoil = 2\n"
	c, err = config.Parse("/etc/gated/gated.toml", []byte(ok))
	if err != nil {
		t.Fatalf("Parse(a door on a board) = %v", err)
	}
	if c.Door.HeldOpenTime() != 45*time.Second || c.Door.BoardInputs() != 2 || c.Door.Board.BoardAddress() != 1 || !c.Door.Contact.OnBoard() || c.Door.Tamper.OnBoard() {
		t.Errorf("door = %+v, want held_open 45s, 2 board inputs, address 1, contact on the board, tamper on GPIO", c.Door)
	}
	bad := []struct{ doc, want string }{
		{"[door]\nheld_open = \"100ms\"\n", "door.held_open"},
		{"[door.contact]\ninput = 1\n", "door.contact.input: there is no [door.board]"},
		{board + "[door.exit]\ninput = 1\nchip = \"gpiochip0\"\n", "door.exit: both a GPIO chip and a board input"},
		{"[door.tamper]\nactive_low = true\n", "door.tamper: needs a GPIO chip and line"},
		{"[door.board]\ntype = \"lcus\"\ndevice = \"/dev/gate-io\"\n", `door.board.type: "lcus"`},
		{"[door.board]\ntype = \"modbus\"\ndevice = \"/dev/ttyUSB1\"\n", "door.board.device: is the relay board's device"},
		{"[relay.contact]\nchip = \"gpiochip0\"\nline = 27\n[door.contact]\nchip = \"gpiochip0\"\nline = 27\n", "door.contact: the door contact is also set in [relay.contact]"},
		{"[door.alarm]\ncoil = 1\n", "door.alarm.coil: there is no [door.board]"},
		{"[door.exit]\nchip = \"gpiochip0\"\nline = 3\nbutton = 1\n", "door.exit.button: unknown setting"},
	}
	for _, b := range bad {
		doc := minimal + b.doc
		if strings.HasPrefix(b.doc, "[relay.contact]") {
			doc = strings.Replace(minimal, "device = \"/dev/ttyUSB1\"\n", "device = \"/dev/ttyUSB1\"\n"+b.doc, 1)
		}
		if _, err := config.Parse("/etc/gated/gated.toml", []byte(doc)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Parse(%q) = %v, want an error naming %q", b.doc, err, b.want)
		}
	}
}
