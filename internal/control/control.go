// Package control is how staff reach the running daemon: HTTP/1.1 over a
// unix socket, with JSON bodies under versioned paths (/v0/...). It owns the
// socket (its mode and group, how many connections it serves at once and
// for how long), the identification of every caller by the kernel's peer
// credentials, the caller's Role, and the client the gated command uses.
//
// Roles, after tailscale's ipn/ipnauth: root and the daemon's own user are
// RoleAdmin; anyone else gets the highest role a group of theirs (primary,
// from SO_PEERCRED, or supplementary, from /proc) is mapped to by Options:
// StaffGID gives RoleRead, WriteGID RoleWrite, AdminGID RoleAdmin. The server
// refuses RoleNone (403, logged, reported to Options.Refused) before any
// handler runs; which role each route needs is the handlers' decision,
// made with RoleFrom.
//
// Connections: who may hold one of the MaxConns slots is decided when a
// connection is accepted, from its peer's credentials and role (F8 of
// issue 12: one read-role user's 16 watch streams kept root out). A uid
// below RoleAdmin holds at most MaxConnsPerUser connections at once, and
// all callers below RoleAdmin together at most MaxConns-AdminConns: the
// other AdminConns slots are kept for root, the daemon's own user and the
// admin group. So no caller below RoleAdmin, however many connections it
// opens, keeps an admin from being served, or takes more than its share
// from another user. A connection over a limit never waits for a slot: its
// request is answered at once, 429 ("too many connections from uid N: ...
// close some (gated watch sessions?)") or 503 when a shared limit is
// reached, and the connection is closed; while a few such answers are
// pending, further refused connections are closed unanswered. A RoleNone
// caller never takes a slot: it gets its 403 the same way. A connection
// that makes no progress (headers, an idle keep-alive, a request body, a
// response the client does not read) is closed after a timeout, so no
// client holds a slot forever; a streaming answer (watch) lives as long as
// its client reads it, in a slot of its caller's.
//
// # Caveats
//
// Admins have no per-uid limit: an admin's own MaxConns watch streams fill
// the socket. Limits count uids, not people: MaxConns-AdminConns divided by
// MaxConnsPerUser users below RoleAdmin (three) can together take every
// slot they may share, and a fourth is refused until they close some. The
// role is the one the caller had when it connected.
//
// It never listens on a network address: Listen creates only unix sockets.
// It never decides what a role may do beyond refusing RoleNone, and never
// logs a request body.
package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Listen creates a unix socket at path with mode 0660, owned by group gid
// (gid < 0 keeps the process's group). A stale socket left by a previous
// run is removed; a live one (another daemon answering) is an error. The
// listener accepts every connection at once: the server from NewServer
// decides which it serves.
func Listen(path string, gid int) (net.Listener, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("control: socket path %q must be absolute", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control: %s: another daemon is already listening", path)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control: %s exists and is not a socket: refusing to remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	}
	// Create the socket with no permissions for others from the start, so
	// there is no moment at which anyone may connect.
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: listen: %w", err)
	}
	if gid >= 0 {
		if err := os.Lchown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("control: give %s to group %d: %w", path, gid, err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	return l, nil
}

// Peer is the process at the other end of a connection, as the kernel
// reports it (SO_PEERCRED): it cannot be forged by the caller.
type Peer struct {
	UID, GID uint32
	PID      int32
}

// unknownID is the UID and GID of a peer the kernel gave no credentials
// for ((uid_t)-1, "no user"); never the case on a unix socket.
const unknownID = math.MaxUint32

func (p Peer) String() string { return fmt.Sprintf("uid=%d gid=%d pid=%d", p.UID, p.GID, p.PID) }

// Role is what a caller may do. Roles are ordered: each may do all that
// the ones below it may.
type Role int

const (
	// RoleNone may not use the socket at all.
	RoleNone Role = iota
	// RoleRead may look: status, watch, report, audit.
	RoleRead
	// RoleWrite may also change residents, cards, PINs and faces.
	RoleWrite
	// RoleAdmin may also back up, restore and rotate the device key.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// conn is what the server knows about a connection, found once when it is
// accepted.
type conn struct {
	peer Peer
	role Role
	// refusal, when set, is the answer to every request: the connection
	// holds no slot.
	refusal *refusal
}

type connKey struct{}

// PeerFrom returns the peer of the connection a request came on.
func PeerFrom(ctx context.Context) (Peer, bool) {
	c, ok := ctx.Value(connKey{}).(conn)
	if !ok || c.peer.PID == 0 && c.peer.UID == unknownID {
		return Peer{}, false
	}
	return c.peer, true
}

// RoleFrom returns the role of the caller of a request (RoleNone when
// unknown). Handlers check it per route: a RoleNone caller never reaches
// them.
func RoleFrom(ctx context.Context) Role {
	c, _ := ctx.Value(connKey{}).(conn)
	return c.role
}

// WithCaller returns ctx carrying a caller as NewServer would set it: for
// tests of handlers that check PeerFrom and RoleFrom, without a socket.
func WithCaller(ctx context.Context, p Peer, r Role) context.Context {
	return context.WithValue(ctx, connKey{}, conn{peer: p, role: r})
}

func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, errors.New("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if cerr != nil {
		return Peer{}, cerr
	}
	return Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}

// Options configure a Server. Group IDs map unix groups to roles; a
// negative one means no such group. 0, the root group, also means none: root
// itself is always RoleAdmin, and an Options left at zero must not make
// every member of group root an administrator.
type Options struct {
	Log *slog.Logger
	// StaffGID's members may connect and read (RoleRead).
	StaffGID int
	// WriteGID's members may also change residents, cards, PINs and faces
	// (RoleWrite).
	WriteGID int
	// AdminGID's members may do anything (RoleAdmin).
	AdminGID int
	// Groups reports the supplementary groups of a process (default: read
	// from /proc/<pid>/status, when that process still has the peer's
	// uid).
	Groups func(pid int32) ([]uint32, error)
	// Refused, if set, is called (before the 403 is sent) for every
	// request of a RoleNone caller, so the daemon can audit it. The Peer
	// has UID and GID 4294967295 when the kernel gave no credentials. A
	// connection closed unanswered (too many refusals pending at once)
	// sends no request: it is only logged, at most once a second. Nor is
	// a connection refused over a limit (429, 503) reported: it is no
	// permission refusal, and a client in a loop would flood the audit.
	Refused func(p Peer, r *http.Request)

	// HeaderTimeout bounds reading a request's headers (default 10 s);
	// ReadTimeout, reading a whole request with its body (default 2 min:
	// 10 photos to enroll or a backup to restore cross the socket in
	// seconds); IdleTimeout, waiting for the next request on a kept-alive
	// connection (default 30 s); WriteTimeout, each write of an answer
	// (default 1 min), so a client that stops reading loses its
	// connection while one that keeps reading a stream (watch) keeps it
	// for as long as it likes. None bounds the time a handler works.
	HeaderTimeout, ReadTimeout, IdleTimeout, WriteTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.HeaderTimeout, 10 * time.Second}, {&o.ReadTimeout, 2 * time.Minute}, {&o.IdleTimeout, 30 * time.Second}, {&o.WriteTimeout, time.Minute}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
}

// roleOf is the role of a peer whose groups (primary and supplementary)
// are known; self is the daemon's own uid.
func roleOf(p Peer, self uint32, groups []uint32, o Options) Role {
	if p.UID == 0 || p.UID == self {
		return RoleAdmin
	}
	role := RoleNone
	for _, g := range append([]uint32{p.GID}, groups...) {
		for _, m := range []struct {
			gid  int
			role Role
		}{{o.StaffGID, RoleRead}, {o.WriteGID, RoleWrite}, {o.AdminGID, RoleAdmin}} {
			if m.gid > 0 && g == uint32(m.gid) && m.role > role {
				role = m.role
			}
		}
	}
	return role
}

// NewServer returns an HTTP server for h, to Serve on a listener from
// Listen. It knows each request's peer and role, decides when a connection
// is accepted whether it holds a slot (the package doc says who may),
// refuses RoleNone callers (403), bounds how long a connection may stall
// (Options), and logs every request with the caller's uid and role. Its
// ConnContext and ConnState hooks keep the count of connections: do not
// replace them.
func NewServer(h http.Handler, opts Options) *http.Server {
	opts.defaults()
	self := uint32(os.Geteuid())
	sl := newSlots()
	connContext := func(ctx context.Context, nc net.Conn) context.Context {
		c := identify(nc, self, opts)
		v, ref := sl.take(nc, c.peer, c.role)
		c.refusal = ref
		// A RoleNone caller answered is logged with its request.
		if v == dropped || ref != nil {
			if ok, n := sl.logRefusal(time.Now()); ok {
				reason := "not permitted"
				if ref != nil {
					reason = ref.msg
				}
				opts.Log.Warn("control: connection refused", "peer", c.peer.String(), "role", c.role.String(),
					"answered", v == refusing, "reason", reason, "suppressed", n)
			}
		}
		if v == dropped {
			nc.Close()
		}
		return context.WithValue(ctx, connKey{}, c)
	}
	connState := func(nc net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			sl.release(nc)
		}
	}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, rc: http.NewResponseController(w), stall: opts.WriteTimeout}
		c, _ := r.Context().Value(connKey{}).(conn)
		switch {
		case c.role == RoleNone:
			opts.Log.Warn("control: request refused", "peer", c.peer.String(), "role", c.role.String(), "method", r.Method, "path", r.URL.Path)
			if opts.Refused != nil {
				opts.Refused(c.peer, r)
			}
			sw.Header().Set("Connection", "close")
			WriteError(sw, http.StatusForbidden, errors.New("not permitted: use root or a member of the gate's staff group"))
			return
		case c.refusal != nil:
			// Logged when the connection was refused.
			sw.Header().Set("Connection", "close")
			sw.Header().Set("Retry-After", "5")
			WriteError(sw, c.refusal.status, errors.New(c.refusal.msg))
			return
		}
		h.ServeHTTP(sw, r)
		opts.Log.Info("control: request", "uid", c.peer.UID, "pid", c.peer.PID, "role", c.role.String(),
			"method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start).Round(time.Microsecond))
	})
	return &http.Server{
		Handler:           wrapped,
		ReadHeaderTimeout: opts.HeaderTimeout,
		// ReadTimeout bounds reading the request, not the handler: once the
		// body has been read (at once for a GET), net/http clears the read
		// deadline. So an enrollment may work as long as it must after its
		// body arrived, and a watch stream is not cut.
		ReadTimeout: opts.ReadTimeout,
		IdleTimeout: opts.IdleTimeout,
		// No http.Server.WriteTimeout: it would bound the whole answer and
		// end a watch stream. statusWriter gives each write its own
		// deadline instead.
		ConnContext: connContext,
		ConnState:   connState,
		ErrorLog:    slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
}

