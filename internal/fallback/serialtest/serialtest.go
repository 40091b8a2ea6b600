// Package serialtest gives tests real serial lines: pseudo-terminal pairs made
// by socat, at stable paths that can be unplugged (removed) and plugged back
// (recreated) while a reader holds the other end.
//
// It owns only the socat processes it starts, and stops them when the test
// ends. It is not a fake: bytes written at one end go through the kernel's
// tty layer to the other. It must never be imported outside tests.
package serialtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Pair is a socat pseudo-terminal pair. Device is the end a driver under test
// opens (as it would open /dev/ttyUSB0); Peer is the end the test opens to
// play the reader or relay board.
type Pair struct {
	Device string // path of the driver's end (a symlink socat makes)
	Peer   string // path of the test's end

	t   testing.TB
	mu  sync.Mutex
	cmd *exec.Cmd
}

// Socat returns the path of socat, failing the test when it is missing.
func Socat(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("socat")
	if err != nil {
		t.Fatalf("socat not found: run make setup (apt install socat): %v", err)
	}
	return p
}

// New starts a pty pair in a temporary directory and stops it at the end of
// the test.
func New(t testing.TB) *Pair {
	t.Helper()
	// Not t.TempDir: its name follows the test's, and socat's address
	// syntax cannot take a path with a comma.
	dir, err := os.MkdirTemp("", "serialtest")
	if err != nil {
		t.Fatalf("serialtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &Pair{
		Device: filepath.Join(dir, "device"),
		Peer:   filepath.Join(dir, "peer"),
		t:      t,
	}
	p.Plug()
	t.Cleanup(p.Unplug)
	return p
}

// Plug starts socat, creating both paths; it waits until they exist.
func (p *Pair) Plug() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	cmd := exec.Command(Socat(p.t), "-d", "-d",
		"pty,raw,echo=0,link="+p.Device,
		"pty,raw,echo=0,link="+p.Peer)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatalf("serialtest: socat stderr: %v", err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("serialtest: start socat: %v", err)
	}
	// socat -d -d prints "N PTY is /dev/pts/X" for each end, then
	// "starting data transfer loop" once both are ready.
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		sent := false
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if !sent && strings.Contains(sc.Text(), "starting data transfer loop") {
				ready <- nil
				sent = true
			}
		}
		if !sent {
			ready <- fmt.Errorf("socat exited: %s", strings.Join(lines, "; "))
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			p.t.Fatalf("serialtest: %v", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		p.t.Fatalf("serialtest: socat did not make a pty pair within 5s")
	}
	p.cmd = cmd
}

// Unplug stops socat: both ptys vanish, their paths are removed, and a
// driver holding the device end sees its reads and writes fail, as with a
// USB adapter pulled out.
func (p *Pair) Unplug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(unix.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
	// socat removes its links on a clean exit; make sure on any exit.
	_ = os.Remove(p.Device)
	_ = os.Remove(p.Peer)
}

// OpenPeer opens the test's end in raw mode. Reads on it time out after
// timeout (rounded to 0.1 s, at least 0.1 s) and then return (0, io.EOF).
func (p *Pair) OpenPeer(timeout time.Duration) *Port {
	p.t.Helper()
	port, err := OpenRaw(p.Peer, timeout)
	if err != nil {
		p.t.Fatalf("serialtest: %v", err)
	}
	p.t.Cleanup(func() { _ = port.Close() })
	return port
}

// Port is a raw tty opened by OpenRaw.
type Port struct {
	f *os.File
}

// OpenRaw opens a tty in raw mode with a read timeout.
func OpenRaw(path string, timeout time.Duration) (*Port, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("serialtest: open %s: %w", path, err)
	}
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("serialtest: termios %s: %w", path, err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	ds := timeout / (100 * time.Millisecond)
	ds = max(1, min(ds, 255))
	tio.Cc[unix.VMIN] = 0
	tio.Cc[unix.VTIME] = uint8(ds)
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, tio); err != nil {
		f.Close()
		return nil, fmt.Errorf("serialtest: termios %s: %w", path, err)
	}
	return &Port{f: f}, nil
}

// Read reads what has arrived, waiting at most the port's timeout.
func (p *Port) Read(b []byte) (int, error) { return p.f.Read(b) }

// Write writes b to the line.
func (p *Port) Write(b []byte) (int, error) { return p.f.Write(b) }

// Close closes the port.
func (p *Port) Close() error { return p.f.Close() }

// ReadFull reads exactly n bytes, failing after d.
func (p *Port) ReadFull(n int, d time.Duration) ([]byte, error) {
	buf := make([]byte, 0, n)
	tmp := make([]byte, n)
	deadline := time.Now().Add(d)
	for len(buf) < n {
		if time.Now().After(deadline) {
			return buf, fmt.Errorf("serialtest: read %d of %d bytes in %v", len(buf), n, d)
		}
		k, err := p.f.Read(tmp[:n-len(buf)])
		buf = append(buf, tmp[:k]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return buf, fmt.Errorf("serialtest: read: %w", err)
		}
	}
	return buf, nil
}

// Drain reads and returns whatever arrives until the line is idle for one
// read timeout.
func (p *Port) Drain() []byte {
	var out []byte
	tmp := make([]byte, 4096)
	for {
		k, err := p.f.Read(tmp)
		out = append(out, tmp[:k]...)
		if k == 0 || err != nil {
			return out
		}
	}
}
