package control_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/testenv"
)

// server is a control server on a fresh socket, with handlers that show
// what the server knows and misbehave on request.
type server struct {
	path string
	logs *syncBuffer
	// streamEnded and floodEnded receive once per /v0/stream and /v0/flood
	// request that ended; slowCtx receives the context error /v0/slow saw.
	streamEnded, floodEnded chan struct{}
	slowCtx                 chan error
}

// syncBuffer: testenv's, a log written from other goroutines while the test reads it.
type syncBuffer = testenv.SyncBuffer

// serve starts a server on a fresh socket.
func serve(t *testing.T, opts control.Options) *server {
	t.Helper()
	dir := t.TempDir()
	// Let other users reach the socket's directory; the socket's own mode
	// and the server decide who may use it.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{
		path:        filepath.Join(dir, "gated.sock"),
		logs:        &syncBuffer{},
		streamEnded: make(chan struct{}, 64),
		floodEnded:  make(chan struct{}, 64),
		slowCtx:     make(chan error, 64),
	}
	l, err := control.Listen(s.path, -1)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v0/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, _ := control.PeerFrom(r.Context())
		control.WriteJSON(w, map[string]any{"uid": p.UID, "gid": p.GID, "role": control.RoleFrom(r.Context()).String()})
	})
	mux.HandleFunc("POST /v0/echo", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		if err := control.ReadJSON(r, 1<<10, &in); err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		control.WriteJSON(w, in)
	})
	// stream sends a line every 100 ms until the client leaves, as watch.
	mux.HandleFunc("GET /v0/stream", func(w http.ResponseWriter, r *http.Request) {
		defer func() { s.streamEnded <- struct{}{} }()
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "event %d\n", i); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	// flood writes as fast as the client reads, as a large backup.
	mux.HandleFunc("GET /v0/flood", func(w http.ResponseWriter, r *http.Request) {
		defer func() { s.floodEnded <- struct{}{} }()
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	// slow reads its body, then works for a second before answering, as
	// an enrollment waiting its turn.
	mux.HandleFunc("POST /v0/slow", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			control.WriteError(w, http.StatusBadRequest, err)
			return
		}
		time.Sleep(time.Second)
		s.slowCtx <- r.Context().Err()
		control.WriteJSON(w, "done")
	})
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(s.logs, nil))
	}
	srv := control.NewServer(mux, opts)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// noGroups maps no group to a role.
var noGroups = control.Options{StaffGID: -1, WriteGID: -1, AdminGID: -1}

func TestSocketModeAndPeerCredentials(t *testing.T) {
	s := serve(t, noGroups)
	st, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want a socket with 0660", st.Mode())
	}
	c := &control.Client{Path: s.path}
	var got struct {
		UID, GID uint32
		Role     string
	}
	if err := c.Do(context.Background(), "GET", "/v0/whoami", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.UID != uint32(os.Getuid()) || got.GID != uint32(os.Getgid()) || got.Role != "admin" {
		t.Errorf("whoami = %+v, want uid %d gid %d role admin (the daemon's own user)", got, os.Getuid(), os.Getgid())
	}
	if want := fmt.Sprintf("uid=%d", os.Getuid()); !strings.Contains(s.logs.String(), want) || !strings.Contains(s.logs.String(), "/v0/whoami") || !strings.Contains(s.logs.String(), "role=admin") {
		t.Errorf("request log lacks %s, the role and the path:\n%s", want, s.logs.String())
	}
}

func TestStrictBodiesAndErrors(t *testing.T) {
	c := &control.Client{Path: serve(t, noGroups).path}
	var out struct{ Name string }
	if err := c.Do(context.Background(), "POST", "/v0/echo", map[string]string{"Name": "a"}, &out); err != nil || out.Name != "a" {
		t.Errorf("echo = %+v, %v", out, err)
	}
	err := c.Do(context.Background(), "POST", "/v0/echo", map[string]string{"Nmae": "typo"}, &out)
	var ae *control.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "unknown field") {
		t.Errorf("echo with unknown field = %v, want a 400 naming the unknown field", err)
	}
	// Issue 12: a second object after the first was silently ignored.
	resp, err := c.Send(context.Background(), "POST", "/v0/echo", "application/json", strings.NewReader(`{"Name":"a"}{"Name":"b"}`))
	if err == nil {
		resp.Body.Close()
	}
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "more data after the JSON value") {
		t.Errorf("echo with two objects = %v, want a 400 saying there is more data after the JSON value", err)
	}
}

