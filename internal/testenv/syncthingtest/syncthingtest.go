// Package syncthingtest runs real Syncthing instances on loopback for
// tests of the compound's transport (docs/compound-transport.md): a
// property office and a gate, each with its own home and keys, configured
// by deploy/syncthing/gated-sync-setup exactly as the document tells an
// office and a gate to, started and stopped with the test.
//
// Only tests import this package. It never skips a test: without the
// syncthing program a test fails saying to install it. It writes only
// below the directories the test gives it, and it stops only the
// processes it started (each instance is its own process group).
package syncthingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv"
)

// Program returns the syncthing executable, failing the test with
// "install syncthing (apt install syncthing)" when there is none.
func Program(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("syncthing")
	if err != nil {
		t.Fatalf("syncthingtest: syncthing is not installed: install syncthing (apt install syncthing; Debian 12 has 1.19.2)")
	}
	return p
}

// SetupScript returns the path of deploy/syncthing/gated-sync-setup.
func SetupScript(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.Root(t), "deploy", "syncthing", "gated-sync-setup")
}

// Setup runs gated-sync-setup with args, using syncthing, and returns what
// it printed, trimmed.
func Setup(t testing.TB, syncthing string, args ...string) string {
	t.Helper()
	cmd := exec.Command(SetupScript(t), args...)
	cmd.Env = append(os.Environ(), "SYNCTHING="+syncthing)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gated-sync-setup %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Layout names one office and one gate's directories: each side's
// Syncthing home and the folders it syncs.
type Layout struct {
	Gate       string // the gate's name (folder IDs gated-<Gate>-bundles, -events)
	OfficeHome string // the office's Syncthing home (/var/lib/gated-sync on the office PC)
	GateHome   string // the gate's Syncthing home (/var/lib/gated-sync on the gate)
	Outbox     string // the office's outbox tree; the gate's folder is Outbox/<Gate>
	Collect    string // the office's collect tree; the gate's folder is Collect/<Gate>
	Inbox      string // the gate's inbox (receive-only)
	GateOutbox string // the gate's outbox (send-only)
}

// Pair is an office and a gate configured for each other.
type Pair struct {
	OfficeID, GateID     string // device IDs
	OfficeAddr, GateAddr string // tcp://127.0.0.1:PORT
}

// Configure makes both sides' keys (gated-sync-setup id) and writes their
// configuration on loopback (gated-sync-setup office and gate), with free
// listen and GUI ports. Like deploy/gated-sync.tmpfiles on a gate, it
// makes the gate's two folders with their marker and .stignore (the
// office's are made by gated-sync-setup office).
func Configure(t testing.TB, syncthing string, l Layout) Pair {
	t.Helper()
	p := Pair{OfficeID: Setup(t, syncthing, "id", l.OfficeHome), GateID: Setup(t, syncthing, "id", l.GateHome),
		OfficeAddr: fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t)), GateAddr: fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t))}
	Setup(t, syncthing, "office", l.OfficeHome, "--outbox", l.Outbox, "--collect", l.Collect,
		"--gate", l.Gate+"="+p.GateID+"@"+p.GateAddr, "--listen", p.OfficeAddr, "--gui", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	Setup(t, syncthing, "gate", l.GateHome, "--gate", l.Gate, "--office", p.OfficeID+"@"+p.OfficeAddr,
		"--listen", p.GateAddr, "--gui", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), "--inbox", l.Inbox, "--outbox", l.GateOutbox)
	for _, d := range []struct{ path, kind string }{{l.Inbox, "gbundle"}, {l.GateOutbox, "gevents"}} {
		if err := os.MkdirAll(filepath.Join(d.path, ".stfolder"), 0o750); err != nil {
			t.Fatal(err)
		}
		ignore := Setup(t, syncthing, "ignore", d.kind) + "\n"
		if err := os.WriteFile(filepath.Join(d.path, ".stignore"), []byte(ignore), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Instance is one running Syncthing: its home, REST address and API key.
type Instance struct {
	Name, Home string
	GUI        string // host:port of the REST API
	APIKey     string
	Log        string // its output, shown when the test fails
	stop       func()
}

// Start runs syncthing serve on home until the test ends (under strace -f
// writing to trace, when trace is set) and returns it at once; it is
// ready when its folders are (see Idle).
func Start(t testing.TB, syncthing, name, home, trace string) *Instance {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(home, "config.xml"))
	if err != nil {
		t.Fatal(err)
	}
	st := &Instance{Name: name, Home: home, Log: filepath.Join(home, "test.log")}
	if m := regexp.MustCompile(`<apikey>([^<]+)</apikey>`).FindSubmatch(cfg); m != nil {
		st.APIKey = string(m[1])
	}
	if m := regexp.MustCompile(`(?s)<gui [^>]*>\s*<address>([^<]+)</address>`).FindSubmatch(cfg); m != nil {
		st.GUI = string(m[1])
	}
	if st.APIKey == "" || st.GUI == "" {
		t.Fatalf("%s: no GUI address or API key in config.xml:\n%s", name, cfg)
	}
	logf, err := os.Create(st.Log)
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{syncthing, "serve", "--home", home, "--no-browser", "--no-restart", "--logflags=3"}
	if trace != "" {
		argv = append([]string{testenv.Program(t, "strace", "strace"), "-f", "-qq", "-o", trace}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+home, "STNOUPGRADE=1", "STNODEFAULTFOLDER=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	var once sync.Once
	st.stop = func() {
		once.Do(func() {
			// Syncthing's monitor and its child (and strace) are one
			// process group, the one this test started.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		})
	}
	t.Cleanup(func() {
		st.stop()
		if t.Failed() {
			b, _ := os.ReadFile(st.Log)
			t.Logf("%s's Syncthing log:\n%s", name, b)
		}
	})
	return st
}

// Stop stops the instance (SIGINT, SIGKILL after 10 s) and waits for it;
// calling it again does nothing.
func (st *Instance) Stop() { st.stop() }

// REST GETs path from the instance's REST API into v.
func (st *Instance) REST(path string, v any) error {
	req, err := http.NewRequest("GET", "http://"+st.GUI+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", st.APIKey)
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", st.Name, path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// FolderStatus is the part of /rest/db/status the tests read.
type FolderStatus struct {
	State          string `json:"state"`
	NeedFiles      int    `json:"needFiles"`
	NeedDeletes    int    `json:"needDeletes"`
	LocalFiles     int    `json:"localFiles"`
	GlobalFiles    int    `json:"globalFiles"`
	ChangedFiles   int    `json:"receiveOnlyChangedFiles"`   // receive-only: changed here, kept local
	ChangedDeletes int    `json:"receiveOnlyChangedDeletes"` // receive-only: deleted here, kept local
}

// Folder returns the status of folder id.
func (st *Instance) Folder(id string) (FolderStatus, error) {
	var s FolderStatus
	err := st.REST("/rest/db/status?folder="+id, &s)
	return s, err
}

// WaitFor polls cond every 10 ms until it holds (true) or ctx ends
// (false).
func WaitFor(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}
