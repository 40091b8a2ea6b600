package main

import (
	"fmt"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/door"
)

func runRelay(e *env, args []string) error {
	return sub(e, "relay", args, map[string]func(*env, []string) error{
		"lock": relayLock,
	})
}

// relayLock commands the door's relay locked and exits, for staff after a
// crash of a gated that systemd did not start: a latching relay board stays
// where the dead process left it. Under systemd, gated.service runs the
// same lock as /usr/lib/gated/gated-lock (cmd/gated-lock: static, it starts
// in milliseconds where gated takes a quarter of a second to load its
// libraries) after every stop and before every start. It reads only
// [relay] of the configuration, and opens no store, key or model, so it
// works when those are what broke.
func relayLock(e *env, args []string) error {
	fs := newFlags(e, "relay lock", "[--config FILE]")
	path := fs.String("config", defaultConfig, "configuration file (only [relay] is read)")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	rc, err := config.LoadRelay(*path)
	if err != nil {
		return err
	}
	rep, err := door.LockNow(rc, e.log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "locked %s\n", rep)
	return nil
}
