// Package config reads and checks gated's configuration file: one TOML
// file with a version, decoded strictly (an unknown or misspelt key is an
// error), every error naming the file, the field and the fix.
//
// It owns the rules no configuration may break: a gate always has a card
// reader (face is never the only way in), writes only in its data
// directory, and opens a camera only on this device. It reads the file and
// nothing else; it opens no device.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/models"
)

// Version is the configuration format this code reads.
const Version = 1

// Config is gated's configuration. See configs/gated.toml for every field,
// with comments.
type Config struct {
	Version int      `toml:"version"`
	Device  Device   `toml:"device"`
	Control Control  `toml:"control"`
	Face    Face     `toml:"face"`
	Camera  Camera   `toml:"camera"`
	Access  Access   `toml:"access"`
	Readers []Reader `toml:"reader"`
	Relay   Relay    `toml:"relay"`
	Door    Door     `toml:"door"`
	Privacy Privacy  `toml:"privacy"`
	Kiosk   Kiosk    `toml:"kiosk"`
	Store   Store    `toml:"store"`
	path    string   // the file it came from

	Schedule Schedule `toml:"schedule"` // schedule.go
	Visitor  Visitor  `toml:"visitor"`  // visitor.go
	Compound Compound `toml:"compound"` // compound.go
}

// Device says where gated keeps its state and keys.
type Device struct {
	Name          string `toml:"name"`
	DataDir       string `toml:"data_dir"`
	KeyFile       string `toml:"key_file"`
	KeyCredential string `toml:"key_credential"`
	ModelsDir     string `toml:"models_dir"`
}

// Control is the staff socket. Members of StaffGroup may connect (the
// socket belongs to that group) and read; of WriteGroup, also change
// residents, cards, PINs and faces; of AdminGroup, also back up, restore
// and rotate the key. Root and the daemon's own user are admins. An empty
// group gives nobody that role.
type Control struct {
	Socket     string `toml:"socket"`
	StaffGroup string `toml:"staff_group"`
	WriteGroup string `toml:"write_group"` // default: staff_group
	AdminGroup string `toml:"admin_group"`
}

// Store sets the daemon's own backups of the store and the retries of
// destructions that could not finish.
type Store struct {
	// BackupEvery is how often a verified backup is taken into
	// data_dir/backups (and at start when the newest is older).
	BackupEvery Duration `toml:"backup_every"`
	// BackupKeep is how many scheduled backups are kept.
	BackupKeep int `toml:"backup_keep"`
	// BackupAfterChange: this long after staff last changed residents or
	// credentials, a backup is taken, so that a damaged store is served
	// from a backup with every revocation in it.
	BackupAfterChange Duration `toml:"backup_after_change"`
	// ChangeBackupKeep is how many of those are kept, apart from the
	// scheduled ones: a burst of changes never pushes the week out.
	ChangeBackupKeep int `toml:"change_backup_keep"`
	// RetryEvery is how often a destruction that could not rewrite every
	// file (a full disk) is tried again.
	RetryEvery Duration `toml:"retry_every"`
}

// Face sets face recognition; card and PIN do not depend on it.
type Face struct {
	Enabled bool `toml:"enabled"`
	// Model names the descriptor model (FaceModels). Templates remember
	// their model; switching means enrolling again.
	Model string `toml:"model"`
	// CustomSHA256 is the SHA-256 the user gives for a dlib-custom model.
	CustomSHA256 string `toml:"custom_sha256"`
	// Calibrate lets the gate choose its mode (identify, verify, off) and
	// its threshold and margin from its own gallery for Target; false keeps
	// Threshold and Margin (and still refuses identification when the
	// gallery shows the target is missed).
	Calibrate bool    `toml:"calibrate"`
	Target    float64 `toml:"target"`
	Threshold float64 `toml:"threshold"`
	Margin    float64 `toml:"margin"`
	Frames    int     `toml:"frames"`
	// FramesRaised is set when Parse raised Frames to 2 because
	// presentation-attack detection (face.liveness or an NIR camera) is on:
	// PAD decides on the fused frames of one face, never on one lucky
	// frame. A warning, not a refusal: a config valid before this rule must
	// not stop card and PIN after an upgrade.
	FramesRaised bool     `toml:"-"`
	Cooldown     Duration `toml:"cooldown"`
	// Detector finds faces: "yunet" (OpenCV Zoo's YuNet network, the
	// default where its model is installed), "hog" or "cnn" (dlib's), or
	// "auto" (yunet where installed, else hog).
	Detector string `toml:"detector"`
	MaxSide  int    `toml:"max_side"`
	// Liveness names the presentation-attack detection run on every face
	// that would open the door: "" (none) or liveness.Model (the passive
	// network with the screen and print cues; docs/liveness.md).
	Liveness string `toml:"liveness"`
	// PADMaxAPCER is the largest share of presentation attacks (photos,
	// screens) the enabled PAD may have let through, as measured, for a
	// face to identify alone or to replace a PIN (default 0.05). Without
	// such a layer face may at most confirm a card in "card" mode, which
	// adds nothing, so it is off.
	PADMaxAPCER float64 `toml:"pad_max_apcer"`
	// Challenge asks a face the gate would let in by itself (identify
	// mode) to turn its head to its left or right, at random, before the
	// door opens (docs/liveness.md, "Head-turn challenge"). It needs the
	// yunet detector's landmarks. It does not lower the APCER the policy
	// counts: it is measured on views of photos only.
	Challenge bool `toml:"challenge"`
	// ChallengeTime is how long a face asked to turn its head has to do
	// it, at the door and at the kiosk (default 5 s; 2 s to 20 s): longer
	// on a slow gate that sees few frames a second.
	ChallengeTime Duration `toml:"challenge_time"`
}

