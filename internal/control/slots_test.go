package control

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlots walks the accounting through every limit: the per-uid cap, the
// slots callers below RoleAdmin share, the ones kept for admins, the
// bounded number of answered refusals, and every slot given back on close.
func TestSlots(t *testing.T) {
	if MaxConns != 16 || MaxConnsPerUser != 4 || AdminConns != 4 || maxRefusing != 8 {
		t.Fatalf("limits %d/%d/%d/%d: this test is written for 16/4/4/8", MaxConns, MaxConnsPerUser, AdminConns, maxRefusing)
	}
	s := newSlots()
	conns := map[string]net.Conn{}
	// c names a connection: the same name, the same connection.
	c := func(name string) net.Conn {
		if conns[name] == nil {
			conns[name] = &net.UnixConn{}
		}
		return conns[name]
	}
	type step struct {
		conn       string // "-" before the name: release it
		uid        uint32
		role       Role
		want       verdict
		wantStatus int    // 0: no refusal
		wantMsg    string // in the refusal
	}
	var steps []step
	add := func(prefix string, n int, uid uint32, role Role, want verdict, status int, msg string) {
		for i := 0; i < n; i++ {
			steps = append(steps, step{prefix + string(rune('a'+i)), uid, role, want, status, msg})
		}
	}
	add("A", 4, 1000, RoleRead, admitted, 0, "")
	add("A+", 2, 1000, RoleRead, refusing, 429, "too many connections from uid 1000: it holds 4")
	add("B", 4, 1001, RoleWrite, admitted, 0, "")
	add("C", 4, 1002, RoleRead, admitted, 0, "")
	add("D", 1, 1003, RoleRead, refusing, 503, "users without the admin role hold all 12")
	add("R", 4, 0, RoleAdmin, admitted, 0, "")
	add("R+", 1, 0, RoleAdmin, refusing, 503, "all 16 are in use")
	add("N", 4, 1005, RoleNone, refusing, 0, "")
	add("N+", 1, 1005, RoleNone, dropped, 0, "")
	add("E", 1, 1004, RoleAdmin, dropped, 503, "all 16 are in use")
	steps = append(steps,
		step{conn: "-A+a"}, // an answered refusal closed: room for one more
		step{"E2", 1004, RoleAdmin, refusing, 503, "all 16 are in use"},
		step{conn: "-Ra"}, // an admin slot freed
		step{conn: "-E2"},
		step{"F", 1003, RoleRead, refusing, 503, "users without the admin role hold all 12"}, // still not for them
		step{"G", 1004, RoleAdmin, admitted, 0, ""},
		step{conn: "-Aa"}, // a slot of uid 1000's freed
		step{conn: "-Aa"}, // twice: no effect
		step{conn: "-N+a"},
		step{"Aa2", 1000, RoleRead, admitted, 0, ""},
		step{conn: "-Na"},
		step{"Aa3", 1000, RoleRead, refusing, 429, "uid 1000"},
	)
	for i, st := range steps {
		if name, ok := strings.CutPrefix(st.conn, "-"); ok {
			s.release(c(name))
			continue
		}
		v, ref := s.take(c(st.conn), Peer{UID: st.uid}, st.role)
		switch {
		case v != st.want:
			t.Fatalf("step %d: take(%s, uid %d, %v) = verdict %d, want %d", i, st.conn, st.uid, st.role, v, st.want)
		case st.wantStatus == 0 && ref != nil:
			t.Fatalf("step %d: take(%s, uid %d, %v) refusal = %+v, want none", i, st.conn, st.uid, st.role, ref)
		case st.wantStatus != 0 && (ref == nil || ref.status != st.wantStatus || !strings.Contains(ref.msg, st.wantMsg) || !strings.Contains(ref.msg, "close some (gated watch sessions?)")):
			t.Fatalf("step %d: take(%s, uid %d, %v) refusal = %+v, want %d saying %q and what to close", i, st.conn, st.uid, st.role, ref, st.wantStatus, st.wantMsg)
		}
	}
	if s.total != MaxConns || s.shared != MaxConns-AdminConns || s.perUID[1000] != MaxConnsPerUser {
		t.Errorf("after the steps: total %d, shared %d, uid 1000 %d; want %d, %d, %d", s.total, s.shared, s.perUID[1000], MaxConns, MaxConns-AdminConns, MaxConnsPerUser)
	}
	for _, nc := range conns {
		s.release(nc)
	}
	if s.total != 0 || s.shared != 0 || s.refusing != 0 || len(s.perUID) != 0 || len(s.held) != 0 {
		t.Errorf("after releasing every connection: total %d, shared %d, refusing %d, perUID %v, held %d; want all 0",
			s.total, s.shared, s.refusing, s.perUID, len(s.held))
	}
}

