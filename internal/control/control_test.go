package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/testenv"
)

// serve starts a server on a fresh socket whose handler echoes the peer.
func serve(t *testing.T, staffGID int, logs *bytes.Buffer) string {
	t.Helper()
	dir := t.TempDir()
	// Let other users reach the socket's directory; the socket's own mode
	// and the server decide who may use it.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "gated.sock")
	l, err := control.Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v0/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, _ := control.PeerFrom(r.Context())
		control.WriteJSON(w, map[string]uint32{"uid": p.UID, "gid": p.GID})
	})
	mux.HandleFunc("POST /v0/echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		if err := control.ReadJSON(r, 1<<10, &in); err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		control.WriteJSON(w, in)
	})
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	srv := control.NewServer(mux, control.Options{Log: slog.New(h), StaffGID: staffGID})
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return path
}

func TestSocketModeAndPeerCredentials(t *testing.T) {
	var logs bytes.Buffer
	path := serve(t, -1, &logs)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want a socket with 0660", st.Mode())
	}
	c := &control.Client{Path: path}
	var got map[string]uint32
	if err := c.Do(context.Background(), "GET", "/v0/whoami", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got["uid"] != uint32(os.Getuid()) || got["gid"] != uint32(os.Getgid()) {
		t.Errorf("peer = %v, want uid %d gid %d", got, os.Getuid(), os.Getgid())
	}
	if want := fmt.Sprintf("uid=%d", os.Getuid()); !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "/v0/whoami") {
		t.Errorf("request log lacks %s and the path:\n%s", want, logs.String())
	}
}

func TestStrictBodiesAndErrors(t *testing.T) {
	c := &control.Client{Path: serve(t, -1, nil)}
	var out struct{ Name string }
	if err := c.Do(context.Background(), "POST", "/v0/echo", map[string]string{"Name": "a"}, &out); err != nil || out.Name != "a" {
		t.Errorf("echo = %+v, %v", out, err)
	}
	err := c.Do(context.Background(), "POST", "/v0/echo", map[string]string{"Nmae": "typo"}, &out)
	var ae *control.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "unknown field") {
		t.Errorf("echo with unknown field = %v, want a 400 naming the unknown field", err)
	}
}

func TestStaleAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gated.sock")
	// A stale socket (its listener gone) is replaced.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := control.Listen(path, -1)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	// A live one is not taken over.
	if _, err := control.Listen(path, -1); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("Listen over a live socket = %v, want an error", err)
	}
	l2.Close()
	// A regular file is never removed.
	file := filepath.Join(dir, "important")
	os.WriteFile(file, []byte("data"), 0o600)
	if _, err := control.Listen(file, -1); err == nil {
		t.Errorf("Listen over a regular file = nil error")
	}
	if b, _ := os.ReadFile(file); string(b) != "data" {
		t.Errorf("the regular file was changed")
	}
	if _, err := control.Listen("relative.sock", -1); err == nil {
		t.Errorf("Listen(relative path) = nil error")
	}
}

// TestOnlyStaffMayUseTheSocket connects as other users, from a child
// process (this test runs as root in CI). The socket is opened to everyone
// for the test, so that the server's own check is what refuses.
func TestOnlyStaffMayUseTheSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatalf("this test switches users and must run as root (CI does)")
	}
	const staff = 4242
	path := serve(t, staff, nil)
	os.Chmod(path, 0o666)
	// curl, as another user, is a client this package did not write.
	curlPath := testenv.Program(t, "curl", "curl")
	curl := func(uid, gid uint32, groups ...uint32) string {
		cmd := exec.Command(curlPath, "-s", "-o", "/dev/null", "-w", "status=%{http_code}", "--unix-socket", path, "http://gated/v0/whoami")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s: %v", out, err)
		}
		return string(out)
	}
	if out := curl(65534, 65534); !strings.Contains(out, "status=403") {
		t.Errorf("nobody: %s, want 403", out)
	}
	if out := curl(65534, staff); !strings.Contains(out, "status=200") {
		t.Errorf("primary group staff: %s, want 200", out)
	}
	if out := curl(65534, 65534, staff); !strings.Contains(out, "status=200") {
		t.Errorf("supplementary group staff: %s, want 200", out)
	}
}