// TestReadJSON: exactly one JSON value, white space around it, nothing
// else; bodies over the limit are refused as such.
func TestReadJSON(t *testing.T) {
	tests := []struct {
		body    string
		wantErr string // "" for success
	}{
		{`{"Name":"a"}`, ""},
		{"  \n{\"Name\":\"a\"}\r\n\t ", ""},
		{`{"Name":"a"}{"Name":"b"}`, "more data after the JSON value"},
		{`{"Name":"a"} {"Name":"b"}`, "more data after the JSON value"},
		{`{"Name":"a"}]`, "more data after the JSON value"},
		{`{"Name":"a"}x`, "more data after the JSON value"},
		{`{"Name":"a"}` + "\x00", "more data after the JSON value"},
		{`{"Name":"a"} 1`, "more data after the JSON value"},
		{``, "empty"},
		{`   `, "empty"},
		{`{"Name":"a"`, "unexpected EOF"},
		{`{"Nmae":"a"}`, "unknown field"},
		{`{"Name":"` + strings.Repeat("a", 40) + `"}`, ""}, // 51 bytes: at the limit
		{`{"Name":"` + strings.Repeat("a", 41) + `"}`, "larger than 51 bytes"},   // one over
		{`{"Name":"a"}` + strings.Repeat(" ", 40), "larger than 51 bytes"},       // 52 bytes of which the tail is blank
		{`{"Name":"` + strings.Repeat("a", 4000) + `"}`, "larger than 51 bytes"}, // far over
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/v0/echo", strings.NewReader(tt.body))
		var v struct{ Name string }
		err := control.ReadJSON(r, 51, &v)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ReadJSON(%.30q) = %v, want success", tt.body, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ReadJSON(%.30q) = %v, want an error saying %q", tt.body, err, tt.wantErr)
		}
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

