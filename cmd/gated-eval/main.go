// Command gated-eval measures how well face descriptor models tell people
// apart, on labelled descriptors or on folders of photos: false match and
// false non-match rates over thresholds, what a 1:N gate would do, models
// side by side, and what calibration would choose (docs/accuracy.md).
//
// It is research tooling and lives beside the gate, not inside it: it links
// the research models of the registry (models.FaceModels: whitening, and
// MobileFace through a small pure-Go TF.js runner, in its internal
// packages) and package eval, none of which the gated binary links. It
// never touches a store, a camera or a door, and writes nothing but its
// report to standard output.
//
// Run "gated-eval -h" for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what the command may use of the world: tests run it as a
// function with their own.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	log    *slog.Logger
}

const name, synopsis = "gated-eval", "(--descriptors FILE | --photos DIR) [flags]"

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run runs the command and returns its exit status: 0, 1 for an error, 2
// for a mistake in the command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, log: slog.New(slog.NewTextHandler(stderr, nil))}
	err := dispatch(e, args)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" { // else flag has printed it, with the usage
			fmt.Fprintf(stderr, "%s: %v\nusage: %s %s\n", name, err, name, synopsis)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
