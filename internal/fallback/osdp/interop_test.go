package osdp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// libosdpPython returns the python that has libosdp: $GATED_LIBOSDP_PYTHON,
// else the venv scripts/setup-libosdp.sh makes. It fails the test, naming
// the fix, when that python cannot import libosdp.
func libosdpPython(t testing.TB) string {
	t.Helper()
	py := os.Getenv("GATED_LIBOSDP_PYTHON")
	if py == "" {
		cache := os.Getenv("GATED_CACHE")
		if cache == "" {
			base := os.Getenv("XDG_CACHE_HOME")
			if base == "" {
				home, _ := os.UserHomeDir()
				base = filepath.Join(home, ".cache")
			}
			cache = filepath.Join(base, "gated")
		}
		py = filepath.Join(cache, "venv", "bin", "python")
	}
	out, err := exec.Command(py, "-c", "import osdp, osdp_sys").CombinedOutput()
	if err != nil {
		t.Fatalf("libosdp not available in %s (%v: %s): run scripts/setup-libosdp.sh (or make setup), or set GATED_LIBOSDP_PYTHON to a python with libosdp 3.2.9", py, err, bytes.TrimSpace(out))
	}
	return py
}

// pd is a libosdp peripheral device running testdata/pd.py.
type pd struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startPD(t testing.TB, py, port string, addr int, args ...string) *pd {
	t.Helper()
	argv := append([]string{"testdata/pd.py", "--port", port, "--address", fmt.Sprint(addr)}, args...)
	cmd := exec.Command(py, argv...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start libosdp PD: %v", err)
	}
	p := &pd{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 256), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("PD stderr:\n%s", stderr.String())
		}
	})
	p.expect("ready", 10*time.Second)
	return p
}

func (p *pd) send(format string, args ...any) {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.stdin, format+"\n", args...); err != nil {
		p.t.Fatalf("PD stdin: %v", err)
	}
}

// expect waits for a line starting with prefix and returns it.
func (p *pd) expect(prefix string, d time.Duration) string {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l := <-p.lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-p.done:
			p.t.Fatalf("PD exited waiting for %q", prefix)
		case <-timeout:
			p.t.Fatalf("PD did not print %q within %v", prefix, d)
		}
	}
}

func (p *pd) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// recorder keeps the traffic the CP sees, to write it to testdata.
type recorder struct {
	mu    sync.Mutex
	on    bool
	lines []string
}

func (r *recorder) trace(tx bool, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	dir := "<"
	if tx {
		dir = ">"
	}
	r.lines = append(r.lines, dir+" "+hex.EncodeToString(b))
}

func (r *recorder) stop() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.lines
}

// recordFile is the libosdp traffic replayed by TestReplayLibosdp. Set
// GATED_OSDP_RECORD=1 to record it again.
const recordFile = "testdata/libosdp-pairing.txt"

// recordSeed makes the CP's random numbers (RND.A, the new key)
// reproducible, so the replay can derive the session keys.
const recordSeed = 4242

