package control

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// MaxConns is how many connections the socket serves at once, all callers
// together. A connection beyond a limit is answered with an error at once
// (or, when even the answers are too many, closed at once): it never waits
// for a slot. The timeouts in Options bound how long an idle or stalled
// client keeps one.
const MaxConns = 16

// MaxConnsPerUser is how many connections one uid below RoleAdmin may hold
// at once; its next one is answered 429.
const MaxConnsPerUser = 4

// AdminConns is how many of the MaxConns slots only RoleAdmin callers may
// take: callers below it share the other MaxConns-AdminConns, and are
// answered 503 when those are taken.
const AdminConns = 4

// maxRefusing is how many refused connections may wait at once for their
// request to be read and answered with an error (a RoleNone caller's 403, a
// 429 or 503 over a limit). More are closed at once, unanswered, so that
// refusing never holds more than these open files.
const maxRefusing = 8

// verdict is what became of a connection when it was accepted.
type verdict int

const (
	// admitted: it holds a slot until it is closed.
	admitted verdict = iota
	// refusing: its request is answered with the refusal, then it is
	// closed; it holds one of maxRefusing places meanwhile.
	refusing
	// dropped: closed at once, unanswered.
	dropped
)

// refusal is the answer a connection refused a slot gets.
type refusal struct {
	status int
	msg    string
}

// hold is what a connection holds until it is closed.
type hold struct {
	verdict verdict
	uid     uint32
	shared  bool // a slot of the callers below RoleAdmin
}

// slots decides, when a connection is accepted, whether it is served: the
// only place that counts connections. Every connection that take was asked
// about is given back with release when it closes.
type slots struct {
	max, perUser, reserved, maxRefusing int

	mu       sync.Mutex
	total    int            // admitted connections
	shared   int            // admitted connections of callers below RoleAdmin
	perUID   map[uint32]int // the same, by uid
	refusing int
	held     map[net.Conn]hold
	// suppressed counts refusals not logged since lastLog (at most one
	// log line a second: a client refused in a loop must not flood it).
	lastLog    time.Time
	suppressed int
}

func newSlots() *slots {
	return &slots{max: MaxConns, perUser: MaxConnsPerUser, reserved: AdminConns, maxRefusing: maxRefusing,
		perUID: make(map[uint32]int), held: make(map[net.Conn]hold)}
}

// take decides what becomes of connection c of caller p with role r. The
// refusal is set for the verdicts refusing and dropped (nil for RoleNone,
// whose answer is the 403 the server gives every RoleNone request).
func (s *slots) take(c net.Conn, p Peer, r Role) (verdict, *refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shared := r < RoleAdmin
	var ref *refusal
	switch {
	case r == RoleNone:
	case shared && s.perUID[p.UID] >= s.perUser:
		ref = &refusal{http.StatusTooManyRequests, fmt.Sprintf(
			"too many connections from uid %d: it holds %d, the most one user without the admin role may hold; close some (gated watch sessions?)",
			p.UID, s.perUID[p.UID])}
	case shared && s.shared >= s.max-s.reserved:
		ref = &refusal{http.StatusServiceUnavailable, fmt.Sprintf(
			"too many connections: users without the admin role hold all %d they may share; close some (gated watch sessions?) or try again later",
			s.max-s.reserved)}
	case s.total >= s.max:
		ref = &refusal{http.StatusServiceUnavailable, fmt.Sprintf(
			"too many connections: all %d are in use; close some (gated watch sessions?) or try again later", s.max)}
	default:
		s.total++
		if shared {
			s.shared++
			s.perUID[p.UID]++
		}
		s.held[c] = hold{verdict: admitted, uid: p.UID, shared: shared}
		return admitted, nil
	}
	if s.refusing >= s.maxRefusing {
		return dropped, ref
	}
	s.refusing++
	s.held[c] = hold{verdict: refusing}
	return refusing, ref
}

// release gives back what c holds (nothing for a connection dropped or
// already released).
func (s *slots) release(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.held[c]
	if !ok {
		return
	}
	delete(s.held, c)
	switch h.verdict {
	case admitted:
		s.total--
		if h.shared {
			s.shared--
			if s.perUID[h.uid]--; s.perUID[h.uid] == 0 {
				delete(s.perUID, h.uid)
			}
		}
	case refusing:
		s.refusing--
	}
}

// logRefusal reports whether a refusal at now should be logged, and how
// many were not logged since the last one that was.
func (s *slots) logRefusal(now time.Time) (ok bool, suppressed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastLog) < time.Second {
		s.suppressed++
		return false, 0
	}
	s.lastLog, suppressed, s.suppressed = now, s.suppressed, 0
	return true, suppressed
}