// Camera is the V4L2 camera, or a folder/video standing in for it.
type Camera struct {
	Device string  `toml:"device"`
	Files  string  `toml:"files"`
	Width  int     `toml:"width"`
	Height int     `toml:"height"`
	FPS    float64 `toml:"fps"`
	Follow bool    `toml:"follow"`
	Loop   bool    `toml:"loop"`
	Repeat int     `toml:"repeat"`
	// Replay shows, at start, the photos already in a camera.files folder;
	// by default only photos that arrive after start are shown.
	Replay bool `toml:"replay"`
	// NIR is the optional near-infrared camera beside it ([camera.nir]).
	NIR NIRCamera `toml:"nir"`
}

// NIRCamera is the near-infrared camera of a colour+NIR pair (with an
// 850 nm illuminator): a face counts only if the NIR frame of the same
// moment shows it where the registration puts it (internal/nir;
// docs/liveness.md). Off unless Device or Files is set.
type NIRCamera struct {
	// Device is the NIR camera, a second local V4L2 device.
	Device string `toml:"device"`
	// Files is a folder standing in for it: the partner of the colour
	// file x.jpg of camera.files is x.nir.jpg (or .jpeg, .png) here; it
	// may be camera.files itself.
	Files  string  `toml:"files"`
	Width  int     `toml:"width"`
	Height int     `toml:"height"`
	FPS    float64 `toml:"fps"`
	// MaxSkew is the largest time between the colour and the NIR frame of
	// one pair (default 40ms); a pair further apart is dropped.
	MaxSkew Duration `toml:"max_skew"`
}

// On reports whether an NIR camera is configured.
func (n NIRCamera) On() bool { return n.Device != "" || n.Files != "" }

// Access sets how cards and PINs open the door.
type Access struct {
	Card        string   `toml:"card"` // "card" or "card+pin"
	PINTimeout  Duration `toml:"pin_timeout"`
	LockoutFree int      `toml:"lockout_free"`
	LockoutBase Duration `toml:"lockout_base"`
	LockoutMax  Duration `toml:"lockout_max"`
	// LockoutForget is the quiet time after which a card's wrong PINs are
	// forgotten.
	LockoutForget Duration `toml:"lockout_forget"`
}

// Reader is one card reader or keypad.
type Reader struct {
	Name   string `toml:"name"`
	Type   string `toml:"type"` // ascii, wiegand, keypad, osdp, qr
	Device string `toml:"device"`
	Baud   int    `toml:"baud"`
	// ascii and wiegand
	LineEnding string `toml:"line_ending"`
	Prefix     string `toml:"prefix"`
	Suffix     string `toml:"suffix"`
	Number     string `toml:"number"` // decimal or hex (ascii)
	Bits       int    `toml:"bits"`   // wiegand: 26, 34 or 0 for both
	// keypad (and qr: the door's card reader, for passes bound to it)
	For       string   `toml:"for"` // the card reader this keypad's PINs belong to
	InterKey  Duration `toml:"inter_key"`
	MaxDigits int      `toml:"max_digits"`
	// osdp
	Address int    `toml:"address"`
	Secure  string `toml:"secure"` // paired (default), install, insecure
}

// KioskCodeDigits is the length of the number the resident screen shows
// at a deciding step, typed in one entry before the PIN.
const KioskCodeDigits = 3

// MaxPIN is the longest PIN every keypad of the gate takes (max_digits,
// 12 when unset): a longer one could never be typed. With the resident
// screen on, its keypads must also take the screen's number before the
// PIN in one entry, so a PIN there is KioskCodeDigits shorter.
func (c *Config) MaxPIN() int {
	longest := 32
	for _, r := range c.Readers {
		if r.Type != "keypad" && r.Type != "osdp" {
			continue
		}
		n := r.maxDigits()
		if c.kioskKeypad(r) {
			n -= KioskCodeDigits
		}
		longest = min(longest, n)
	}
	return longest
}

func (r Reader) maxDigits() int {
	if r.MaxDigits == 0 {
		return 12
	}
	return r.MaxDigits
}

// kioskKeypad reports whether r is a keypad of the resident screen's
// reader (an osdp reader's own keypad included).
func (c *Config) kioskKeypad(r Reader) bool {
	if !c.Kiosk.Enabled || c.Kiosk.Reader == "" {
		return false
	}
	return (r.Type == "keypad" && r.For == c.Kiosk.Reader) || (r.Type == "osdp" && r.Name == c.Kiosk.Reader)
}