// identify finds who is at the other end of a connection just accepted:
// the peer from SO_PEERCRED and its role (RoleNone when the kernel gave no
// credentials).
func identify(nc net.Conn, self uint32, opts Options) conn {
	p, err := peerOf(nc)
	if err != nil {
		opts.Log.Warn("control: no peer credentials", "err", err)
		return conn{peer: Peer{UID: unknownID, GID: unknownID}}
	}
	var gs []uint32
	if p.UID != 0 && p.UID != self { // root and the daemon's user are admins whatever their groups
		if opts.Groups != nil {
			gs, err = opts.Groups(p.PID)
		} else {
			gs, err = procGroups(p)
		}
		if err != nil {
			// Only the primary group counts.
			opts.Log.Warn("control: supplementary groups unknown", "peer", p.String(), "err", err)
		}
	}
	return conn{peer: p, role: roleOf(p, self, gs, opts)}
}

// statusWriter records the status for the log and gives each write of the
// answer its own deadline.
type statusWriter struct {
	http.ResponseWriter
	status int
	rc     *http.ResponseController
	stall  time.Duration
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
	_ = w.rc.Flush()
}

// Unwrap lets handlers use http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// procGroups reads a peer's supplementary groups from /proc, after
// checking that the process there still has the peer's uid (a pid reused
// since the connection was made has another's groups).
func procGroups(p Peer) ([]uint32, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var gs []uint32
	uidOK, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		switch key {
		case "Uid": // real, effective, saved, filesystem
			fs := strings.Fields(val)
			uidOK = len(fs) > 1 && fs[1] == strconv.FormatUint(uint64(p.UID), 10)
		case "Groups":
			found = true
			for _, s := range strings.Fields(val) {
				g, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("/proc/%d/status: group %q: %w", p.PID, s, err)
				}
				gs = append(gs, uint32(g))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	switch {
	case !found:
		return nil, fmt.Errorf("/proc/%d/status has no Groups line", p.PID)
	case !uidOK:
		return nil, fmt.Errorf("process %d no longer has uid %d", p.PID, p.UID)
	}
	return gs, nil
}
