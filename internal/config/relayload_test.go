package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
)

// relayOnly is a [relay] section with a door contact, put after broken
// sections in the tests below.
const relayOnly = `
[relay]
type = "lcus"
device = "/dev/gate-relay"
channel = 2
pulse = "5s"
[relay.contact]
chip = "gpiochip0"
line = 27
active_low = true
`

func TestLoadRelayAgreesWithLoad(t *testing.T) {
	for _, doc := range []string{example(t), minimal, minimal + "[relay.contact]\nchip = \"gpiochip1\"\nline = 4\n"} {
		p := filepath.Join(t.TempDir(), "gated.toml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := config.LoadRelay(p)
		if err != nil {
			t.Fatalf("LoadRelay(%s) = %v", p, err)
		}
		if !reflect.DeepEqual(r, c.Relay) {
			t.Errorf("LoadRelay = %+v, want Load's %+v", r, c.Relay)
		}
	}
}

// TestLoadRelayIgnoresTheRest: `gated relay lock` must lock the door when
// the rest of the file is what stopped the daemon.
func TestLoadRelayIgnoresTheRest(t *testing.T) {
	want := config.Relay{Type: "lcus", Device: "/dev/gate-relay", Baud: 9600, Channel: 2, Mode: "fail-secure",
		Pulse: config.Duration{Duration: 5 * time.Second}, Contact: &config.Contact{Chip: "gpiochip0", Line: 27, ActiveLow: true}}
	tests := []struct{ name, before, after string }{
		{"unknown keys in [face]", "version = 1\n[face]\nenabled = true\nthreshhold = 0.4\nwhatever = [1, 2]\n", ""},
		{"bad values elsewhere, no reader, wrong version", "version = 7\n[face]\nenabled = true\nthreshold = 5.0\n[access]\ncard = \"face\"\n", ""},
		{"wrong type in [face]", "[face]\nthreshold = \"low\"\nframes = true\n", ""},
		{"syntax error before [relay]", "version = 1\n[face]\nthreshold = = 0.4\nmodel = \"unterminated\n", ""},
		{"syntax error after [relay]", "version = 1\n", "[privacy]\ncontroller = \"PM\ncontact = [\n"},
		{"table headers with spaces and comments", "[ face ] # broken\nenabled = yes\n", "[ privacy ]\n= 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.before + relayOnly + tt.after
			if _, err := config.Parse("gated.toml", []byte(doc)); err == nil {
				t.Fatalf("the test's file loads as a whole; it should be broken")
			}
			got, err := config.ParseRelay("gated.toml", []byte(doc))
			if err != nil {
				t.Fatalf("ParseRelay = %v, want the relay", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseRelay = %+v (contact %+v), want %+v", got, got.Contact, want)
			}
		})
	}
}

func TestLoadRelayChecksTheRelay(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the error: field and fix
	}{
		{"misspelt key", "[relay]\ntype = \"lcus\"\ndevice = \"/dev/gate-relay\"\nchanel = 2\n", []string{"gated.toml: relay.chanel: unknown setting"}},
		{"misspelt contact key", relayOnly + "pullup = true\n", []string{"relay.contact.pullup: unknown setting"}},
		{"no relay", "version = 1\n[face]\nenabled = true\n", []string{"relay.type: no relay is configured"}},
		{"bad channel", "[relay]\ntype = \"lcus\"\ndevice = \"/dev/gate-relay\"\nchannel = 9\n", []string{"relay.channel: 9", "1-8"}},
		{"relative device", "[relay]\ntype = \"lcus\"\ndevice = \"ttyUSB0\"\n", []string{"relay.device", "/dev/gate-relay"}},
		{"bytes without off", "[relay]\ntype = \"bytes\"\ndevice = \"/dev/x\"\non = \"01\"\n", []string{"relay.on", "both on and off"}},
		{"gpio without chip", "[relay]\ntype = \"gpio\"\nline = 3\n", []string{"relay.chip"}},
		{"bad mode", "[relay]\ntype = \"lcus\"\ndevice = \"/dev/x\"\nmode = \"open\"\n", []string{"relay.mode", "fail-secure"}},
		{"contact without chip", "[relay]\ntype = \"lcus\"\ndevice = \"/dev/x\"\n[relay.contact]\nline = 3\n", []string{"relay.contact", "chip and line"}},
		{"wrong type", "[relay]\ntype = \"lcus\"\ndevice = \"/dev/x\"\nchannel = \"one\"\n", []string{"relay.channel"}},
		{"syntax error in [relay]", "version = 1\n[face]\n[relay]\ntype = \"lcus\ndevice = \"/dev/x\"\n", []string{"gated.toml", "line 4", "[relay] read on its own: line 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := config.ParseRelay("gated.toml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseRelay = %+v, nil; want an error", r)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("ParseRelay error %v is not ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseRelay error = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestLoadRelayMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.toml")
	_, err := config.LoadRelay(p)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadRelay(missing) = %v, want ErrNotExist naming %s", err, p)
	}
}

// FuzzParseRelay: no input panics; whatever Parse accepts, ParseRelay
// accepts with the same relay; whatever ParseRelay accepts keeps the
// relay's rules.
func FuzzParseRelay(f *testing.F) {
	f.Add(minimal)
	f.Add("version = 1\n[face]\nthreshold = = 1\n" + relayOnly)
	f.Add("[relay]\ntype = \"gpio\"\nchip = \"gpiochip0\"\nline = 17\nmode = \"fail-safe\"\n")
	f.Add("[ relay ] # x\ntype = \"bytes\"\ndevice = \"/dev/x\"\non = \"01\"\noff = \"02\"\n[relay.contact]\nchip = \"c\"\n")
	f.Add("relay = { type = \"lcus\", device = \"/dev/x\" }\n")
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := config.ParseRelay("fuzz.toml", []byte(doc))
		if err != nil && !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
		if c, cerr := config.Parse("fuzz.toml", []byte(doc)); cerr == nil {
			if err != nil || !reflect.DeepEqual(r, c.Relay) {
				t.Fatalf("ParseRelay = %+v, %v; Parse's relay is %+v", r, err, c.Relay)
			}
		}
		if err != nil {
			return
		}
		switch r.Type {
		case "lcus", "bytes":
			if !filepath.IsAbs(r.Device) {
				t.Fatalf("accepted a serial relay on %q", r.Device)
			}
		case "gpio":
			if r.Chip == "" || r.Line < 0 {
				t.Fatalf("accepted a GPIO relay without chip and line: %+v", r)
			}
		default:
			t.Fatalf("accepted relay type %q", r.Type)
		}
		if r.Mode != "fail-secure" && r.Mode != "fail-safe" {
			t.Fatalf("accepted mode %q", r.Mode)
		}
	})
}