// Relay is the door lock output.
type Relay struct {
	Type      string   `toml:"type"` // lcus, bytes, gpio
	Device    string   `toml:"device"`
	Baud      int      `toml:"baud"`
	Channel   int      `toml:"channel"`
	On        string   `toml:"on"`  // bytes: hex command that energizes the relay
	Off       string   `toml:"off"` // bytes: hex command that releases it
	Chip      string   `toml:"chip"`
	Line      int      `toml:"line"`
	ActiveLow bool     `toml:"active_low"`
	Mode      string   `toml:"mode"` // fail-secure (default) or fail-safe
	Pulse     Duration `toml:"pulse"`
	Contact   *Contact `toml:"contact"`
}

// Contact is an optional door-contact input on a GPIO line.
type Contact struct {
	Chip      string `toml:"chip"`
	Line      int    `toml:"line"`
	ActiveLow bool   `toml:"active_low"` // the contact pulls the line low when the door is closed
	PullUp    bool   `toml:"pull_up"`    // internal pull-up, for contacts switching to ground
}

// Privacy holds what residents are told and how long face data is kept.
type Privacy struct {
	Controller    string   `toml:"controller"` // who processes the data
	Contact       string   `toml:"contact"`    // how to reach them
	NoticeVersion string   `toml:"notice_version"`
	Retention     Duration `toml:"retention"`
	// Holidays is a calendar file of public holidays and make-up working
	// days, for counting the 15 working days a deletion may take; without
	// it, Monday to Friday are working days.
	Holidays string `toml:"holidays"`
	// TimeZone of the calendar (an IANA name); the system's when empty.
	TimeZone string `toml:"time_zone"`
}

// Kiosk is the resident screen at the gate: served to a browser on the
// device only, over loopback inside the daemon's own network namespace.
type Kiosk struct {
	Enabled bool   `toml:"enabled"`
	Listen  string `toml:"listen"` // 127.0.0.1:port or [::1]:port
	// Reader is the card reader at the screen (with the keypads bound to
	// it): the only source of the screen's flows. Every other reader's
	// events always go to the gate.
	Reader string `toml:"reader"`
	// EnrollFrames good frames make an enrollment at the gate.
	EnrollFrames int `toml:"enroll_frames"`
	// Timeout ends an unfinished step (default 60 s).
	Timeout Duration `toml:"timeout"`
}

// Duration is a time.Duration written as "3s", "20m", "72h" or "365d".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration, allowing a "d" (days) suffix.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days float64
		// Over about 100 years (and NaN, Inf) would overflow time.Duration.
		if _, err := fmt.Sscanf(n, "%g", &days); err != nil || !(days >= 0 && days <= 36500) {
			return fmt.Errorf("%q is not a duration such as \"365d\" (0 to 36500 days)", s)
		}
		d.Duration = time.Duration(days * 24 * float64(time.Hour))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"3s\", \"20m\" or \"365d\"", s)
	}
	d.Duration = v
	return nil
}

// Unguarded says why the configured presentation-attack detection is not
// good enough for face to identify alone or replace a PIN ("" when it is):
// its measured APCER (1 with none; liveness.APCER) over pad_max_apcer.
func (f Face) Unguarded() string {
	apcer := liveness.APCER(f.Liveness)
	switch {
	case apcer <= f.PADMaxAPCER:
		return ""
	case f.Liveness == "":
		return fmt.Sprintf("no presentation-attack detection is enabled (face.liveness), so a photo or a phone screen could stand in for a resident's face; "+
			"face.pad_max_apcer is %.2g (set it to 1 only to accept that)", f.PADMaxAPCER)
	default:
		return fmt.Sprintf("the presentation-attack detection enabled (face.liveness = %q) let through %.1f%% of photo and screen attacks as measured (docs/liveness.md), over face.pad_max_apcer %.1f%%",
			f.Liveness, 100*apcer, 100*f.PADMaxAPCER)
	}
}

// UnguardedByChoice warns of a configuration that accepts presentation
// attacks the measured layers would refuse: face.pad_max_apcer over the 5%
// the issue sets, so that a photo or a screen may open the door more
// often than that ("" otherwise).
func (f Face) UnguardedByChoice() string {
	if f.Unguarded() != "" || f.PADMaxAPCER <= 0.05 {
		return ""
	}
	if f.Liveness == "" {
		return fmt.Sprintf("face.pad_max_apcer = %.2g with no presentation-attack detection: a photo or a phone screen of a resident can open the door", f.PADMaxAPCER)
	}
	return fmt.Sprintf("face.pad_max_apcer = %.2g accepts the enabled detection's measured %.1f%% of photo and screen attacks let through", f.PADMaxAPCER, 100*liveness.APCER(f.Liveness))
}

