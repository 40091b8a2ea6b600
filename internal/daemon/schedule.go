package daemon

import (
	"fmt"

	"github.com/gated-dev/gated/internal/compound"
	"github.com/gated-dev/gated/internal/schedule"
)

// schedule builds the gate's time profiles from [schedule] and the
// property office's (compound.ScheduleSet: the office's win a clash,
// returned as a warning), on the holiday calendar of privacy.holidays in
// privacy.time_zone (the calendar that counts deletion deadlines).
func (d *daemon) schedule() (*schedule.Set, []string, error) {
	ps, err := d.cfg.ScheduleProfiles()
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: schedule: %w", err)
	}
	c, _ := d.db.Compound() // outside a compound: no office profiles
	set, warn, err := compound.ScheduleSet(ps, d.cfg.Schedule.Groups, c, d.cal, d.cal.Location)
	if err != nil {
		return nil, warn, fmt.Errorf("daemon: schedule: %w", err)
	}
	return set, warn, nil
}