// curlAs asks for urlPath with curl (a client this package did not write)
// running as another user, and returns the HTTP status and the body. A
// request left waiting fails the test after 10 s.
func curlAs(t *testing.T, path, urlPath string, uid, gid uint32, groups ...uint32) (status int, body string) {
	t.Helper()
	curl := testenv.Program(t, "curl", "curl")
	cmd := exec.Command(curl, "-s", "--max-time", "10", "-w", "\n%{http_code}", "--unix-socket", path, "http://gated"+urlPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 28 {
		t.Fatalf("curl %s as uid %d gid %d groups %v: no answer within 10 s (left waiting for a connection?)", urlPath, uid, gid, groups)
	}
	if err != nil {
		t.Fatalf("curl %s as uid %d gid %d groups %v: %v (%s)", urlPath, uid, gid, groups, err, out)
	}
	text := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(text, '\n')
	body, code := text[:i+1], text[i+1:]
	if _, err := fmt.Sscan(code, &status); err != nil {
		t.Fatalf("curl output %q: no status", out)
	}
	return status, body
}

// whoamiAs asks for /v0/whoami as another user and returns the status,
// the role the handler saw (when it answered) and the body.
func whoamiAs(t *testing.T, path string, uid, gid uint32, groups ...uint32) (status int, role, body string) {
	t.Helper()
	status, body = curlAs(t, path, "/v0/whoami", uid, gid, groups...)
	var who struct{ Role string }
	if status == 200 {
		if err := json.Unmarshal([]byte(body), &who); err != nil {
			t.Fatalf("whoami body %q: %v", body, err)
		}
	}
	return status, who.Role, body
}

// TestRolesFromPeerCredentials connects as other users, from child
// processes with the credentials set by the kernel (this test runs as root,
// as CI does): each role comes from the real SO_PEERCRED and the real
// supplementary groups in /proc. The socket is opened to everyone for the
// test, so that the server's own check is what refuses.
func TestRolesFromPeerCredentials(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatalf("this test switches users and must run as root (CI does)")
	}
	const staff, write, admin, other = 4242, 4243, 4244, 4999
	type refusal struct {
		peer control.Peer
		path string
	}
	refused := make(chan refusal, 8)
	opts := control.Options{StaffGID: staff, WriteGID: write, AdminGID: admin,
		Refused: func(p control.Peer, r *http.Request) { refused <- refusal{p, r.URL.Path} }}
	s := serve(t, opts)
	os.Chmod(s.path, 0o666)
	tests := []struct {
		name     string
		gid      uint32
		groups   []uint32
		wantRole string // "" for refused
	}{
		{"in no staff group", 65534, nil, ""},
		{"in an unrelated group", 65534, []uint32{other}, ""},
		{"in the root group", 0, nil, ""}, // a group, not root: root is a uid
		{"primary group staff", staff, nil, "read"},
		{"supplementary group staff", 65534, []uint32{staff}, "read"},
		{"staff and write", 65534, []uint32{staff, write}, "write"},
		{"primary write, supplementary staff", write, []uint32{staff}, "write"},
		{"write and an unrelated group", 65534, []uint32{other, write}, "write"},
		{"admin only", 65534, []uint32{admin}, "admin"},
		{"primary admin, supplementary write", admin, []uint32{write}, "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, role, _ := whoamiAs(t, s.path, 65534, tt.gid, tt.groups...)
			if tt.wantRole == "" {
				if status != 403 {
					t.Fatalf("uid 65534 gid %d groups %v: status %d, want 403", tt.gid, tt.groups, status)
				}
				select {
				case r := <-refused:
					if r.peer.UID != 65534 || r.peer.GID != tt.gid || r.peer.PID == 0 || r.path != "/v0/whoami" {
						t.Errorf("Refused(%+v, %s), want uid 65534 gid %d, a pid and /v0/whoami", r.peer, r.path, tt.gid)
					}
				default:
					t.Errorf("a refused request was not reported to Options.Refused")
				}
				return
			}
			if status != 200 || role != tt.wantRole {
				t.Errorf("uid 65534 gid %d groups %v: status %d role %q, want 200 %q", tt.gid, tt.groups, status, role, tt.wantRole)
			}
		})
	}
	if len(refused) != 0 {
		t.Errorf("Options.Refused called %d times for admitted requests", len(refused))
	}
	if !strings.Contains(s.logs.String(), "request refused") || !strings.Contains(s.logs.String(), "uid=65534") {
		t.Errorf("refusals not logged with the peer:\n%s", s.logs.String())
	}

	// A server whose write and admin groups were left at zero does not
	// make the root group's members anything.
	zero := serve(t, control.Options{StaffGID: staff})
	os.Chmod(zero.path, 0o666)
	if status, _, _ := whoamiAs(t, zero.path, 65534, 0); status != 403 {
		t.Errorf("Options{StaffGID only}, peer in group 0: status %d, want 403", status)
	}
	if status, role, _ := whoamiAs(t, zero.path, 65534, staff); status != 200 || role != "read" {
		t.Errorf("Options{StaffGID only}, staff peer: %d %q, want 200 read", status, role)
	}
}