// MarshalText writes the duration back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// FaceModels are the descriptor models face.model may name, the default
// first: the gate's models of the one registry (models.FaceModels).
var FaceModels = models.FaceModelNames(models.Gate)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Load reads, decodes and checks the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: %w (start from configs/gated.toml, or /usr/share/doc/gated/gated.toml from the package, and check it with gated check)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and checks a configuration; path names it in errors.
func Parse(path string, b []byte) (*Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: %s: line %d: %s", ErrInvalid, path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	c.path = path
	if !md.IsDefined("control", "write_group") {
		c.Control.WriteGroup = c.Control.StaffGroup
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fieldErr(path, k.String(), "unknown setting", "check its spelling against configs/gated.toml"))
	}
	errs = append(errs, c.check()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	if f := &c.Face; f.Enabled && f.Frames < 2 && (f.Liveness != "" || c.Camera.NIR.On()) {
		f.Frames, f.FramesRaised = 2, true
	}
	return c, nil
}

// Path is the file the configuration was read from.
func (c *Config) Path() string { return c.path }

// Default returns the values used for every setting a file leaves out.
func Default() *Config {
	return &Config{
		Device: Device{
			Name:      "gate",
			DataDir:   "/var/lib/gated",
			ModelsDir: "/usr/share/gated/models",
		},
		Control: Control{Socket: "/run/gated/gated.sock", StaffGroup: "gated-staff", WriteGroup: "gated-staff"},
		Face: Face{
			Model: models.Dlib, Calibrate: true, Target: 1e-4,
			Threshold: 0.40, Margin: 0.05, Frames: 3,
			Cooldown: Duration{5 * time.Second}, Detector: "auto", MaxSide: 1280, PADMaxAPCER: 0.05, ChallengeTime: Duration{5 * time.Second},
		},
		Camera: Camera{Width: 640, Height: 480, FPS: 10, Repeat: 1, NIR: NIRCamera{Width: 640, Height: 480, MaxSkew: Duration{40 * time.Millisecond}}},
		Access: Access{
			Card: "card", PINTimeout: Duration{20 * time.Second},
			LockoutFree: 3, LockoutBase: Duration{30 * time.Second}, LockoutMax: Duration{15 * time.Minute},
			LockoutForget: Duration{24 * time.Hour},
		},
		Relay:   Relay{Baud: 9600, Channel: 1, Mode: "fail-secure", Pulse: Duration{3 * time.Second}},
		Privacy: Privacy{Retention: Duration{365 * 24 * time.Hour}},
		Kiosk:   Kiosk{Listen: "127.0.0.1:8088", EnrollFrames: 3, Timeout: Duration{60 * time.Second}},
		Store:   Store{BackupEvery: Duration{24 * time.Hour}, BackupKeep: 7, BackupAfterChange: Duration{30 * time.Second}, ChangeBackupKeep: 3, RetryEvery: Duration{10 * time.Minute}},
	}
}

func fieldErr(path, field, problem, fix string) error {
	return fmt.Errorf("%s: %s: %s; %s", path, field, problem, fix)
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	groupRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
)

