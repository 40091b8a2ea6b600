package main

import (
	"fmt"
	"strings"
)

// simGate is a simulated gate: one directory holds its state, key,
// configuration and socket; socat pseudo-terminal pairs stand in for its
// card readers, keypads and relay board; a folder of photos is its camera.
// `gated demo` runs one, and the end-to-end tests and benchmarks run
// variations of the same configuration (Set), so there is one of it.
type simGate struct {
	Dir     string // state, key, configuration, socket and camera folder live here
	Models  string // the verified model directory
	Name    string // device.name
	Readers []simReader
	Relay   string // the relay board's device
	// Set overrides or adds settings: "section.key" to a TOML value, e.g.
	// "face.calibrate": "true", "kiosk.reader": `"front"`.
	Set map[string]string
}

// simReader is a reader or keypad on a pty.
type simReader struct {
	Name, Type, Device, For string
}

// simDefaults are the simulated gate's settings, section by section in
// the order the file has them.
var simDefaults = []struct {
	section string
	keys    [][2]string
}{
	{"device", [][2]string{{"name", `"%[name]"`}, {"data_dir", `"%[dir]/data"`}, {"key_file", `"%[dir]/kek"`}, {"models_dir", `"%[models]"`}}},
	{"control", [][2]string{{"socket", `"%[dir]/gated.sock"`}, {"staff_group", `""`}, {"write_group", `""`}, {"admin_group", `""`}}},
	// A simulated gate has one or two residents, too few to calibrate on
	// (a real gate keeps calibrate = true and waits for 10; docs/accuracy.md).
	// Its camera is a folder of photos: every face it sees is a photo, so it
	// accepts unguarded faces (pad_max_apcer = 1), which a real gate must
	// not (docs/liveness.md).
	{"face", [][2]string{{"enabled", "true"}, {"calibrate", "false"}, {"threshold", "0.45"}, {"margin", "0.05"}, {"frames", "3"}, {"cooldown", `"2s"`}, {"pad_max_apcer", "1.0"}}},
	{"camera", [][2]string{{"files", `"%[dir]/camera"`}, {"follow", "true"}, {"repeat", "4"}, {"fps", "20"}}},
	{"access", [][2]string{{"card", `"card+pin"`}}},
	{"relay", [][2]string{{"type", `"lcus"`}, {"device", `"%[relay]"`}, {"pulse", `"1s"`}}},
	{"privacy", [][2]string{{"controller", `"Demo Property Management"`}, {"contact", `"Property office, Building 1"`}, {"notice_version", `"2026-11"`}}},
	{"store", nil},
	{"kiosk", nil},
	{"door", nil},
	{"schedule", nil},
}

// config renders the gate's configuration file.
func (g simGate) config() string {
	name := g.Name
	if name == "" {
		name = "sim-gate"
	}
	expand := strings.NewReplacer("%[name]", name, "%[dir]", g.Dir, "%[models]", g.Models, "%[relay]", g.Relay).Replace
	used := map[string]bool{}
	var b strings.Builder
	b.WriteString("version = 1\n")
	for _, sec := range simDefaults {
		var lines []string
		for _, kv := range sec.keys {
			k := sec.section + "." + kv[0]
			v := kv[1]
			if o, ok := g.Set[k]; ok {
				v, used[k] = o, true
			}
			lines = append(lines, kv[0]+" = "+expand(v))
		}
		for k, v := range g.Set {
			if s, key, _ := strings.Cut(k, "."); s == sec.section && !used[k] {
				lines = append(lines, key+" = "+expand(v))
				used[k] = true
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "[%s]\n%s\n", sec.section, strings.Join(lines, "\n"))
		}
	}
	for _, r := range g.Readers {
		fmt.Fprintf(&b, "[[reader]]\nname = %q\ntype = %q\ndevice = %q\n", r.Name, r.Type, r.Device)
		if r.For != "" {
			fmt.Fprintf(&b, "for = %q\n", r.For)
		}
	}
	for k := range g.Set {
		if !used[k] {
			panic("simGate: setting " + k + " is in no section of the simulated gate")
		}
	}
	return b.String()
}