func TestInteropLibosdp(t *testing.T) {
	py := libosdpPython(t)
	pair := serialtest.New(t)
	const addr = 101

	var savedMu sync.Mutex
	var saved []byte
	rec := &recorder{on: true}
	r, err := osdp.New(osdp.Config{
		Name:    "osdp-gate",
		Path:    pair.Device,
		Address: addr,
		Install: true,
		SaveKey: func(k []byte) error {
			savedMu.Lock()
			saved = append([]byte(nil), k...)
			savedMu.Unlock()
			return nil
		},
		Rand:         rand.NewChaCha8([32]byte{recordSeed % 256, recordSeed / 256}),
		ReplyTimeout: 200 * time.Millisecond,
		InterKey:     2 * time.Second,
		Trace:        rec.trace,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan fallback.Event, 64)
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx, events) }()
	defer func() { cancel(); <-runDone }()

	// 1. Pairing: SCBK-D in install mode, then KEYSET of a new key.
	dev := startPD(t, py, pair.Peer, addr, "--install")
	keyset := dev.expect("cmd keyset", 10*time.Second)
	waitUp(t, r, 5*time.Second)
	savedMu.Lock()
	key := saved
	savedMu.Unlock()
	if len(key) != 16 || !strings.Contains(keyset, hex.EncodeToString(key)) {
		t.Fatalf("PD got %q, want the saved key %x", keyset, key)
	}
	if !r.Secured() {
		t.Fatal("reader up but not secured")
	}
	if id, ok := r.ID(); !ok || id.Serial != 0xdeadbeaf {
		t.Errorf("ID() = %v, %v, want libosdp's default serial deadbeaf", id, ok)
	}

	// 2. Cards over the secure channel (osdp_RAW, encrypted).
	w26, _ := fallback.EncodeWiegand(1, 12345, 26)
	dev.send("card 26 %s", hex.EncodeToString(osdpBits(w26, 26)))
	expectCard(t, events, "1:12345", fallback.FormatWiegand26)
	dev.send("rawcard 56 04a1b2c3d4e5f6")
	expectCard(t, events, "1303689068602870", fallback.FormatRaw)
	// Bad parity from the reader: dropped, never a card.
	dropped := r.Health().Dropped
	dev.send("card 26 %s", hex.EncodeToString(osdpBits(w26^1<<3, 26)))
	waitFor(t, "bad parity counted", 3*time.Second, func() bool { return r.Health().Dropped > dropped })

	// 3. Keys: '*' (0x7F) clears, '#' (0x0D) submits.
	dev.send("keys 12C34E")
	pin := expectPIN(t, events)
	if pin != "34" {
		t.Errorf("PIN = %q, want 34", pin)
	}
	dev.send("keys 9#")
	if pin := expectPIN(t, events); pin != "9" {
		t.Errorf("PIN = %q, want 9", pin)
	}

	// 4. Feedback commands are ACKed and reach the reader.
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	if err := r.LED(cctx, osdp.LED{Color: osdp.Green, Duration: 2 * time.Second}); err != nil {
		t.Fatalf("LED: %v", err)
	}
	if l := dev.expect("cmd led", 3*time.Second); !strings.Contains(l, `"on_color": 2`) {
		t.Errorf("PD LED command = %s, want on_color 2 (green)", l)
	}
	if err := r.Buzz(cctx, osdp.Buzz{On: 200 * time.Millisecond, Off: 100 * time.Millisecond, Count: 2}); err != nil {
		t.Fatalf("Buzz: %v", err)
	}
	if l := dev.expect("cmd buzzer", 3*time.Second); !strings.Contains(l, `"rep_count": 2`) {
		t.Errorf("PD buzzer command = %s, want rep_count 2", l)
	}
	if lines := rec.stop(); os.Getenv("GATED_OSDP_RECORD") == "1" {
		hdr := fmt.Sprintf("# libosdp 3.2.9 PD (install mode) <-> gated CP, address %d, CP random from ChaCha8 seed %d.\n# > CP to PD, < PD to CP; whole packets in hex.\n", addr, recordSeed)
		if err := os.WriteFile(recordFile, []byte(hdr+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d packets to %s", len(lines), recordFile)
	}

	// 5. Unplug the reader: offline after missed replies.
	dev.kill()
	took := waitFor(t, "reader down after the PD died", 3*time.Second, func() bool { return !r.Health().Up })
	t.Logf("down %v after the PD was killed (%s)", took, r.Health().LastErr)
	if err := r.LED(cctx, osdp.LED{Color: osdp.Red}); !errors.Is(err, osdp.ErrOffline) {
		t.Errorf("LED while offline = %v, want ErrOffline", err)
	}

	// 6. It comes back with its own key (no longer in install mode).
	dev = startPD(t, py, pair.Peer, addr, "--scbk", hex.EncodeToString(key))
	took = waitUp(t, r, 5*time.Second)
	t.Logf("up %v after the PD restarted with its own key", took)
	dev.send("card 26 %s", hex.EncodeToString(osdpBits(w26, 26)))
	expectCard(t, events, "1:12345", fallback.FormatWiegand26)

	// 7. A reader with another key is never trusted.
	dev.kill()
	waitFor(t, "reader down", 3*time.Second, func() bool { return !r.Health().Up })
	_ = startPD(t, py, pair.Peer, addr, "--scbk", strings.Repeat("ab", 16))
	time.Sleep(1500 * time.Millisecond)
	if h := r.Health(); h.Up || !strings.Contains(h.LastErr, "key") {
		t.Errorf("health with a wrong-key reader = %+v, want down with a key error", h)
	}
	if h := r.Health(); h.Reconnects < 1 {
		t.Errorf("Reconnects = %d, want >= 1", h.Reconnects)
	}
}

// osdpBits left-aligns an n-bit value in bytes, as osdp_RAW carries it.
func osdpBits(v uint64, n int) []byte {
	d := osdp.EncodeRaw(0, 1, v, n)
	return d[4:]
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func waitUp(t testing.TB, r *osdp.Reader, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !r.Health().Up {
		if time.Since(start) > d {
			t.Fatalf("reader not up within %v: %+v", d, r.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func expectCard(t testing.TB, events <-chan fallback.Event, key string, f fallback.Format, reader ...string) {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind != fallback.KindCard {
				continue
			}
			want := "osdp-gate"
			if len(reader) > 0 {
				want = reader[0]
			}
			if ev.Card.Key() != key || ev.Card.Format != f || ev.Reader != want {
				t.Fatalf("card event = %v (%v), want %s %v", ev, ev.Card.Format, key, f)
			}
			return
		case <-timeout:
			t.Fatalf("no card %s within 3s", key)
		}
	}
}

func expectPIN(t testing.TB, events <-chan fallback.Event) string {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == fallback.KindPIN {
				return ev.PIN.Reveal()
			}
		case <-timeout:
			t.Fatal("no PIN within 3s")
		}
	}
}