// check applies every rule and returns all violations.
func (c *Config) check() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }

	if c.Version != Version {
		bad("version", fmt.Sprintf("is %d", c.Version), fmt.Sprintf("this gated reads version = %d", Version))
	}
	// Device and paths.
	if !nameRE.MatchString(c.Device.Name) {
		bad("device.name", fmt.Sprintf("%q is not a short name", c.Device.Name), "use lower-case letters, digits, - and _ (up to 32)")
	}
	if !filepath.IsAbs(c.Device.DataDir) || filepath.Clean(c.Device.DataDir) == "/" {
		bad("device.data_dir", fmt.Sprintf("%q", c.Device.DataDir), "give an absolute directory of its own, such as /var/lib/gated: gated writes nowhere else")
	}
	switch {
	case c.Device.KeyFile == "" && c.Device.KeyCredential == "":
		bad("device.key_file", "no key is configured", "set key_file (a 0600 file made by gated keygen) or key_credential (systemd LoadCredential=)")
	case c.Device.KeyFile != "" && c.Device.KeyCredential != "":
		bad("device.key_credential", "both key_file and key_credential are set", "keep one")
	case c.Device.KeyFile != "" && !filepath.IsAbs(c.Device.KeyFile):
		bad("device.key_file", fmt.Sprintf("%q is not an absolute path", c.Device.KeyFile), "write it as /etc/gated/kek")
	case c.Device.KeyCredential != "" && strings.ContainsAny(c.Device.KeyCredential, "/\x00"):
		bad("device.key_credential", fmt.Sprintf("%q", c.Device.KeyCredential), "name the credential, as in LoadCredential=kek:/etc/gated/kek, without a path")
	}
	if c.Device.KeyFile != "" && within(c.Device.KeyFile, c.Device.DataDir) {
		bad("device.key_file", "is inside data_dir", "keep the key apart from the data it protects (e.g. /etc/gated/kek), so a copy of data_dir is useless")
	}
	if c.Face.Enabled && !filepath.IsAbs(c.Device.ModelsDir) {
		bad("device.models_dir", fmt.Sprintf("%q is not an absolute path", c.Device.ModelsDir), "point it at the verified models (make setup puts them in ~/.cache/gated/models)")
	}
	if !filepath.IsAbs(c.Control.Socket) {
		bad("control.socket", fmt.Sprintf("%q is not an absolute path", c.Control.Socket), "use /run/gated/gated.sock")
	}

	// Face.
	f := c.Face
	if f.Enabled {
		if !(f.Threshold > 0 && f.Threshold < 2) {
			bad("face.threshold", fmt.Sprintf("%v is not a distance between 0 and 2", f.Threshold), "use the value gated calibrate suggests (typically 0.35-0.45 for dlib)")
		}
		if f.Threshold >= 0.6 && f.Model == models.Dlib {
			bad("face.threshold", fmt.Sprintf("%v lets strangers in", f.Threshold), "dlib's usual 0.6 matches 28-93% of different East Asian people (docs/accuracy.md): use 0.45 or less")
		}
		if f.Liveness != "" && f.Liveness != liveness.Model {
			bad("face.liveness", fmt.Sprintf("%q", f.Liveness), fmt.Sprintf("use %q (fetched with scripts/fetch-face-model.sh liveness) or leave it empty", liveness.Model))
		}
		if !(f.PADMaxAPCER > 0 && f.PADMaxAPCER <= 1) {
			bad("face.pad_max_apcer", fmt.Sprintf("%v", f.PADMaxAPCER), "the largest share of photo and screen attacks the enabled PAD may let through, between 0 and 1 (default 0.05)")
		}
		if !slices.Contains(FaceModels, f.Model) {
			bad("face.model", fmt.Sprintf("%q", f.Model), fmt.Sprintf("use one of %s (docs/models.md)", strings.Join(FaceModels, ", ")))
		}
		if f.Model == models.DlibCustom && len(f.CustomSHA256) != 64 {
			bad("face.custom_sha256", "a dlib-custom model needs the SHA-256 its supplier gave", "set custom_sha256 to 64 hex digits")
		}
		if !(f.Target > 0 && f.Target < 0.1) {
			bad("face.target", fmt.Sprintf("%v", f.Target), "the largest acceptable chance that a stranger is let in per attempt, e.g. 1e-4 (one in 10,000)")
		}
		if !(f.Margin >= 0 && f.Margin < 1) || math.IsNaN(f.Margin) {
			bad("face.margin", fmt.Sprintf("%v", f.Margin), "use a distance between 0 and 1 (typically 0.02-0.05)")
		}
		if f.Cooldown.Duration < 500*time.Millisecond || f.Cooldown.Duration > 5*time.Minute {
			bad("face.cooldown", f.Cooldown.String(), `use 500ms to 5m, e.g. "5s": how long a resident's face does not open the door again after it did`)
		}
		if f.Frames < 1 || f.Frames > 30 {
			bad("face.frames", fmt.Sprintf("%d", f.Frames), "use 1-30 frames fused per decision (3 is typical)")
		}
		if !slices.Contains([]string{"auto", "yunet", "hog", "cnn"}, f.Detector) {
			bad("face.detector", fmt.Sprintf("%q", f.Detector), `use "auto" (yunet where its model is installed, else hog), "yunet" (finds small and turned faces, fast), "hog" (dlib's, fast, misses faces under about 50 px) or "cnn" (dlib's, slow)`)
		}
		if f.ChallengeTime.Duration < 2*time.Second || f.ChallengeTime.Duration > 20*time.Second {
			bad("face.challenge_time", f.ChallengeTime.String(), `use 2s to 20s, e.g. "5s": how long a face asked to turn its head has to do it`)
		}
		if f.Challenge && (f.Detector == "hog" || f.Detector == "cnn") {
			bad("face.challenge", "true", fmt.Sprintf(`the head-turn challenge needs the yunet detector's landmarks (face.detector = %q has no mouth corners): set face.detector = "yunet" or "auto"`, f.Detector))
		}
		if f.MaxSide < 160 || f.MaxSide > 4096 {
			bad("face.max_side", fmt.Sprintf("%d", f.MaxSide), "use 160-4096 pixels")
		}
		cam := c.Camera
		switch {
		case cam.Device == "" && cam.Files == "":
			bad("camera.device", "face is enabled but no camera is set", "set camera.device (e.g. /dev/gate-camera or 0), or face.enabled = false")
		case cam.Device != "" && cam.Files != "":
			bad("camera.files", "both camera.device and camera.files are set", "use files only to simulate a camera")
		case cam.Device != "" && !localCamera(cam.Device):
			bad("camera.device", fmt.Sprintf("%q is not a local V4L2 device", cam.Device), "use a device index such as 0 or a path under /dev: gated never opens a network stream")
		case cam.Files != "" && !filepath.IsAbs(cam.Files):
			bad("camera.files", fmt.Sprintf("%q is not an absolute path", cam.Files), "give the folder or video file by its absolute path")
		}
		if !(cam.FPS >= 0 && cam.FPS <= 60) || cam.Repeat < 1 || cam.Width < 0 || cam.Height < 0 {
			bad("camera", "fps, width, height or repeat out of range", "use fps 0-60, repeat 1 or more, non-negative sizes")
		}
		errs = append(errs, c.checkNIR()...)
	} else if c.Camera.NIR.On() {
		bad("camera.nir", "an NIR camera is set but face is off", "set face.enabled = true, or remove [camera.nir]")
	}

	// Access and readers: face is never the only way in.
	switch c.Access.Card {
	case "card", "card+pin":
	case "", "none", "off", "face":
		bad("access.card", fmt.Sprintf("%q would make face the only way in", c.Access.Card), `use "card" or "card+pin": card and PIN are always offered`)
	default:
		bad("access.card", fmt.Sprintf("%q", c.Access.Card), `use "card" or "card+pin"`)
	}
	if a := c.Access; a.LockoutFree < 1 || a.LockoutFree > 10 || a.LockoutBase.Duration < time.Second || a.LockoutMax.Duration < time.Minute || a.LockoutMax.Duration < a.LockoutBase.Duration {
		bad("access.lockout", "lockout_free, lockout_base or lockout_max out of range",
			"use lockout_free 1 to 10 wrong PINs, lockout_base at least 1s and lockout_max at least 1m (and not under lockout_base): guessing PINs must stay slow")
	}
	if p := c.Access.PINTimeout.Duration; p < 5*time.Second || p > 5*time.Minute {
		bad("access.pin_timeout", c.Access.PINTimeout.String(), `use 5s to 5m, e.g. "20s": how long a card waits for its PIN`)
	}
	if c.Access.LockoutForget.Duration < c.Access.LockoutMax.Duration {
		bad("access.lockout_forget", c.Access.LockoutForget.String(), "forget wrong PINs no sooner than lockout_max (default 24h)")
	}
	if c.Store.BackupEvery.Duration < time.Hour || c.Store.BackupEvery.Duration > 31*24*time.Hour {
		bad("store.backup_every", c.Store.BackupEvery.String(), `use 1h to 31d, e.g. "24h"`)
	}
	if c.Store.BackupAfterChange.Duration < time.Second || c.Store.BackupAfterChange.Duration > time.Hour {
		bad("store.backup_after_change", c.Store.BackupAfterChange.String(), `use 1s to 1h, e.g. "30s"`)
	}
	if c.Store.BackupKeep < 1 || c.Store.BackupKeep > 100 {
		bad("store.backup_keep", fmt.Sprintf("%d", c.Store.BackupKeep), "keep 1 to 100 backups (7 is typical)")
	}
	if c.Store.ChangeBackupKeep < 1 || c.Store.ChangeBackupKeep > 100 {
		bad("store.change_backup_keep", fmt.Sprintf("%d", c.Store.ChangeBackupKeep), "keep 1 to 100 backups after changes (3 is typical)")
	}
	if c.Store.RetryEvery.Duration < 10*time.Second || c.Store.RetryEvery.Duration > 24*time.Hour {
		bad("store.retry_every", c.Store.RetryEvery.String(), `use 10s to 24h, e.g. "10m"`)
	}
	for _, g := range []struct{ field, v string }{{"control.staff_group", c.Control.StaffGroup}, {"control.write_group", c.Control.WriteGroup}, {"control.admin_group", c.Control.AdminGroup}} {
		if g.v != "" && !groupRE.MatchString(g.v) {
			bad(g.field, fmt.Sprintf("%q", g.v), "name a unix group (letters, digits, - and _), or leave it empty for nobody")
		}
	}
	errs = append(errs, c.checkReaders()...)
	errs = append(errs, c.checkRelay()...)
	errs = append(errs, c.checkDoor()...)
	if c.Face.Enabled {
		for _, f := range []struct{ name, v string }{
			{"privacy.controller", c.Privacy.Controller},
			{"privacy.contact", c.Privacy.Contact},
			{"privacy.notice_version", c.Privacy.NoticeVersion},
		} {
			if strings.TrimSpace(f.v) == "" {
				bad(f.name, "is empty", "residents must be told who processes their face data, how to reach them, and which notice they agreed to")
			}
		}
	}
	if c.Privacy.Holidays != "" && !filepath.IsAbs(c.Privacy.Holidays) {
		bad("privacy.holidays", fmt.Sprintf("%q is not an absolute path", c.Privacy.Holidays), "give the holiday calendar file's absolute path, e.g. /etc/gated/holidays.txt")
	}
	if c.Privacy.TimeZone != "" {
		if _, err := time.LoadLocation(c.Privacy.TimeZone); err != nil {
			bad("privacy.time_zone", fmt.Sprintf("%q", c.Privacy.TimeZone), `use an IANA time zone such as "Asia/Shanghai"`)
		}
	}
	if c.Kiosk.Enabled {
		if !loopback(c.Kiosk.Listen) {
			bad("kiosk.listen", fmt.Sprintf("%q is not a loopback address", c.Kiosk.Listen), `use 127.0.0.1:PORT or [::1]:PORT: the kiosk is for the browser on this device only`)
		}
		if !c.Face.Enabled {
			bad("kiosk.enabled", "the kiosk enrolls faces but face is off", "set face.enabled = true, or kiosk.enabled = false")
		}
		if c.Kiosk.EnrollFrames < 1 || c.Kiosk.EnrollFrames > 10 {
			bad("kiosk.enroll_frames", fmt.Sprintf("%d", c.Kiosk.EnrollFrames), "use 1-10 (3 is typical)")
		}
		if c.Kiosk.Timeout.Duration < 10*time.Second || c.Kiosk.Timeout.Duration > 10*time.Minute {
			bad("kiosk.timeout", c.Kiosk.Timeout.String(), `use 10s to 10m, e.g. "60s"`)
		}
		j := slices.IndexFunc(c.Readers, func(r Reader) bool { return r.Name == c.Kiosk.Reader })
		switch {
		case c.Kiosk.Reader == "":
			bad("kiosk.reader", "the screen is bound to no reader", "name the card reader at the screen: only its card and keypad start and answer the screen's flows")
		case j < 0 || c.Readers[j].Type == "keypad" || c.Readers[j].Type == "qr":
			bad("kiosk.reader", fmt.Sprintf("%q is not a card reader of this file", c.Kiosk.Reader), "name an ascii, wiegand or osdp reader (its keypads come with it)")
		}
		for i, r := range c.Readers {
			if c.kioskKeypad(r) && r.maxDigits() < 4+KioskCodeDigits {
				bad(fmt.Sprintf("readers[%d].max_digits", i), fmt.Sprintf("%d", r.maxDigits()),
					fmt.Sprintf("the resident screen's keypad takes the number it shows (%d digits) and a PIN of 4 or more in one entry: use %d or more", KioskCodeDigits, 4+KioskCodeDigits))
			}
		}
	}
	errs = append(errs, c.checkSchedule()...)
	errs = append(errs, c.checkCompound()...)
	errs = append(errs, c.checkVisitor()...)
	if r := c.Privacy.Retention.Duration; r < 24*time.Hour || r > 10*365*24*time.Hour {
		bad("privacy.retention", c.Privacy.Retention.String(), `keep face data from a day to 10 years ("1d" to "3650d"), e.g. "365d"; residents re-consent when it ends`)
	}
	return errs
}

