package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/door"
	"github.com/gated-dev/gated/internal/gate"
)

// doorPoll is how often the door's inputs are read.
const doorPoll = 50 * time.Millisecond

// openDoorInputs opens the door's inputs and alarm output ([door]). A GPIO
// line that cannot be requested is an alarm, not a stop: the door still
// opens for residents.
func (d *daemon) openDoorInputs() {
	in, err := door.OpenInputs(d.cfg.Door, d.door, d.log)
	if err != nil {
		d.alarm("door-inputs", fmt.Sprintf("the door's inputs cannot be read (%v): no forced-open, held-open or tamper alarms and no exit button until it is fixed", err))
		return
	}
	d.inputs = in
}

func (d *daemon) closeDoorInputs() {
	if d.inputs == nil {
		return
	}
	if err := d.inputs.Close(); err != nil {
		d.log.Error("daemon: door inputs: close", "err", err)
	}
}

// doorConfig is the gate's door settings: held_open and the alarm output.
func (d *daemon) doorConfig() gate.DoorConfig {
	c := gate.DoorConfig{HeldOpen: d.cfg.Door.HeldOpenTime()}
	if d.inputs != nil && d.inputs.HasAlarm() {
		c.Buzzer = d.inputs
	}
	return c
}

// doorLoop hands the door's inputs to the gate until ctx ends: each
// reading, then which inputs failed to read (an input unreadable for a
// second is the gate's alarm inputs-unreadable: a cut cable or a board
// without power must not leave the door silently unguarded).
func (d *daemon) doorLoop(ctx context.Context) error {
	if d.inputs == nil || !d.inputs.Any() {
		return nil
	}
	t := time.NewTicker(doorPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d.gate.DoorInputs(gate.DoorState(d.inputs.Read()))
		d.gate.DoorUnreadable(d.inputs.Unreadable())
	}
}
