package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

var (
	frameOn  = []byte{0xA0, 0x01, 0x01, 0xA2}
	frameOff = []byte{0xA0, 0x01, 0x00, 0xA1}
)

// relayBoard plays a latching LCUS relay board on a pty: it records every
// ON and OFF frame with the time it arrived. Its state is the last frame.
type relayBoard struct {
	t      *testing.T
	mu     sync.Mutex
	frames []boardFrame
	seen   chan struct{} // a frame arrived
}

type boardFrame struct {
	on bool
	at time.Time
}

func newRelayBoard(t *testing.T, p *serialtest.Pair) *relayBoard {
	t.Helper()
	b := &relayBoard{t: t, seen: make(chan struct{}, 1)}
	peer := p.OpenPeer(100 * time.Millisecond)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		var buf []byte
		tmp := make([]byte, 64)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, err := peer.Read(tmp)
			if err != nil && err != io.EOF {
				return // the port was closed at the end of the test
			}
			buf = append(buf, tmp[:n]...)
			for len(buf) >= 4 {
				switch {
				case bytes.Equal(buf[:4], frameOn):
					b.add(true)
					buf = buf[4:]
				case bytes.Equal(buf[:4], frameOff):
					b.add(false)
					buf = buf[4:]
				default:
					buf = buf[1:] // not a frame of channel 1: resync
				}
			}
		}
	}()
	return b
}

func (b *relayBoard) add(on bool) {
	b.mu.Lock()
	b.frames = append(b.frames, boardFrame{on: on, at: time.Now()})
	b.mu.Unlock()
	select {
	case b.seen <- struct{}{}:
	default:
	}
}

// waitFor returns the time of the first frame (on or off) that arrived at
// or after since, waiting until deadline.
func (b *relayBoard) waitFor(on bool, since, deadline time.Time) (time.Time, bool) {
	for {
		b.mu.Lock()
		for _, f := range b.frames {
			if f.on == on && !f.at.Before(since) {
				b.mu.Unlock()
				return f.at, true
			}
		}
		b.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return time.Time{}, false
		}
		select {
		case <-b.seen:
		case <-time.After(wait):
		}
	}
}

// state is the relay's state: on after an ON frame, until an OFF frame.
func (b *relayBoard) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.frames) == 0 || !b.frames[len(b.frames)-1].on {
		return "off"
	}
	return "ON"
}

// relayRig is the e2e rig's configuration (rigConfig) with face off, a
// long door pulse, and a relay board that records OFF frames as well.
type relayRig struct {
	*gateRig
	board *relayBoard
	cfg   string // the configuration file
}