// checkNIR checks [camera.nir] (face on).
func (c *Config) checkNIR() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	n, cam := c.Camera.NIR, c.Camera
	if !n.On() {
		return nil
	}
	switch {
	case n.Device != "" && n.Files != "":
		bad("camera.nir.files", "both camera.nir.device and camera.nir.files are set", "use files only to simulate an NIR camera")
	case n.Device != "" && cam.Device == "":
		bad("camera.nir.device", "an NIR camera with a simulated colour camera (camera.files)", "pair a real NIR camera with a real colour camera (camera.device), or simulate both (camera.nir.files)")
	case n.Device != "" && !localCamera(n.Device):
		bad("camera.nir.device", fmt.Sprintf("%q is not a local V4L2 device", n.Device), "use a device index such as 1 or a path under /dev: gated never opens a network stream")
	case n.Device != "" && filepath.Clean(n.Device) == filepath.Clean(cam.Device):
		bad("camera.nir.device", fmt.Sprintf("%q is also camera.device", n.Device), "name the NIR camera's own device (a stable udev link such as /dev/gate-nir)")
	case n.Files != "" && cam.Files == "":
		bad("camera.nir.files", "a simulated NIR camera with a real colour camera", "simulate both (camera.files), or set camera.nir.device")
	case n.Files != "" && !filepath.IsAbs(n.Files):
		bad("camera.nir.files", fmt.Sprintf("%q is not an absolute path", n.Files), "give the folder of x.nir.jpg partners by its absolute path (it may be camera.files)")
	}
	if !(n.FPS >= 0 && n.FPS <= 60) || n.Width < 0 || n.Height < 0 || n.Width > 4096 || n.Height > 4096 {
		bad("camera.nir", "fps, width or height out of range", "use fps 0-60 (0: the camera's own) and sizes 0-4096")
	}
	if s := n.MaxSkew.Duration; s < time.Millisecond || s > 200*time.Millisecond {
		bad("camera.nir.max_skew", n.MaxSkew.String(), `use 1ms to 200ms, e.g. "40ms": the longest time between the colour and the NIR frame of one moment`)
	}
	return errs
}

