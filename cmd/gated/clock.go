package main

import (
	"fmt"
	"time"
)

func runClock(e *env, args []string) error {
	return sub(e, "clock", args, map[string]func(*env, []string) error{
		"reset": clockReset,
	})
}

// clockReset is gated clock reset: after the clock had run ahead and was
// put right, visitor passes and end dates are judged at the time it had
// reached (the store's clock floor) until staff say the clock is right.
func clockReset(e *env, args []string) error {
	fs := newFlags(e, "clock reset", "(only when the gate's clock is right now: it had run ahead)")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	r, err := cf.client().ResetClock(e.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "clock floor lowered from %s to %s: end dates and visitor passes are judged by the clock again\n",
		r.Old.Local().Format(time.DateTime), r.New.Local().Format(time.DateTime))
	return nil
}
