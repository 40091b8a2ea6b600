package gate

import "github.com/gated-dev/gated/internal/schedule"

// SetSchedule replaces the gate's time profiles and groups (Config.Schedule)
// while it runs: a compound import brings the property office's.
func (g *Gate) SetSchedule(s *schedule.Set) { g.sched.Store(s) }

// schedule is the set in use: the last SetSchedule's, else Config.Schedule.
func (g *Gate) schedule() *schedule.Set {
	if s := g.sched.Load(); s != nil {
		return s
	}
	return g.cfg.Schedule
}