func (c *Config) checkReaders() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	cardReaders, pinReaders := 0, 0
	names := map[string]bool{}
	for i, r := range c.Readers {
		at := fmt.Sprintf("reader[%d]", i)
		if !nameRE.MatchString(r.Name) {
			bad(at+".name", fmt.Sprintf("%q", r.Name), "name each reader (lower-case letters, digits, - and _)")
		} else if names[r.Name] {
			bad(at+".name", fmt.Sprintf("%q is used twice", r.Name), "give each reader its own name")
		}
		names[r.Name] = true
		if !filepath.IsAbs(r.Device) || !strings.HasPrefix(filepath.Clean(r.Device), "/") {
			bad(at+".device", fmt.Sprintf("%q", r.Device), "give the serial device's path, e.g. /dev/gate-reader (udev link) or /dev/ttyUSB0")
		}
		if r.Baud < 0 || r.Baud > 921600 {
			bad(at+".baud", fmt.Sprintf("%d", r.Baud), "use the reader's baud rate, e.g. 9600")
		}
		if k := r.InterKey.Duration; k != 0 && (k < time.Second || k > time.Minute) {
			bad(at+".inter_key", r.InterKey.String(), `use 1s to 1m (5s when unset): the longest pause between two keys of one entry`)
		}
		if r.MaxDigits != 0 && (r.MaxDigits < 4 || r.MaxDigits > 32) {
			bad(at+".max_digits", fmt.Sprintf("%d", r.MaxDigits), "PINs have 4 to 32 digits: use 4 to 32 (12 when unset)")
		}
		switch r.Type {
		case "ascii", "wiegand":
			cardReaders++
			if r.Type == "ascii" && r.Number != "" && r.Number != "decimal" && r.Number != "hex" {
				bad(at+".number", fmt.Sprintf("%q", r.Number), `use "decimal" or "hex"`)
			}
			if r.Type == "wiegand" && r.Bits != 0 && r.Bits != 26 && r.Bits != 34 {
				bad(at+".bits", fmt.Sprintf("%d", r.Bits), "use 26, 34, or 0 for both")
			}
		case "keypad":
			pinReaders++
			if r.For == "" {
				bad(at+".for", "a keypad's PINs belong to no card reader", "set for = the name of the card reader beside it")
			}
		case "qr":
			// A QR/barcode scanner for visitor passes: no card reader.
		case "osdp":
			cardReaders++
			pinReaders++
			if r.Address < 0 || r.Address > 126 {
				bad(at+".address", fmt.Sprintf("%d", r.Address), "use the reader's OSDP address, 0-126")
			}
			switch r.Secure {
			case "", "paired", "install", "insecure":
			default:
				bad(at+".secure", fmt.Sprintf("%q", r.Secure), `use "paired" (default), "install" to pair a new reader, or "insecure"`)
			}
		default:
			bad(at+".type", fmt.Sprintf("%q", r.Type), `use "ascii", "wiegand", "keypad", "osdp" or "qr"`)
		}
	}
	for i, r := range c.Readers {
		if (r.Type == "keypad" || r.Type == "qr") && r.For != "" {
			j := slices.IndexFunc(c.Readers, func(o Reader) bool { return o.Name == r.For })
			if j < 0 || c.Readers[j].Type == "keypad" || c.Readers[j].Type == "qr" {
				bad(fmt.Sprintf("reader[%d].for", i), fmt.Sprintf("%q is not a card reader of this file", r.For), "name an ascii, wiegand or osdp reader")
			}
		}
	}
	if cardReaders == 0 {
		bad("reader", "no card reader is configured", "add a [[reader]] of type ascii, wiegand or osdp: face must never be the only way in, and gated refuses to start without one")
	}
	if c.Access.Card == "card+pin" && pinReaders == 0 && cardReaders > 0 {
		bad("access.card", `"card+pin" but no reader takes PINs`, `add a [[reader]] of type keypad (or use osdp readers), or set card = "card"`)
	}
	return errs
}

