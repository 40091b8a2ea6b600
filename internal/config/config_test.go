package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/testenv"
)

func example(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(t), "configs", "gated.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExampleIsValid(t *testing.T) {
	c, err := config.Parse("configs/gated.toml", []byte(example(t)))
	if err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	if !c.Face.Enabled || c.Access.Card != "card" || len(c.Readers) != 1 || c.Relay.Type != "lcus" || c.Relay.Pulse.Duration != 3*time.Second {
		t.Errorf("example decoded to %+v", c)
	}
	if c.Privacy.Retention.Duration != 365*24*time.Hour {
		t.Errorf("retention = %v, want 365 days", c.Privacy.Retention)
	}
}

// minimal is the smallest valid configuration.
const minimal = `
version = 1
[device]
key_file = "/etc/gated/kek"
[[reader]]
name = "front"
type = "ascii"
device = "/dev/ttyUSB0"
[relay]
type = "lcus"
device = "/dev/ttyUSB1"
`

func TestRulesNameFieldAndFix(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the error: field and fix
	}{
		{"no reader: face would be the only way in", `
version = 1
[device]
key_file = "/etc/gated/kek"
[face]
enabled = true
[camera]
device = "0"
[relay]
type = "lcus"
device = "/dev/ttyUSB1"
[privacy]
controller = "PM Co."
contact = "office"
notice_version = "1"
`, []string{"gated.toml: reader: no card reader is configured", "face must never be the only way in"}},
		{"only a keypad", minimal + `
[[reader]]
name = "kp"
type = "keypad"
device = "/dev/ttyUSB2"
for = "nobody"
`, []string{`reader[1].for: "nobody" is not a card reader`}},
		{"cards turned off", minimal + "[access]\ncard = \"none\"\n", []string{"access.card", "would make face the only way in"}},
		{"card+pin without keypad", minimal + "[access]\ncard = \"card+pin\"\n", []string{"access.card", "no reader takes PINs"}},
		{"misspelt key", minimal + "[face]\nthreshhold = 0.4\n", []string{"face.threshhold: unknown setting"}},
		{"dlib's usual threshold", minimal + "[face]\nenabled = true\nthreshold = 0.6\n[camera]\ndevice = \"0\"\n", []string{"face.threshold: 0.6 lets strangers in"}},
		{"face without notice", minimal + "[face]\nenabled = true\n[camera]\ndevice = \"0\"\n", []string{"privacy.controller: is empty", "privacy.notice_version: is empty"}},
		{"network camera", minimal + "[face]\nenabled = true\n[camera]\ndevice = \"rtsp://10.0.0.9/live\"\n", []string{"camera.device", "never opens a network stream"}},
		{"no key", strings.Replace(minimal, `key_file = "/etc/gated/kek"`, "", 1), []string{"device.key_file: no key is configured"}},
		{"key in data dir", strings.Replace(minimal, `key_file = "/etc/gated/kek"`, `key_file = "/var/lib/gated/kek"`, 1), []string{"device.key_file: is inside data_dir"}},
		{"minimal file is valid", minimal, nil},
		{"wrong version", strings.Replace(minimal, "version = 1", "version = 2", 1), []string{"version: is 2"}},
		{"bad duration", minimal + "[access]\npin_timeout = \"soon\"\n", []string{`"soon" is not a duration`}},
		// Red team: durations that overflowed or meant nothing.
		{"NaN days", minimal + "[privacy]\nretention = \"NaNd\"\n", []string{`"NaNd" is not a duration`}},
		{"days overflow", minimal + "[privacy]\nretention = \"1e10d\"\n", []string{`"1e10d" is not a duration`}},
		{"no face cooldown", minimal + "[face]\nenabled = true\ncooldown = \"1ns\"\n[camera]\ndevice = \"0\"\n", []string{"face.cooldown"}},
		{"a cooldown of years", minimal + "[face]\nenabled = true\ncooldown = \"87600h\"\n[camera]\ndevice = \"0\"\n", []string{"face.cooldown"}},
		{"a challenge time of a minute", minimal + "[face]\nenabled = true\nchallenge_time = \"1m\"\n[camera]\ndevice = \"0\"\n", []string{"face.challenge_time"}},
		{"a challenge without landmarks", minimal + "[face]\nenabled = true\ndetector = \"hog\"\nchallenge = true\n[camera]\ndevice = \"0\"\n", []string{"face.challenge", "yunet"}},
		{"PIN timeout too short", minimal + "[access]\npin_timeout = \"1s\"\n", []string{"access.pin_timeout"}},
		{"lockout never starts", minimal + "[access]\nlockout_free = 1000000000\n", []string{"access.lockout"}},
		{"lockout of a nanosecond", minimal + "[access]\nlockout_base = \"1ns\"\nlockout_max = \"1ns\"\n", []string{"access.lockout"}},
		{"face data kept a century", minimal + "[privacy]\nretention = \"36500d\"\n", []string{"privacy.retention"}},
		{"bad relay mode", strings.Replace(minimal, `type = "lcus"`, "type = \"lcus\"\nmode = \"open\"", 1), []string{"relay.mode"}},
		{"no relay", strings.Replace(minimal, "[relay]\ntype = \"lcus\"\ndevice = \"/dev/ttyUSB1\"\n", "", 1), []string{"relay.type: no relay is configured"}},
		{"TOML syntax", "version = 1\n[device\n", []string{"gated.toml: line ", "table name"}},
		{"kiosk on a network address", minimal + "[face]\nenabled = true\n[camera]\ndevice = \"0\"\n[privacy]\ncontroller = \"a\"\ncontact = \"b\"\nnotice_version = \"1\"\n[kiosk]\nenabled = true\nlisten = \"0.0.0.0:8088\"\n", []string{`kiosk.listen: "0.0.0.0:8088" is not a loopback address`}},
		{"kiosk without face", minimal + "[kiosk]\nenabled = true\n", []string{"kiosk.enabled: the kiosk enrolls faces but face is off"}},
		{"relative holidays", minimal + "[privacy]\nholidays = \"holidays.txt\"\n", []string{"privacy.holidays"}},
		{"bad time zone", minimal + "[privacy]\ntime_zone = \"Mars/Olympus\"\n", []string{"privacy.time_zone"}},
		{"keypad too short for a PIN", minimal + "[[reader]]\nname = \"kp\"\ntype = \"keypad\"\ndevice = \"/dev/ttyUSB3\"\nfor = \"front\"\nmax_digits = 3\n", []string{"reader[1].max_digits: 3", "use 4 to 32"}},
		{"duplicate reader", minimal + "[[reader]]\nname = \"front\"\ntype = \"wiegand\"\ndevice = \"/dev/ttyUSB3\"\n", []string{`reader[1].name: "front" is used twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("/etc/gated/gated.toml", []byte(tt.doc))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse = %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := config.Parse("x.toml", []byte("version = 1\n[face]\nmargin = -1\nenabled = true\nthreshold = 5\n"))
	for _, w := range []string{"face.threshold", "face.margin", "device.key_file", "reader:", "relay.type", "camera.device"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s: %v", w, err)
		}
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gated.toml")
	os.WriteFile(p, []byte(minimal), 0o600)
	c, err := config.Load(p)
	if err != nil || c.Path() != p {
		t.Fatalf("Load = %v, %v", c, err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(minimal)
	f.Add("version = 1\n[[reader]]\nname = \"a\"\n")
	f.Add("[relay]\npulse = \"3d\"\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := config.Parse("fuzz.toml", []byte(doc))
		if err != nil {
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		// Whatever parses keeps the rules.
		cards := 0
		for _, r := range c.Readers {
			if r.Type != "keypad" {
				cards++
			}
		}
		if cards == 0 || (c.Access.Card != "card" && c.Access.Card != "card+pin") {
			t.Fatalf("accepted a configuration without card access: %+v", c)
		}
	})
}

// TestKioskKeypadTakesTheNumberAndAPIN: the resident screen's keypads must
// take its number (3 digits) and a PIN of 4 in one entry, and PINs are
// then 3 digits shorter than the keypad's limit (red team round 4: a
// 6-digit keypad could never confirm, and a 10-digit PIN never fit).
func TestKioskKeypadTakesTheNumberAndAPIN(t *testing.T) {
	kiosk := func(maxDigits int) string {
		return minimal + fmt.Sprintf(`[[reader]]
name = "front-keypad"
type = "keypad"
device = "/dev/ttyUSB2"
for = "front"
max_digits = %d
[face]
enabled = true
[camera]
device = "0"
[privacy]
controller = "a"
contact = "b"
notice_version = "1"
[kiosk]
enabled = true
reader = "front"
`, maxDigits)
	}
	_, err := config.Parse("x.toml", []byte(kiosk(6)))
	if err == nil || !strings.Contains(err.Error(), "readers[1].max_digits") || !strings.Contains(err.Error(), "use 7 or more") {
		t.Errorf("a 6-digit keypad at the screen: %v", err)
	}
	c, err := config.Parse("x.toml", []byte(kiosk(10)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MaxPIN(); got != 7 {
		t.Errorf("MaxPIN with a 10-digit keypad at the screen = %d, want 7", got)
	}
	c.Kiosk.Enabled = false
	if got := c.MaxPIN(); got != 10 {
		t.Errorf("MaxPIN without the screen = %d, want 10", got)
	}
}

// TestUnguardedByChoice (red team): pad_max_apcer = 1 with no PAD is
// allowed, and said.
func TestUnguardedByChoice(t *testing.T) {
	if w := (config.Face{PADMaxAPCER: 1}).UnguardedByChoice(); !strings.Contains(w, "a photo or a phone screen of a resident can open the door") {
		t.Errorf("UnguardedByChoice(no PAD, 1) = %q", w)
	}
	if w := (config.Face{PADMaxAPCER: 0.05}).UnguardedByChoice(); w != "" {
		t.Errorf("UnguardedByChoice(default) = %q, want none (face is off: Unguarded says why)", w)
	}
}

// TestNIRCamera: [camera.nir] is off by default, and a pair that cannot
// work is refused naming the field and the fix.
func TestNIRCamera(t *testing.T) {
	face := minimal + "[face]\nenabled = true\n[privacy]\ncontroller = \"a\"\ncontact = \"b\"\nnotice_version = \"1\"\n"
	c, err := config.Parse("/etc/gated/gated.toml", []byte(face+"[camera]\ndevice = \"0\"\n"))
	if err != nil || c.Camera.NIR.On() {
		t.Fatalf("Parse without [camera.nir] = %v, NIR on %v; want valid, off", err, err == nil && c.Camera.NIR.On())
	}
	ok := []string{
		"[camera]\ndevice = \"/dev/gate-camera\"\n[camera.nir]\ndevice = \"/dev/gate-nir\"\n",
		"[camera]\nfiles = \"/srv/frames\"\n[camera.nir]\nfiles = \"/srv/frames\"\n",
	}
	for _, doc := range ok {
		c, err := config.Parse("/etc/gated/gated.toml", []byte(face+doc))
		if err != nil || !c.Camera.NIR.On() || c.Camera.NIR.MaxSkew.Duration != 40*time.Millisecond {
			t.Errorf("Parse(%q) = %v; want valid, NIR on, max_skew 40ms", doc, err)
		}
	}
	bad := []struct{ doc, want string }{
		{"[camera]\ndevice = \"0\"\n[camera.nir]\ndevice = \"1\"\nfiles = \"/srv/nir\"\n", "camera.nir.files: both"},
		{"[camera]\nfiles = \"/srv/frames\"\n[camera.nir]\ndevice = \"1\"\n", "camera.nir.device: an NIR camera with a simulated colour camera"},
		{"[camera]\ndevice = \"0\"\n[camera.nir]\ndevice = \"rtsp://10.0.0.9/nir\"\n", "camera.nir.device: \"rtsp://10.0.0.9/nir\" is not a local V4L2 device"},
		{"[camera]\ndevice = \"/dev/video0\"\n[camera.nir]\ndevice = \"/dev/video0\"\n", "is also camera.device"},
		{"[camera]\ndevice = \"0\"\n[camera.nir]\nfiles = \"/srv/nir\"\n", "camera.nir.files: a simulated NIR camera with a real colour camera"},
		{"[camera]\nfiles = \"/srv/frames\"\n[camera.nir]\nfiles = \"nir\"\n", "camera.nir.files: \"nir\" is not an absolute path"},
		{"[camera]\ndevice = \"0\"\n[camera.nir]\ndevice = \"1\"\nfps = 500\n", "camera.nir: fps, width or height out of range"},
		{"[camera]\ndevice = \"0\"\n[camera.nir]\ndevice = \"1\"\nmax_skew = \"2s\"\n", "camera.nir.max_skew"},
		{"[camera]\ndevice = \"0\"\n[camera.nir]\ndevice = \"1\"\nexposure = 3\n", "camera.nir.exposure: unknown setting"},
	}
	for _, b := range bad {
		_, err := config.Parse("/etc/gated/gated.toml", []byte(face+b.doc))
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid saying %q", b.doc, err, b.want)
		}
	}
	_, err = config.Parse("/etc/gated/gated.toml", []byte(minimal+"[camera.nir]\ndevice = \"1\"\n"))
	if err == nil || !strings.Contains(err.Error(), "camera.nir: an NIR camera is set but face is off") {
		t.Errorf("NIR with face off: Parse = %v, want refused", err)
	}
}

// TestPADFramesRaised (red team): face.frames = 1 with presentation-attack
// detection on (face.liveness, or an NIR camera alone) is raised to 2, not
// refused: a config valid before the rule must not stop card and PIN after
// an upgrade, and PAD must never decide on one lucky frame.
func TestPADFramesRaised(t *testing.T) {
	privacy := "[privacy]\ncontroller = \"a\"\ncontact = \"b\"\nnotice_version = \"1\"\n"
	for _, tt := range []struct {
		name, face, camera string
		want               int
		raised             bool
	}{
		{"passive layer", "liveness = \"faceplugin-fr-liveness-0.0.1\"\nframes = 1\n", "device = \"0\"\n", 2, true},
		{"NIR camera only", "frames = 1\n", "files = \"/var/lib/gated/camera\"\n[camera.nir]\nfiles = \"/var/lib/gated/nir\"\n", 2, true},
		{"no PAD", "frames = 1\n", "device = \"0\"\n", 1, false},
		{"PAD with 3", "liveness = \"faceplugin-fr-liveness-0.0.1\"\nframes = 3\n", "device = \"0\"\n", 3, false},
	} {
		doc := minimal + "[face]\nenabled = true\n" + tt.face + "[camera]\n" + tt.camera + privacy
		c, err := config.Parse("gated.toml", []byte(doc))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if c.Face.Frames != tt.want || c.Face.FramesRaised != tt.raised {
			t.Errorf("%s: frames %d raised %v, want %d %v", tt.name, c.Face.Frames, c.Face.FramesRaised, tt.want, tt.raised)
		}
	}
}
