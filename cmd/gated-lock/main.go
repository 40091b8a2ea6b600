// Command gated-lock commands the door's relay locked and exits. systemd
// runs it from gated.service before anything else at every start (the first
// ExecCondition=, whose "-" lets the daemon start even when the lock fails)
// and after every stop of the daemon (ExecStopPost=), a crash, a watchdog
// kill or SIGKILL included: a latching relay board keeps the state the dead
// process left it in, ON during a door pulse.
//
// It is `gated relay lock` in a binary of its own because the time to the
// lock is the time to start the program: gated links dlib, OpenCV and BLAS
// (some 260 shared libraries) and takes a quarter of a second or more to
// start, seconds on a loaded board with an SD card; gated-lock is pure Go,
// static (CGO_ENABLED=0) and starts in milliseconds. Both read [relay] with
// config.LoadRelay, lock with door.LockNow and print the same report.
//
// It reads only [relay] of the configuration, so a broken [face] or a
// syntax error elsewhere does not stop it, and it opens no store, key, model
// or socket and writes no file. It must never open the door, and never link
// anything but the configuration reader and the door (cmd/gated-lock's
// TestPureGo keeps it that way).
//
// Usage: gated-lock [--config FILE] [--timeout D]; exit status 0 when the
// lock was sent (and read back where the board can say), 1 when it was not
// or the configuration is wrong, 2 for a bad command line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/door"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// defaultConfig is the daemon's configuration file, as gated.service names
// it.
const defaultConfig = "/etc/gated/gated.toml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command on args; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gated-lock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "configuration file (only [relay] is read)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up, exit 1, when the lock has not finished by then (a hung serial line)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: gated-lock [--config FILE] [--timeout D]\n\n"+
			"Commands the door's relay, as [relay] of FILE names it, locked and exits:\n"+
			"0 locked, 1 not (the door may be open), 2 bad usage.\n\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // printed below: on stdout for --help, on stderr after a mistake
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		usage(stderr) // after flag's own line naming the mistake
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gated-lock: unexpected argument %q\nusage: gated-lock [--config FILE] [--timeout D]\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "gated-lock %s\n", version)
		return 0
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "gated-lock: --timeout %v: give a positive duration, e.g. 5s\n", *timeout)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	rep, err := lock(*path, *timeout, log)
	if err != nil {
		fmt.Fprintf(stderr, "gated-lock: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "locked %s\n", rep)
	return 0
}

// errHung: the lock did not finish in time.
var errHung = errors.New("the lock did not finish")

// lock reads [relay] of the file at path and locks the relay, giving up
// after timeout: a write to a serial line that never drains blocks, and
// systemd counts a condition that hangs until its start timeout as a
// failure, which the "-" prefix does not excuse. On a timeout the blocked
// write is left behind; main's exit ends it.
func lock(path string, timeout time.Duration, log *slog.Logger) (door.Report, error) {
	rc, err := config.LoadRelay(path)
	if err != nil {
		return door.Report{}, err
	}
	type result struct {
		rep door.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := door.LockNow(rc, log)
		done <- result{rep, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-t.C:
		return door.Report{}, fmt.Errorf("relay %s %s: NOT CONFIRMED LOCKED: %w within %v (a serial line that does not drain, or a board that does not answer)",
			rc.Type, relayName(rc), errHung, timeout)
	}
}

// relayName is the device or line a relay configuration names, for the
// timeout's message (door.Report names it once the lock returns).
func relayName(rc config.Relay) string {
	if rc.Type == "gpio" {
		return fmt.Sprintf("%s line %d", rc.Chip, rc.Line)
	}
	return rc.Device
}
