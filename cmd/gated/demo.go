package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/daemon"
	"github.com/gated-dev/gated/internal/store"
	"github.com/gated-dev/gated/models"
)

// runDemo runs the real daemon on a simulated gate: a folder of photos as
// the camera, and socat pseudo-terminals as the card reader, the keypad and
// the relay board. It enrolls two residents through the staff API and plays
// a scene, printing each access decision and relay command as it happens.
func runDemo(e *env, args []string) error {
	fs := newFlags(e, "demo", "[flags]")
	photos := fs.String("photos", defaultDemoPhotos(e.getenv), "folder with the demo photos (make setup fetches them)")
	modelDir := fs.String("models", models.DefaultDir(e.getenv), "model directory")
	keep := fs.Bool("keep", false, "keep the demo's state directory (store, config, log) afterwards")
	pause := fs.Duration("pause", 1500*time.Millisecond, "pause between the scene's steps")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	for _, p := range []string{"obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"} {
		if _, err := os.Stat(filepath.Join(*photos, p)); err != nil {
			return fmt.Errorf("demo photo %s missing: run make setup (scripts/fetch-demo-photos.sh)", p)
		}
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		return errors.New("socat is not installed: run make setup (apt install socat)")
	}
	dir, err := os.MkdirTemp("", "gated-demo-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintf(e.stdout, "\ndemo state kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// The simulated hardware outlives the daemon, which locks the door
	// on its way out.
	var wg sync.WaitGroup
	defer wg.Wait()
	hw, stopHW := context.WithCancel(context.Background())
	defer stopHW()
	for _, name := range []string{"reader", "keypad", "relay", "door"} {
		if err := ptyPair(hw, &wg, socat, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	for _, d := range []string{"camera", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if _, err := store.GenerateKEKFile(filepath.Join(dir, "kek")); err != nil {
		return err
	}
	cfgText := simGate{Dir: dir, Models: *modelDir, Name: "demo-gate", Relay: filepath.Join(dir, "relay"),
		Readers: []simReader{{Name: "front", Type: "ascii", Device: filepath.Join(dir, "reader")}, {Name: "keypad", Type: "keypad", Device: filepath.Join(dir, "keypad"), For: "front"}},
		Set: map[string]string{"face.cooldown": `"3s"`, "camera.fps": "10",
			// The door contact, on a Modbus input board (simDoorBoard).
			"door.board": `{type = "modbus", device = "%[dir]/door"}`, "door.contact": `{input = 1}`}}.config()
	if err := os.WriteFile(filepath.Join(dir, "gated.toml"), []byte(cfgText), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(filepath.Join(dir, "gated.toml"))
	if err != nil {
		return err
	}

	out := &lockedWriter{w: e.stdout}
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	say("gated demo: the real daemon on a simulated gate (state in %s)", dir)
	say("camera: a folder of photos; card reader, keypad, relay board and door-contact board: socat pseudo-terminals")
	say("        every face this camera sees is a photo, so the demo accepts unguarded faces (face.pad_max_apcer = 1);\n" +
		"        a real gate must not: docs/liveness.md\n")

	// The relay board prints what the daemon commands.
	relay, err := os.OpenFile(filepath.Join(dir, "relay.peer"), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchRelay(hw, relay, func(open bool) {
			if open {
				say("    relay  ON : door unlocked")
			} else {
				say("    relay OFF : door locked")
			}
		})
	}()
	go func() { <-hw.Done(); relay.Close() }()

	// The door contact's board answers the daemon's polls: the door is shut
	// until the scene forces it.
	doorBoard := &simDoorBoard{}
	doorPeer, err := os.OpenFile(filepath.Join(dir, "door.peer"), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); doorBoard.serve(hw, doorPeer) }()
	go func() { <-hw.Done(); doorPeer.Close() }()

	logFile, err := os.OpenFile(filepath.Join(dir, "gated.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ready := make(chan struct{})
	derr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		derr <- daemon.Run(ctx, daemon.Options{Config: cfg, Log: slog.New(slog.NewTextHandler(logFile, nil)), Version: version,
			Getenv: func(string) string { return "" }, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-derr:
		return fmt.Errorf("daemon: %w (log: %s)", err, filepath.Join(dir, "gated.log"))
	case <-time.After(60 * time.Second):
		return errors.New("the daemon did not start within a minute")
	}
	c := api.NewClient(cfg.Control.Socket)
	// The camera folder shows only the photos written after it is open.
	if err := waitCamera(ctx, c, 30*time.Second); err != nil {
		return fmt.Errorf("%w (log: %s)", err, filepath.Join(dir, "gated.log"))
	}

	// Print decisions as they happen.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Decisions(ctx, func(d api.Decision) error {
			say("  %s", decisionLine(d))
			return nil
		})
	}()

	// Staff set the gate up through the API, as gated's commands do.
	obama, err := c.AddResident(ctx, api.NewResident{Name: "Obama", Unit: "1-101"})
	if err != nil {
		return err
	}
	biden, err := c.AddResident(ctx, api.NewResident{Name: "Biden", Unit: "2-202"})
	if err != nil {
		return err
	}
	for _, r := range []struct{ id, card, pin string }{{obama.ID, "1001", "1234"}, {biden.ID, "2002", "5678"}} {
		if _, err := c.AssignCard(ctx, r.id, r.card); err != nil {
			return err
		}
		if err := c.SetPIN(ctx, r.id, r.pin); err != nil {
			return err
		}
	}
	say("staff: added Obama (%s, card 1001, PIN 1234) and Biden (%s, card 2002, PIN 5678)", obama.ID, biden.ID)
	var shots [][]byte
	for _, p := range []string{"obama.jpg", "obama2.jpg"} {
		b, err := os.ReadFile(filepath.Join(*photos, p))
		if err != nil {
			return err
		}
		shots = append(shots, b)
	}
	en, err := c.Enroll(ctx, obama.ID, api.Enroll{Photos: shots, Method: "paper", Language: "en"})
	if err != nil {
		return err
	}
	say("staff: Obama signed the consent form (notice %s); face enrolled from 2 photos: %d templates", en.Consent.NoticeVersion, en.Templates)
	say("       Biden declined face recognition: he keeps card and PIN\n")

	camera := filepath.Join(dir, "camera")
	show := func(photo string) error {
		b, err := os.ReadFile(filepath.Join(*photos, photo))
		if err != nil {
			return err
		}
		tmp := filepath.Join(camera, ".next")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(camera, fmt.Sprintf("%d-%s", time.Now().UnixNano(), photo)))
	}
	send := func(name, s string) error {
		f, err := os.OpenFile(filepath.Join(dir, name+".peer"), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(s)
		return err
	}
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var courier string // the visitor pass's code
	steps := []struct {
		say   string
		do    func() error
		quick bool // the gate answers at once: a short pause
	}{
		{"Obama walks up to the gate and looks at the camera", func() error { return show("obama3.jpg") }, false},
		{"Biden, whose face was never enrolled, looks at the camera", func() error { return show("biden.jpg") }, false},
		{"Biden shows card 2002 and types 5678#", func() error {
			if err := send("reader", "2002\r\n"); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			return send("keypad", "5678#")
		}, false},
		{"Biden shows his card but mistypes his PIN (1111#)", func() error {
			if err := send("reader", "2002\r\n"); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			return send("keypad", "1111#")
		}, false},
		{"the property office issues a one-use pass for a courier (valid 2 h)", func() error {
			now := time.Now()
			p, err := c.AddPass(ctx, api.NewPass{Name: "courier", From: now, Until: now.Add(2 * time.Hour), Uses: 1})
			if err != nil {
				return err
			}
			courier = p.Code
			say("  staff: pass %s, code %s (shown once; typed as # %s #)", p.ID, p.Code, p.Code)
			return nil
		}, false},
		{"the courier, who has no card, types # and the code and # on the keypad", func() error {
			return send("keypad", "#"+courier+"#")
		}, false},
		{"the courier comes back and types the same code again", func() error {
			return send("keypad", "#"+courier+"#")
		}, false},
		{"someone pulls the locked door open: no grant, no exit button (the door contact opens)", func() error {
			doorBoard.open.Store(true)
			return nil
		}, true},
		{"the property office shuts the door", func() error {
			doorBoard.open.Store(false)
			return nil
		}, true},
		{"Obama withdraws his consent at the property office", func() error {
			d, err := c.DeleteFace(ctx, obama.ID, "consent withdrawn at the office", time.Time{})
			if err != nil {
				return err
			}
			say("  staff: face data destroyed at once: receipt %s, %d templates", d.ReceiptID, d.Templates)
			return nil
		}, false},
		{"Obama looks at the camera again", func() error { return show("obama3.jpg") }, false},
		{"Obama shows card 1001 and types 1234#", func() error {
			if err := send("reader", "1001\r\n"); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			return send("keypad", "1234#")
		}, false},
	}
	for i, s := range steps {
		say("\n%d. %s", i+1, s.say)
		if err := s.do(); err != nil {
			return err
		}
		d := *pause + 2*time.Second
		if s.quick {
			d = *pause
		}
		if !wait(d) {
			return ctx.Err()
		}
	}
	v, err := c.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	rep, err := c.Report(ctx)
	if err != nil {
		return err
	}
	say("\naudit chain: %d entries, verified %v", v.Entries, v.OK)
	if es, err := c.Audit(ctx, 0, 10000); err == nil {
		for _, e := range es {
			if e.Actor == "door" {
				say("audit: %s %s %s: %s", e.Time.Local().Format("15:04:05"), e.Actor, e.Outcome, e.Detail)
			}
		}
	}
	say("report: face data held for %d of %d residents; %d deletion(s) with receipts; filing threshold %d", rep.PeopleWithFace, rep.Residents, len(rep.Deletions), rep.FilingThreshold)
	say("no photo was kept; the daemon held no network socket; daemon log: %s", filepath.Join(dir, "gated.log"))
	cancel()
	err = <-derr
	time.Sleep(100 * time.Millisecond) // the relay's last words
	stopHW()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// waitCamera waits until the daemon's camera is open.
func waitCamera(ctx context.Context, c *api.Client, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Camera.Up {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New(st.Camera.LastErr)
			}
			return fmt.Errorf("the camera did not open within %s: %v", within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ptyPair starts socat with a pseudo-terminal pair at path (the device end,
// which the daemon opens) and path.peer (the end the demo plays).
func ptyPair(ctx context.Context, wg *sync.WaitGroup, socat, path string) error {
	cmd := exec.CommandContext(ctx, socat, fmt.Sprintf("pty,raw,echo=0,link=%s", path), fmt.Sprintf("pty,raw,echo=0,link=%s.peer", path))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("socat: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); cmd.Wait() }()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(path + ".peer"); err == nil {
			if _, err := os.Stat(path); err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("socat did not create %s", path)
}

// watchRelay reports LCUS relay commands (A0 01 01 A2 on, A0 01 00 A1 off).
func watchRelay(ctx context.Context, r io.Reader, fn func(open bool)) {
	br := bufio.NewReader(r)
	var buf []byte
	for ctx.Err() == nil {
		b, err := br.ReadByte()
		if err != nil {
			return
		}
		buf = append(buf, b)
		if len(buf) > 4 {
			buf = buf[len(buf)-4:]
		}
		switch {
		case bytes.Equal(buf, []byte{0xA0, 0x01, 0x01, 0xA2}):
			fn(true)
		case bytes.Equal(buf, []byte{0xA0, 0x01, 0x00, 0xA1}):
			fn(false)
		}
	}
}

// lockedWriter serialises lines written from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func defaultDemoPhotos(getenv func(string) string) string {
	if c := getenv("GATED_CACHE"); c != "" {
		return c + "/demo-photos"
	}
	if c := getenv("XDG_CACHE_HOME"); c != "" {
		return c + "/gated/demo-photos"
	}
	return getenv("HOME") + "/.cache/gated/demo-photos"
}
