package daemon

import (
	"context"
	"fmt"
	"strings"
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

// doorUnreadableAfter is how long an input may fail to read before it is
// an alarm: a Modbus answer lost now and then is not one, a cable cut is.
const doorUnreadableAfter = time.Second

// doorLoop hands the door's inputs to the gate until ctx ends. An input
// that cannot be read raises no door alarm (nothing is known), so an input
// unreadable for doorUnreadableAfter is a standing alarm of its own
// (status, audit, journal) until it reads again: a cut cable or a board
// without power must not leave the door silently unguarded.
func (d *daemon) doorLoop(ctx context.Context) error {
	if d.inputs == nil || !d.inputs.Any() {
		return nil
	}
	t := time.NewTicker(doorPoll)
	defer t.Stop()
	var failingSince time.Time
	raised := false // one alarm, start and end, however the set of inputs changes
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d.gate.DoorInputs(gate.DoorState(d.inputs.Read()))
		bad := d.inputs.Unreadable()
		switch {
		case len(bad) == 0:
			failingSince = time.Time{}
			if raised {
				raised = false
				d.alarm(alarmDoorUnreadable, "")
			}
		case raised:
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) >= doorUnreadableAfter:
			raised = true
			d.alarm(alarmDoorUnreadable, fmt.Sprintf("the door's %s cannot be read (cable cut, board unplugged or without power?): no forced-open, held-open or tamper alarm and no exit button from it until it reads again",
				strings.Join(bad, ", ")))
		}
	}
}

// alarmDoorUnreadable is the daemon alarm of door inputs that stopped
// reading.
const alarmDoorUnreadable = "door-inputs-unreadable"
