// Package control is how staff reach the running daemon: HTTP/1.1 over a
// unix socket, with JSON bodies under versioned paths (/v0/...). It owns the
// socket (its mode and group), the identification of every caller by the
// kernel's peer credentials, and the client the gated command uses.
//
// It never listens on a network address: Listen creates only unix sockets,
// and the server refuses a connection whose peer is not root, the daemon's
// own user or a member of the configured staff group.
package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// (gid < 0 keeps the process's group). A stale socket left by a previous run
// is removed; a live one (another daemon answering) is an error.
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

func (p Peer) String() string { return fmt.Sprintf("uid=%d gid=%d pid=%d", p.UID, p.GID, p.PID) }

type peerKey struct{}

// PeerFrom returns the peer of the connection a request came on.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
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

// Options configure a Server.
type Options struct {
	Log *slog.Logger
	// StaffGID is the group whose members may use the socket (besides root
	// and the daemon's own user); negative: nobody else.
	StaffGID int
	// Groups reports the supplementary groups of a process (default: read
	// from /proc/<pid>/status).
	Groups func(pid int32) ([]uint32, error)
}

// NewServer returns an HTTP server for h that knows each request's peer,
// refuses peers that are not staff (403), and logs every request with the
// caller's uid.
func NewServer(h http.Handler, opts Options) *http.Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Groups == nil {
		opts.Groups = procGroups
	}
	self := uint32(os.Geteuid())
	allowed := func(p Peer) bool {
		if p.UID == 0 || p.UID == self {
			return true
		}
		if opts.StaffGID < 0 {
			return false
		}
		if p.GID == uint32(opts.StaffGID) {
			return true
		}
		gs, err := opts.Groups(p.PID)
		if err != nil {
			return false
		}
		for _, g := range gs {
			if g == uint32(opts.StaffGID) {
				return true
			}
		}
		return false
	}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PeerFrom(r.Context())
		start := time.Now()
		if !ok || !allowed(p) {
			opts.Log.Warn("control: request refused", "peer", p.String(), "method", r.Method, "path", r.URL.Path)
			WriteError(w, http.StatusForbidden, errors.New("not permitted: use root or a member of the gate staff group"))
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		opts.Log.Info("control: request", "uid", p.UID, "pid", p.PID, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "took", time.Since(start).Round(time.Microsecond))
	})
	return &http.Server{
		Handler:           wrapped,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			p, err := peerOf(c)
			if err != nil {
				return ctx // no peer: refused by the handler
			}
			return context.WithValue(ctx, peerKey{}, p)
		},
		ErrorLog: slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// procGroups reads a process's supplementary groups from /proc.
func procGroups(pid int32) ([]uint32, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Groups:") {
			continue
		}
		var gs []uint32
		for _, s := range strings.Fields(strings.TrimPrefix(line, "Groups:")) {
			g, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, err
			}
			gs = append(gs, uint32(g))
		}
		return gs, nil
	}
	return nil, errors.New("no Groups line")
}
