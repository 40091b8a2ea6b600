package staffapi

import "github.com/gated-dev/gated/internal/control"

// Route is one entry of the table Handler registers: the pattern, the role
// it needs and whether it changes something (refused while degraded).
type Route struct {
	Pattern string
	Role    control.Role
	Change  bool
}

// RouteTable is every route Handler registers, in the order it registers
// them, so that a test iterates the table itself and a route added without
// a test fails.
func (s *Server) RouteTable() []Route {
	var out []Route
	for _, rt := range s.allRoutes() {
		out = append(out, Route{Pattern: rt.pattern, Role: rt.role, Change: rt.change})
	}
	return out
}
