package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// relayLock runs `gated relay lock` as ExecStopPost= does, returning its
// output and exit status.
func (r *gateRig) relayLock(cfg string) (string, int) {
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

// lockAfter returns when the first relay OFF frame (LCUS A0 01 00 A1) at
// or after since arrived, waiting for one until deadline; ok is false when
// none arrived by deadline (one that arrived later does not count). Older
// frames are dropped.
func (r *gateRig) lockAfter(since, deadline time.Time) (at time.Time, ok bool) {
	for {
		var wait <-chan time.Time
		if d := time.Until(deadline); d > 0 {
			wait = time.After(d)
		}
		select {
		case at = <-r.locks:
			if at.Before(since) {
				continue
			}
			return at, !at.After(deadline)
		default:
		}
		if wait == nil {
			return time.Time{}, false
		}
		select {
		case at = <-r.locks:
			if at.Before(since) {
				continue
			}
			return at, !at.After(deadline)
		case <-wait:
		}
	}
}

// late says when a frame came, if it came.
func late(at, start time.Time) string {
	if at.IsZero() {
		return "none came"
	}
	return fmt.Sprintf("it came after %v", at.Sub(start).Round(time.Millisecond))
}

func drain(c chan time.Time) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// grantAndKill lets a resident in with card and PIN, waits for the relay
// to switch ON, and SIGKILLs the daemon during the (long) pulse. The
// latching board stays ON: the crash of issue 12 the test recovers from.
func (r *gateRig) grantAndKill() {
	r.t.Helper()
	drain(r.opens)
	drain(r.locks)
	sent := time.Now()
	r.swipe("1001", "1234")
	var on time.Time
	select {
	case on = <-r.opens:
	case <-time.After(10 * time.Second):
		r.t.Fatalf("card and PIN: the relay was not switched ON within 10 s")
	}
	r.kill()
	r.t.Logf("relay ON %v after the card; daemon SIGKILLed %v after ON", on.Sub(sent).Round(time.Millisecond), time.Since(on).Round(time.Millisecond))
	if at, ok := r.lockAfter(on, time.Now().Add(500*time.Millisecond)); ok {
		r.t.Fatalf("the relay was locked %v after ON although the daemon was killed: the test needs it left ON (pulse too short?)", at.Sub(on))
	}
}

// relayRig is the simulated gate with face off (card and PIN are what
// these tests need) and a 5 s door pulse, long enough to kill the daemon
// while the door is open.
func relayRig(t *testing.T) *gateRig {
	t.Helper()
	return newRig(t, map[string]string{"face.enabled": "false", "relay.pulse": `"5s"`})
}

// TestRelayLockCommand: `gated relay lock` sends the lock and needs nothing
// but [relay]: no key, no store, no models, and a broken [face] does not
// matter; a missing board or a wrong [relay] fails, naming it.
func TestRelayLockCommand(t *testing.T) {
	r := relayRig(t)
	const off = "A0 01 00 A1"

	start := time.Now()
	out, code := r.relayLock(r.config)
	if code != 0 || !strings.Contains(out, "locked lcus board "+r.relay.Device+" channel 1, fail-secure: sent "+off) {
		t.Fatalf("gated relay lock = %d, %q; want 0 and what it sent", code, out)
	}
	if at, ok := r.lockAfter(start, start.Add(time.Second)); !ok {
		t.Errorf("gated relay lock: no OFF frame within 1 s (%v)", late(at, start))
	} else {
		t.Logf("gated relay lock: OFF %v after the command started", at.Sub(start).Round(time.Millisecond))
	}
	// Nothing but the relay: no data directory was made.
	if _, err := os.Stat(filepath.Join(r.dir, "data")); !os.IsNotExist(err) {
		t.Errorf("gated relay lock touched the data directory: %v", err)
	}

	b, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(name, old, repl string) string {
		t.Helper()
		if !strings.Contains(string(b), old) {
			t.Fatalf("the rig's configuration has no %q any more: update this test", old)
		}
		p := filepath.Join(r.dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, repl, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A [face] that is broken: a syntax error and a misspelt key.
	broken := variant("broken.toml", "[face]\n", "[face]\nthreshhold = = 0.4\nmodel = \"unterminated\n")
	if _, err := config.Load(broken); err == nil {
		t.Fatalf("the broken configuration loads: the test would prove nothing")
	}
	start = time.Now()
	if out, code := r.relayLock(broken); code != 0 || !strings.Contains(out, "sent "+off) {
		t.Errorf("gated relay lock with a broken [face] = %d, %q; want 0", code, out)
	}
	if at, ok := r.lockAfter(start, start.Add(time.Second)); !ok {
		t.Errorf("gated relay lock with a broken [face]: no OFF frame within 1 s (%v)", late(at, start))
	}

	// No key: the lock does not need it.
	if err := os.Remove(filepath.Join(r.dir, "kek")); err != nil {
		t.Fatal(err)
	}
	if out, code := r.relayLock(r.config); code != 0 {
		t.Errorf("gated relay lock without the device key = %d, %q; want 0", code, out)
	}

	// The board is missing: exit 1, naming the device.
	gone := variant("gone.toml", r.relay.Device, "/dev/gate-relay-missing")
	if out, code := r.relayLock(gone); code != 1 || !strings.Contains(out, "/dev/gate-relay-missing") || !strings.Contains(out, "NOT CONFIRMED LOCKED") {
		t.Errorf("gated relay lock on a missing board = %d, %q; want 1, naming the device", code, out)
	}
	// A [relay] that is itself wrong: exit 1, naming the field.
	bad := variant("bad.toml", "[relay]\n", "[relay]\nchanel = 2\n")
	if out, code := r.relayLock(bad); code != 1 || !strings.Contains(out, "relay.chanel: unknown setting") {
		t.Errorf("gated relay lock with a misspelt relay key = %d, %q; want 1, naming relay.chanel", code, out)
	}
}

// TestRelaySIGKILLWhileOpen replays issue 12's crash: SIGKILL the daemon
// while the relay is ON during a door pulse. The latching board stays ON;
// then (a) with the restart disabled, `gated relay lock`, as ExecStopPost=
// runs it, switches it OFF within 1 s; (b) a restarted daemon switches it
// OFF within 1 s of its start, and locks before it logs "gate running".
func TestRelaySIGKILLWhileOpen(t *testing.T) {
	r := relayRig(t)
	r.start()
	r.addResident("Resident", "1001", "1234")

	t.Run("restart disabled: ExecStopPost relay lock", func(t *testing.T) {
		r.grantAndKill()
		start := time.Now()
		out, code := r.relayLock(r.config)
		at, ok := r.lockAfter(start, start.Add(time.Second))
		if code != 0 || !ok {
			t.Fatalf("gated relay lock after SIGKILL = %d, %q; want 0 and OFF within 1 s (%v)", code, out, late(at, start))
		}
		t.Logf("OFF %v after gated relay lock started", at.Sub(start).Round(time.Millisecond))
	})

	t.Run("restart: the daemon locks first", func(t *testing.T) {
		r.start()
		r.grantAndKill()
		logFrom := len(r.log.String())
		start := time.Now()
		r.start()
		at, ok := r.lockAfter(start, start.Add(time.Second))
		log := r.log.String()[logFrom:]
		if !ok {
			t.Errorf("restarted daemon: no OFF frame within 1 s of its start (%v)", late(at, start))
		} else {
			t.Logf("restarted daemon: OFF %v after start", at.Sub(start).Round(time.Millisecond))
		}
		// The order inside the daemon, from its log (the relay line and the
		// log reach the test by different paths, so their times do not).
		locked, running := strings.Index(log, "door: locked at start"), strings.Index(log, "gate running")
		if locked < 0 || running < 0 || locked > running {
			t.Errorf("restarted daemon: want \"door: locked at start\" logged before \"gate running\" (at %d, %d)", locked, running)
		}
	})
}

// BenchmarkRelayLockCommand measures what ExecStopPost= waits for: start
// `gated relay lock`, read [relay], send the lock to a pty board, exit.
// Most of it is the start of the binary (its cgo libraries), not the lock
// (internal/door BenchmarkLockNow).
func BenchmarkRelayLockCommand(b *testing.B) {
	bin := gatedBinary(b)
	p := serialtest.New(b)
	peer := p.OpenPeer(100 * time.Millisecond)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := peer.Read(buf); err != nil && err != io.EOF {
				return
			}
		}
	}()
	cfg := filepath.Join(b.TempDir(), "gated.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[relay]\ntype = \"lcus\"\ndevice = %q\n", p.Device)), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if out, err := exec.Command(bin, "relay", "lock", "--config", cfg).CombinedOutput(); err != nil {
			b.Fatalf("gated relay lock: %v\n%s", err, out)
		}
	}
}
