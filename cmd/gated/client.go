package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gated-dev/gated/internal/api"
)

// defaultSocket is where the daemon listens unless told otherwise.
const defaultSocket = "/run/gated/gated.sock"

// clientFlags adds the flags every staff command has.
type clientFlags struct {
	socket *string
	json   *bool
}

func addClientFlags(e *env, fs *flag.FlagSet) clientFlags {
	def := e.getenv("GATED_SOCKET")
	if def == "" {
		def = defaultSocket
	}
	return clientFlags{
		socket: fs.String("socket", def, "the daemon's control socket ($GATED_SOCKET)"),
		json:   fs.Bool("json", false, "print JSON for scripts"),
	}
}

func (c clientFlags) client() *api.Client { return api.NewClient(*c.socket) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ReplaceAll(header, " ", "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// sub dispatches a command group ("resident add", ...).
func sub(e *env, group string, args []string, cmds map[string]func(*env, []string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		slices.Sort(names)
		return usageError{"give a subcommand: " + strings.Join(names, ", ")}
	}
	f, ok := cmds[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
	}
	return f(e, args[1:])
}

// positional parses flags, which may come before, between or after the
// positional arguments, and requires exactly the named positional ones.
func positional(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(names) {
		return nil, usageError{fmt.Sprintf("want %s", strings.Join(names, " "))}
	}
	return pos, nil
}