func newRelayRig(t *testing.T, pulse string) *relayRig {
	t.Helper()
	bin := gatedBinary(t)
	dir, err := os.MkdirTemp("", "gated-relay-e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	g := &gateRig{t: t, bin: bin, dir: dir, socket: dir + "/gated.sock",
		reader: serialtest.New(t), keypad: serialtest.New(t), relay: serialtest.New(t)}
	cfg := fmt.Sprintf(rigConfig, dir, dir+"/no-models", g.reader.Device, g.keypad.Device, g.relay.Device)
	for old, repl := range map[string]string{
		"[face]\nenabled = true": "[face]\nenabled = false", // card and PIN are what this test needs
		`pulse = "300ms"`:        `pulse = "` + pulse + `"`,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("rigConfig has no %q any more: update this test", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	r := &relayRig{gateRig: g, board: newRelayBoard(t, g.relay), cfg: dir + "/gated.toml"}
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// relayDaemon is one `gated run` process.
type relayDaemon struct {
	cmd     *exec.Cmd
	started time.Time
	mu      sync.Mutex
	log     bytes.Buffer
	running time.Time // when it logged "gate running"
	exited  chan struct{}
}

// start runs `gated run` on the rig's configuration and waits until its
// socket answers.
func (r *relayRig) start() *relayDaemon {
	r.t.Helper()
	d := &relayDaemon{exited: make(chan struct{})}
	d.cmd = exec.Command(r.bin, "run", "--config", r.cfg)
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			now := time.Now()
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			if d.running.IsZero() && strings.Contains(sc.Text(), "gate running") {
				d.running = now
			}
			d.mu.Unlock()
		}
	}()
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { d.cmd.Wait(); pw.Close(); close(d.exited) }()
	r.t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
		}
		if r.t.Failed() {
			r.t.Logf("daemon (pid %d) log:\n%s", d.cmd.Process.Pid, d.logText())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := exec.Command(r.bin, "status", "--socket", r.socket).CombinedOutput(); err == nil {
			break
		} else if time.Now().After(deadline) {
			r.t.Fatalf("daemon did not come up: %v %s\n%s", err, out, d.logText())
		}
		select {
		case <-d.exited:
			r.t.Fatalf("daemon exited at start:\n%s", d.logText())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return d
}

func (d *relayDaemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func (d *relayDaemon) runningAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running
}

// kill9 kills the daemon with SIGKILL, as the kernel's OOM killer or a
// crash would: no deferred code runs.
func (r *relayRig) kill9(d *relayDaemon) {
	r.t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		r.t.Fatal("the daemon did not die of SIGKILL")
	}
}

// grantAndKill lets a resident in with card and PIN, waits for the relay
// to switch ON, and SIGKILLs the daemon during the pulse. The board stays
// ON: that is the crash the rest of the test must recover from.
func (r *relayRig) grantAndKill(d *relayDaemon) {
	r.t.Helper()
	sent := time.Now()
	r.swipe("1001", "1234")
	on, ok := r.board.waitFor(true, sent, time.Now().Add(10*time.Second))
	if !ok {
		r.t.Fatalf("card and PIN: the relay was not switched ON within 10 s")
	}
	r.kill9(d)
	r.t.Logf("relay ON %v after the card; daemon SIGKILLed %v after ON", on.Sub(sent).Round(time.Millisecond), time.Since(on).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	if s := r.board.state(); s != "ON" {
		r.t.Fatalf("after SIGKILL during the pulse the relay is %s; the test needs it left ON (pulse too short?)", s)
	}
}

// relayLock runs `gated relay lock` as ExecStopPost= does.
func (r *relayRig) relayLock(cfg string) (string, int) {
	r.t.Helper()
	out, err := exec.Command(r.bin, "relay", "lock", "--config", cfg).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return string(out), code
}

// TestRelayLockCommand: `gated relay lock` sends the lock and needs nothing
// but [relay]: no key, no store, no models, a broken [face] section; a
// missing board fails with its name.
func TestRelayLockCommand(t *testing.T) {
	r := newRelayRig(t, "3s")
	off := fmt.Sprintf("% X", frameOff)

	start := time.Now()
	out, code := r.relayLock(r.cfg)
	if code != 0 || !strings.Contains(out, "locked lcus board "+r.relay.Device+" channel 1, fail-secure: sent "+off) {
		t.Fatalf("gated relay lock = %d, %q; want 0 and what it sent", code, out)
	}
	if at, ok := r.board.waitFor(false, start, start.Add(time.Second)); !ok {
		t.Errorf("gated relay lock: no OFF frame within 1 s")
	} else {
		t.Logf("gated relay lock: OFF %v after the command started", at.Sub(start).Round(time.Millisecond))
	}
	if s := r.board.state(); s != "off" {
		t.Errorf("relay state after gated relay lock = %s, want off", s)
	}
	// Nothing but the relay: no data directory was made, no key was needed.
	if _, err := os.Stat(filepath.Join(r.dir, "data")); !os.IsNotExist(err) {
		t.Errorf("gated relay lock touched the data directory: %v", err)
	}

	// A configuration whose [face] is broken (bad syntax, unknown key).
	b, _ := os.ReadFile(r.cfg)
	broken := strings.Replace(string(b), "[face]\n", "[face]\nthreshhold = = 0.4\nmodel = \"unterminated\n", 1)
	brokenPath := filepath.Join(r.dir, "broken.toml")
	if err := os.WriteFile(brokenPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(brokenPath); err == nil {
		t.Fatalf("the broken configuration loads: the test would prove nothing")
	}
	start = time.Now()
	if out, code := r.relayLock(brokenPath); code != 0 || !strings.Contains(out, "sent "+off) {
		t.Errorf("gated relay lock with a broken [face] = %d, %q; want 0", code, out)
	}
	if _, ok := r.board.waitFor(false, start, start.Add(time.Second)); !ok {
		t.Errorf("gated relay lock with a broken [face]: no OFF frame within 1 s")
	}

	// The board is missing: exit 1, naming the device.
	gone := strings.Replace(string(b), r.relay.Device, "/dev/gate-relay-missing", 1)
	gonePath := filepath.Join(r.dir, "gone.toml")
	if err := os.WriteFile(gonePath, []byte(gone), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := r.relayLock(gonePath); code != 1 || !strings.Contains(out, "/dev/gate-relay-missing") || !strings.Contains(out, "NOT CONFIRMED LOCKED") {
		t.Errorf("gated relay lock on a missing board = %d, %q; want 1, naming the device", code, out)
	}
	// A [relay] that is itself wrong: exit 1, naming the field.
	bad := strings.Replace(string(b), "[relay]\n", "[relay]\nchanel = 2\n", 1)
	badPath := filepath.Join(r.dir, "bad.toml")
	if err := os.WriteFile(badPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := r.relayLock(badPath); code != 1 || !strings.Contains(out, "relay.chanel: unknown setting") {
		t.Errorf("gated relay lock with a misspelt relay key = %d, %q; want 1, naming relay.chanel", code, out)
	}
}

// TestRelaySIGKILLWhileOpen replays issue 12's crash: SIGKILL the daemon
// while the relay is ON during a door pulse. The latching board stays ON;
// then (a) with the restart disabled, `gated relay lock`, as ExecStopPost=
// runs it, switches it OFF within 1 s; (b) a restarted daemon switches it
// OFF within 1 s of its start, and locks before it logs "gate running".
func TestRelaySIGKILLWhileOpen(t *testing.T) {
	r := newRelayRig(t, "5s")
	r.gated("keygen", "--out", r.dir+"/kek")
	d := r.start()
	r.addResident("Resident", "1001", "1234")

	t.Run("restart disabled: ExecStopPost relay lock", func(t *testing.T) {
		r.grantAndKill(d)
		start := time.Now()
		out, code := r.relayLock(r.cfg)
		at, ok := r.board.waitFor(false, start, start.Add(time.Second))
		if code != 0 || !ok {
			t.Fatalf("gated relay lock after SIGKILL = %d, %q; OFF within 1 s: %v", code, out, ok)
		}
		t.Logf("OFF %v after gated relay lock started", at.Sub(start).Round(time.Millisecond))
		if s := r.board.state(); s != "off" {
			t.Errorf("relay state = %s, want off", s)
		}
	})

	t.Run("restart: the daemon locks first", func(t *testing.T) {
		d2 := r.start()
		r.grantAndKill(d2)
		d3 := r.start()
		at, ok := r.board.waitFor(false, d3.started, d3.started.Add(time.Second))
		if !ok {
			t.Errorf("restarted daemon: no OFF frame within 1 s of its start (relay %s; it logged gate running %v after start)",
				r.board.state(), d3.runningAt().Sub(d3.started).Round(time.Millisecond))
		} else {
			t.Logf("restarted daemon: OFF %v after start, gate running %v after start",
				at.Sub(d3.started).Round(time.Millisecond), d3.runningAt().Sub(d3.started).Round(time.Millisecond))
		}
		// The order inside the daemon, from its log (the wire and the log
		// reach the test by different paths, so their times do not order).
		log := d3.logText()
		locked, running := strings.Index(log, "door: locked at start"), strings.Index(log, "gate running")
		if locked < 0 || running < 0 || locked > running {
			t.Errorf("restarted daemon: want \"door: locked at start\" logged before \"gate running\" (at %d, %d)", locked, running)
		}
	})
}
