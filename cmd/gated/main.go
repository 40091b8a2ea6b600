// Command gated is the face-access gate controller: the daemon that opens a
// door for residents by face, card or PIN, and the tools staff use with it.
//
// Run "gated help" for the subcommands.
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

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a subcommand may use of the world: tests run subcommands as
// functions with their own.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	log    *slog.Logger
}

type command struct {
	name    string
	args    string // usage after the name
	summary string
	run     func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"run", "[--config FILE]", "run the gate daemon", runRun},
		{"check", "[--config FILE]", "check a configuration, its key and models", runCheck},
		{"keygen", "--out FILE [--owner USER]", "create a device key file", runKeygen},
		{"status", "[--json]", "show the gate's state", runStatus},
		{"watch", "[--json]", "show access decisions as they happen", runWatch},
		{"resident", "add|list|show|update|set|disable|enable|delete ...", "manage residents", runResident},
		{"visitor", "add|list|revoke ...", "issue and revoke visitor passes (code and QR)", runVisitor},
		{"card", "assign|revoke ID NUMBER", "manage cards", runCard},
		{"pin", "set|reset ID", "manage PINs", runPIN},
		{"face", "enroll|delete ID ...", "enroll a face with consent, or destroy face data (opt-out)", runFace},
		{"audit", "list|verify|export", "read and check the audit log", runAudit},
		{"report", "[--json]", "what a data controller must show", runReport},
		{"camera", "nir-register [--pairs N]", "register the NIR camera with the colour camera ([camera.nir])", runCamera},
		{"clock", "reset", "after the clock ran ahead and was put right: judge passes and end dates by it again", runClock},
		{"calibrate", "[--json]", "how the gate may use faces: the estimate, the mode and the trade-off", runCalibrate},
		{"notice", "[--lang zh|en]", "print the notice residents consent to", runNotice},
		{"keys", "rotate --new-key FILE", "rotate the device key", runKeys},
		{"backup", "--out FILE", "write an encrypted backup of the store", runBackup},
		{"restore", "FILE", "restore the store from a backup", runRestore},
		{"compound", "join|status|export ...", "this gate in a compound: join, status, event bundle to a USB stick", runCompound},
		{"import", "FILE", "import a records bundle from the property office (a USB stick)", runImport},
		{"relay", "lock [--config FILE]", "command the door's relay locked (by hand; systemd runs gated-lock, the same lock)", runRelay},
		{"completion", "bash|zsh", "print a shell completion script", runCompletion},
		{"demo", "[flags]", "show the face pipeline deciding on a simulated camera", runDemo},
		{"office", "[--dir DIR] [--key FILE] init|resident|card|pin|visitor|schedule|gate|optout|publish|collect|report ...", "the property office: one set of records for every gate of a compound", runOffice},
		{"version", "", "print the version", runVersion},
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{
		ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		log: slog.New(slog.NewTextHandler(stderr, nil)),
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(e, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			if ue.msg != "" { // else flag has printed it, with the usage
				fmt.Fprintf(stderr, "gated %s: %v\nusage: gated %s %s\n", c.name, err, c.name, c.args)
			}
			return 2
		default:
			fmt.Fprintf(stderr, "gated %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "gated: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gated <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"gated <command> -h\" for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("gated "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: gated %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning a bad flag into a usageError (flag has
// already printed it with the usage).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{}
	}
	return nil
}

func runVersion(e *env, args []string) error {
	fmt.Fprintf(e.stdout, "gated %s\n", version)
	return nil
}
