package daemon

import (
	"fmt"

	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/schedule"
)

// schedule builds the gate's time profiles from [schedule], on the holiday
// calendar of privacy.holidays in privacy.time_zone (the calendar that
// counts deletion deadlines), and its anti-passback readers.
func (d *daemon) schedule() (*schedule.Set, gate.AntiPassback, error) {
	ps, err := d.cfg.ScheduleProfiles()
	if err != nil {
		return nil, gate.AntiPassback{}, fmt.Errorf("daemon: schedule: %w", err)
	}
	set, err := schedule.NewSet(ps, d.cfg.Schedule.Groups, d.cal, d.cal.Location)
	if err != nil {
		return nil, gate.AntiPassback{}, fmt.Errorf("daemon: schedule: %w", err)
	}
	ap := d.cfg.Schedule.AntiPassback
	return set, gate.AntiPassback{Entry: ap.Entry, Exit: ap.Exit}, nil
}