// TestRefusalLogIsRateLimited: one line a second, with the count of those
// not logged.
func TestRefusalLogIsRateLimited(t *testing.T) {
	s := newSlots()
	t0 := time.Unix(1000, 0)
	if ok, n := s.logRefusal(t0); !ok || n != 0 {
		t.Errorf("first logRefusal = %v, %d; want true, 0", ok, n)
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := s.logRefusal(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Errorf("logRefusal %d00 ms after the last = true, want false", i)
		}
	}
	if ok, n := s.logRefusal(t0.Add(1100 * time.Millisecond)); !ok || n != 5 {
		t.Errorf("logRefusal 1.1 s after the last = %v, %d; want true, 5", ok, n)
	}
}

// TestRefusalsBeyondAFewAreClosedAtOnce, on a real socket: with every
// slot held, maxRefusing refused connections wait for their request to
// answer it; one more is closed at once, unanswered, so refused clients
// cannot pile up open files.
func TestRefusalsBeyondAFewAreClosedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gated.sock")
	l, err := Listen(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, "ok") }),
		Options{StaffGID: -1, WriteGID: -1, AdminGID: -1}) // default timeouts: a silent client is kept 10 s
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i := 0; i < MaxConns; i++ {
		if _, err := io.WriteString(dial(), "GET / HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	var waiting []net.Conn
	for i := 0; i < maxRefusing; i++ {
		waiting = append(waiting, dial())
	}
	extra := dial()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("connection %d with every slot and answer taken: Read = %d, %v; want it closed at once (EOF)", MaxConns+maxRefusing+1, n, err)
	}
	c := waiting[0]
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gated\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a refused connection waiting for its request: %v, want its 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !resp.Close || !strings.Contains(string(body), "all 16 are in use") {
		t.Errorf("refused request = %d (close %v) %s, want 503, Connection: close, saying all 16 are in use", resp.StatusCode, resp.Close, body)
	}
}

// BenchmarkConnection is the cost of one connection with one request, as
// the daemon pays it under a flood of connections: admitted (a slot free),
// and refused (every slot held, answered 503 and closed).
func BenchmarkConnection(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "admitted", true: "refused"}[full]
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "gated.sock")
			l, err := Listen(path, -1)
			if err != nil {
				b.Fatal(err)
			}
			srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, "ok") }),
				Options{StaffGID: -1, WriteGID: -1, AdminGID: -1})
			go srv.Serve(l)
			defer srv.Close()
			want := 200
			if full {
				want = 503
				for i := 0; i < MaxConns; i++ {
					c, err := net.Dial("unix", path)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					io.WriteString(c, "GET / HTTP/1.1\r\n")
				}
			}
			for b.Loop() {
				c, err := net.Dial("unix", path)
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: gated\r\nConnection: close\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || resp.StatusCode != want {
					b.Fatalf("answer = %v, %v; want %d", resp, err, want)
				}
				io.Copy(io.Discard, resp.Body)
				c.Close()
			}
		})
	}
}