func (c *Config) checkRelay() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	r := c.Relay
	switch r.Type {
	case "lcus", "bytes":
		if !filepath.IsAbs(r.Device) {
			bad("relay.device", fmt.Sprintf("%q", r.Device), "give the relay board's serial device, e.g. /dev/gate-relay")
		}
		if r.Type == "lcus" && (r.Channel < 1 || r.Channel > 8) {
			bad("relay.channel", fmt.Sprintf("%d", r.Channel), "use the board's channel, 1-8")
		}
		if r.Type == "bytes" && (r.On == "" || r.Off == "") {
			bad("relay.on", "a bytes board needs both on and off commands", `write them in hex, e.g. on = "A0 01 01 A2"`)
		}
	case "gpio":
		if r.Chip == "" || r.Line < 0 {
			bad("relay.chip", "a GPIO relay needs chip and line", `e.g. chip = "gpiochip0", line = 17`)
		}
	case "":
		bad("relay.type", "no relay is configured", `set [relay] type = "lcus", "bytes" or "gpio": the gate needs a door to open`)
	default:
		bad("relay.type", fmt.Sprintf("%q", r.Type), `use "lcus", "bytes" or "gpio"`)
	}
	if r.Mode != "fail-secure" && r.Mode != "fail-safe" {
		bad("relay.mode", fmt.Sprintf("%q", r.Mode), `use "fail-secure" (locked when unpowered, the default) or "fail-safe" (maglocks that must release on power loss)`)
	}
	if r.Contact != nil && (r.Contact.Chip == "" || r.Contact.Line < 0) {
		bad("relay.contact", "a door contact needs chip and line", `e.g. chip = "gpiochip0", line = 27`)
	}
	if r.Pulse.Duration < 100*time.Millisecond || r.Pulse.Duration > time.Minute {
		bad("relay.pulse", r.Pulse.String(), `use 100ms to 1m, e.g. "3s"`)
	}
	return errs
}

// loopback accepts host:port where host is 127.0.0.1 (or another
// 127.x address) or ::1, and port a number.
func loopback(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localCamera accepts a V4L2 index or an absolute /dev path.
func localCamera(s string) bool {
	if regexp.MustCompile(`^[0-9]{1,3}$`).MatchString(s) {
		return true
	}
	return strings.HasPrefix(filepath.Clean(s), "/dev/")
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