// holdConn opens a raw connection and sends the start of a request it
// never finishes.
func holdConn(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /v0/whoami HTTP/1.1\r\nHost: gated\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConnectionLimitAnswersAtOnce: with MaxConns connections held open
// (by root, who may take them all), the next client is answered 503 at
// once instead of left waiting, also one sending a large body; when a held
// connection closes, the next is served.
func TestConnectionLimitAnswersAtOnce(t *testing.T) {
	s := serve(t, noGroups) // default timeouts: the held connections stay 10 s
	var held []net.Conn
	for i := 0; i < control.MaxConns; i++ {
		held = append(held, holdConn(t, s.path))
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	c := &control.Client{Path: s.path}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Do(ctx, "GET", "/v0/whoami", nil, nil)
	var ae *control.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(ae.Message, fmt.Sprintf("all %d are in use", control.MaxConns)) {
		t.Fatalf("request with %d connections held = %v, want a 503 at once saying all are in use", control.MaxConns, err)
	}
	// A refused upload still gets the answer, not a broken pipe.
	big := map[string]string{"Name": strings.Repeat("x", 1<<20)}
	if err := c.Do(ctx, "POST", "/v0/echo", big, nil); !errors.As(err, &ae) || ae.Status != 503 {
		t.Errorf("1 MB POST with %d connections held = %v, want the 503", control.MaxConns, err)
	}
	held[0].Close()
	held = held[1:]
	// The slot is free once the server has seen the close.
	for {
		err := c.Do(ctx, "GET", "/v0/whoami", nil, nil)
		if err == nil {
			break
		}
		if !errors.As(err, &ae) || ae.Status != 503 {
			t.Fatalf("request after a held connection closed = %v, want success", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("still refused 5 s after a held connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamAs starts curl as another user on /v0/stream, as `gated watch`
// would, and returns once the server has answered: with the running curl
// (killed at the end of the test) when the stream started, or with the
// status and body of the refusal.
func streamAs(t *testing.T, path string, uid, gid uint32, groups ...uint32) (running *exec.Cmd, status int, body string) {
	t.Helper()
	curl := testenv.Program(t, "curl", "curl")
	cmd := exec.Command(curl, "-s", "-N", "--max-time", "60", "-w", "\n%{http_code}\n", "--unix-socket", path, "http://gated/v0/stream")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("curl as uid %d: %v", uid, err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	type answer struct {
		first, rest string
		err         error
	}
	got := make(chan answer, 1)
	go func() {
		r := bufio.NewReader(out)
		first, err := r.ReadString('\n')
		if err != nil || strings.HasPrefix(first, "event ") {
			got <- answer{first: first, err: err}
			return
		}
		rest, err := io.ReadAll(r)
		got <- answer{first, string(rest), err}
	}()
	select {
	case a := <-got:
		if a.err != nil {
			stop()
			t.Fatalf("curl stream as uid %d: %v (read %q)", uid, a.err, a.first)
		}
		if strings.HasPrefix(a.first, "event ") {
			t.Cleanup(stop)
			return cmd, 200, a.first
		}
		cmd.Wait()
		text := strings.TrimSpace(a.first + a.rest)
		i := strings.LastIndexByte(text, '\n')
		if _, err := fmt.Sscan(text[i+1:], &status); err != nil {
			t.Fatalf("curl stream as uid %d: output %q has no status", uid, text)
		}
		return nil, status, text[:i+1]
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("curl stream as uid %d: no answer within 10 s (left waiting for a connection?)", uid)
	}
	return nil, 0, ""
}

// TestOneUserCannotLockOthersOut replays F8 of issue 12 with real peer
// credentials (curl in child processes as other users; this test runs as
// root, as CI does): a read-role user starting 16 watch streams kept root's
// status from being answered. Now that user gets MaxConnsPerUser streams
// and a 429 at once for each more; other users and the admins are served;
// when the users below admin hold every slot they may share, root and the
// admin group still are, and a closed stream gives its slot back.
func TestOneUserCannotLockOthersOut(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatalf("this test switches users and must run as root (CI does)")
	}
	const staff, write, admin, nogroup = 4242, 4243, 4244, 65534
	const attacker, reader, writer, late, adminMember, stranger = 4301, 4302, 4303, 4304, 4305, 4306
	refused := make(chan control.Peer, 8)
	s := serve(t, control.Options{StaffGID: staff, WriteGID: write, AdminGID: admin,
		Refused: func(p control.Peer, r *http.Request) { refused <- p }})
	os.Chmod(s.path, 0o666)

	var streams []*exec.Cmd
	for i := 0; i < 16; i++ {
		cmd, status, body := streamAs(t, s.path, attacker, nogroup, staff)
		if cmd != nil {
			streams = append(streams, cmd)
			continue
		}
		if want := fmt.Sprintf("too many connections from uid %d", attacker); status != 429 || !strings.Contains(body, want) || !strings.Contains(body, "gated watch") {
			t.Errorf("watch %d of uid %d = %d %s, want 429 saying %q and what to close", i+1, attacker, status, body, want)
		}
	}
	if len(streams) != control.MaxConnsPerUser {
		t.Fatalf("uid %d (read role) holds %d of its 16 watch streams, want %d", attacker, len(streams), control.MaxConnsPerUser)
	}
	if status, _, body := whoamiAs(t, s.path, attacker, nogroup, staff); status != 429 {
		t.Errorf("uid %d's next request with its %d streams open = %d %s, want 429", attacker, control.MaxConnsPerUser, status, body)
	}
	if status, role, body := whoamiAs(t, s.path, reader, nogroup, staff); status != 200 || role != "read" {
		t.Errorf("another read-role uid while uid %d holds its streams = %d %s, want 200 read", attacker, status, body)
	}
	if status, role, body := whoamiAs(t, s.path, 0, 0); status != 200 || role != "admin" {
		t.Errorf("root while uid %d holds its streams = %d %s, want 200 admin", attacker, status, body)
	}

	// Two more users take every slot users below admin may share.
	for i := 0; i < control.MaxConnsPerUser; i++ {
		for _, u := range []struct {
			uid   uint32
			group uint32
		}{{reader, staff}, {writer, write}} {
			if cmd, status, body := streamAs(t, s.path, u.uid, nogroup, u.group); cmd == nil {
				t.Fatalf("watch %d of uid %d = %d %s, want it streaming", i+1, u.uid, status, body)
			}
		}
	}
	if status, _, body := whoamiAs(t, s.path, late, nogroup, staff); status != 503 || !strings.Contains(body, fmt.Sprintf("hold all %d", control.MaxConns-control.AdminConns)) {
		t.Errorf("a fourth read-role uid with the shared slots taken = %d %s, want 503 saying they are", status, body)
	}
	if status, role, body := whoamiAs(t, s.path, 0, 0); status != 200 || role != "admin" {
		t.Errorf("root with the shared slots taken = %d %s, want 200 admin", status, body)
	}
	if status, role, body := whoamiAs(t, s.path, adminMember, nogroup, admin); status != 200 || role != "admin" {
		t.Errorf("an admin-group member with the shared slots taken = %d %s, want 200 admin", status, body)
	}
	// Root may take the slots kept for admins, all of them.
	for i := 0; i < control.AdminConns; i++ {
		if cmd, status, body := streamAs(t, s.path, 0, 0); cmd == nil {
			t.Fatalf("root's watch %d with the shared slots taken = %d %s, want it streaming", i+1, status, body)
		}
	}
	if status, _, body := whoamiAs(t, s.path, 0, 0); status != 503 || !strings.Contains(body, fmt.Sprintf("all %d are in use", control.MaxConns)) {
		t.Errorf("root with every slot taken = %d %s, want 503 saying all are in use", status, body)
	}
	// A caller with no role is still told so, and reported.
	if status, _, _ := whoamiAs(t, s.path, stranger, nogroup); status != 403 {
		t.Errorf("uid %d in no staff group with every slot taken: status %d, want 403", stranger, status)
	}
	select {
	case p := <-refused:
		if p.UID != stranger {
			t.Errorf("Refused(uid %d), want uid %d", p.UID, stranger)
		}
	default:
		t.Errorf("a RoleNone request was not reported to Options.Refused")
	}

	// Closing a stream gives its slot back to its user.
	streams[0].Process.Kill()
	streams[0].Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _, body := whoamiAs(t, s.path, attacker, nogroup, staff)
		if status == 200 {
			break
		}
		if status != 429 || time.Now().After(deadline) {
			t.Fatalf("uid %d after closing one of its streams = %d %s, want 200 within 5 s", attacker, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "connection refused") || !strings.Contains(s.logs.String(), fmt.Sprintf("uid=%d", attacker)) {
		t.Errorf("refused connections not logged with the peer:\n%s", s.logs.String())
	}
}

// shortTimeouts are the timeouts of the slow-client tests.
var shortTimeouts = control.Options{StaffGID: -1, WriteGID: -1, AdminGID: -1,
	HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
	ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}

// TestSlowClientsLoseTheirSlot fills every slot with a client that stalls
// in a different way (slowloris headers, silence, a trickled body, an idle
// keep-alive, a response it never reads): each is disconnected after its
// timeout, and a well-behaved client is then served.
func TestSlowClientsLoseTheirSlot(t *testing.T) {
	s := serve(t, shortTimeouts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trickle := func(c net.Conn, b string) {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := c.Write([]byte{b[i%len(b)]}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	kinds := []struct {
		name  string
		start func(c net.Conn)
	}{
		{"slowloris headers", func(c net.Conn) { go trickle(c, "GET /v0/whoami HTTP/1.1\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaa") }},
		{"silent", func(c net.Conn) {}},
		{"trickled body", func(c net.Conn) {
			io.WriteString(c, "POST /v0/echo HTTP/1.1\r\nHost: gated\r\nContent-Length: 1000\r\n\r\n")
			go trickle(c, "{")
		}},
		{"idle keep-alive", func(c net.Conn) {
			io.WriteString(c, "GET /v0/whoami HTTP/1.1\r\nHost: gated\r\n\r\n")
		}},
		{"never reads the answer", func(c net.Conn) {
			io.WriteString(c, "GET /v0/flood HTTP/1.1\r\nHost: gated\r\n\r\n")
		}},
	}
	type slow struct {
		name string
		c    net.Conn
	}
	var conns []slow
	for i := 0; i < control.MaxConns; i++ {
		k := kinds[i%len(kinds)]
		c, err := net.Dial("unix", s.path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		k.start(c)
		conns = append(conns, slow{k.name, c})
	}
	// Each is cut off: reading its end sees the server close it. (The
	// flood reader never reads, by design; the server's side ends.)
	for _, sc := range conns {
		if sc.name == "never reads the answer" {
			continue
		}
		sc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, sc.c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s client still connected after 5 s, want it cut off after its 300 ms timeout", sc.name)
		}
	}
	for i := 0; i < control.MaxConns/len(kinds); i++ {
		select {
		case <-s.floodEnded:
		case <-time.After(5 * time.Second):
			t.Fatalf("a response the client never reads still blocks the handler after 5 s, want it cut off after 300 ms")
		}
	}
	c := &control.Client{Path: s.path}
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if err := c.Do(cctx, "GET", "/v0/whoami", nil, nil); err != nil {
		t.Fatalf("well-behaved request after the slow clients = %v, want success", err)
	}
}

// TestLongRequestsOutliveTimeouts: the timeouts cut stalls, not work. A
// stream read by its client (watch) lives far longer than every timeout,
// and a handler busy after reading its body keeps its request context.
func TestLongRequestsOutliveTimeouts(t *testing.T) {
	s := serve(t, shortTimeouts)
	c := &control.Client{Path: s.path}
	resp, err := c.Send(context.Background(), "GET", "/v0/stream", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	n := 0
	for time.Since(start) < 2*time.Second && sc.Scan() {
		n++
	}
	resp.Body.Close()
	if n < 10 {
		t.Errorf("stream gave %d lines in %v (%v), want it to keep going past the 300 ms timeouts", n, time.Since(start).Round(time.Millisecond), sc.Err())
	}
	select {
	case <-s.streamEnded:
	case <-time.After(5 * time.Second):
		t.Errorf("stream handler still running 5 s after its client left")
	}

	var out string
	if err := c.Do(context.Background(), "POST", "/v0/slow", map[string]string{"a": "b"}, &out); err != nil || out != "done" {
		t.Fatalf("slow request = %q, %v; want done", out, err)
	}
	if err := <-s.slowCtx; err != nil {
		t.Errorf("slow handler's context = %v after its body was read, want it alive", err)
	}
}

// FuzzReadJSON: ReadJSON accepts a body only if it is one valid JSON value
// with nothing but white space around it, within the limit; and it accepts
// every such body holding the expected object.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{`{"Name":"a"}`, `{"Name":"a"}{"Name":"b"}`, " {}\n", `{"Name":"a"}]`, `[]`, `{"Name":1}`, "", `{"Name":"\u00e9"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const limit = 64
		var v struct{ Name string }
		err := control.ReadJSON(httptest.NewRequest("POST", "/", bytes.NewReader(body)), limit, &v)
		trimmed := bytes.Trim(body, " \t\r\n")
		if err == nil && (len(body) > limit || !json.Valid(trimmed)) {
			t.Fatalf("ReadJSON(%q) accepted a body that is not one JSON value within %d bytes", body, limit)
		}
		// The converse, for the object the handler expects.
		name, merr := json.Marshal(v.Name)
		if err != nil && merr == nil && len(body) <= limit && bytes.Equal(trimmed, []byte(`{"Name":`+string(name)+`}`)) {
			t.Fatalf("ReadJSON(%q) = %v, want it accepted", body, err)
		}
	})
}
