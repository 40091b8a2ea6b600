package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/bundle"
)

func runVisitor(e *env, args []string) error {
	return sub(e, "visitor", args, map[string]func(*env, []string) error{
		"add":    visitorAdd,
		"list":   visitorList,
		"revoke": visitorRevoke,
	})
}

func visitorAdd(e *env, args []string) error {
	fs := newFlags(e, "visitor add", "--name NAME (--valid 2h | --from TIME --until TIME) [--uses N] [--reader NAME] [--png FILE]")
	cf := addClientFlags(e, fs)
	name := fs.String("name", "", "who the pass is for, e.g. \"courier\" (shown to staff, never audited)")
	valid := fs.Duration("valid", 0, "valid from now for this long, e.g. 2h")
	from := fs.String("from", "", "valid from (2006-01-02 15:04, local time)")
	until := fs.String("until", "", "valid until")
	uses := fs.Int("uses", 1, "how many times the pass opens the door")
	reader := fs.String("reader", "", "the only card reader (door) the pass opens; all when empty")
	png := fs.String("png", "", "write the QR code to this PNG file (default: ./<pass ID>.png)")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError{"--name is required"}
	}
	var p api.NewPass
	switch {
	case *valid > 0 && *from == "" && *until == "":
		now := time.Now()
		p.From, p.Until = now, now.Add(*valid)
	case *valid == 0 && *until != "":
		u, err := parseWhen(*until, true)
		if err != nil {
			return usageError{"--until " + err.Error()}
		}
		f := time.Now()
		if *from != "" {
			if f, err = parseWhen(*from, false); err != nil {
				return usageError{"--from " + err.Error()}
			}
		}
		p.From, p.Until = f, u
	default:
		return usageError{"give --valid DURATION, or --until TIME (with --from TIME for a later start)"}
	}
	p.Name, p.Uses, p.Reader = *name, *uses, *reader
	out, err := cf.client().AddPass(e.ctx, p)
	if err != nil {
		return err
	}
	q, err := qrcode.New(out.QR, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("visitor add: QR code: %w", err)
	}
	file := *png
	if file == "" {
		file = out.ID + ".png"
	}
	img, err := q.PNG(256)
	if err != nil {
		return fmt.Errorf("visitor add: QR code: %w", err)
	}
	// The pass exists now and its code is shown only here: a PNG that
	// cannot be written is reported after the code, not instead of it.
	werr := writeQR(file, img)
	if werr != nil {
		werr = fmt.Errorf("visitor add: the pass %s was issued, but its QR code was not written: %w", out.ID, werr)
	}
	if *cf.json {
		return errors.Join(writeJSON(e.stdout, out), werr)
	}
	abs, _ := filepath.Abs(file)
	w := e.stdout
	fmt.Fprintf(w, "pass %s for %s: %s, valid %s to %s", out.ID, out.Name, plural(out.Uses, "use"), out.From.Local().Format("2006-01-02 15:04"), out.Until.Local().Format("2006-01-02 15:04"))
	if out.Reader != "" {
		fmt.Fprintf(w, ", door %s only", out.Reader)
	}
	fmt.Fprintf(w, "\n\ncode (shown once, never stored in clear): %s\nat the keypad, without a card, type:  # %s #\n\n", out.Code, out.Code)
	fmt.Fprint(w, q.ToSmallString(false))
	if werr != nil {
		return werr
	}
	fmt.Fprintf(w, "\nQR code written to %s (show it to the door's scanner)\n", abs)
	return nil
}

// writeQR writes a pass's QR code as a PNG to file with mode 0600, also
// over an existing file (whose mode would otherwise stay as it was): a new
// file in the same directory, renamed over it. A symbolic link at file is
// refused, neither followed nor replaced, and so is anything but a
// regular file.
func writeQR(file string, img []byte) error {
	fi, err := os.Lstat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: give the PNG's own path with --png", file)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: give another path with --png", file)
	}
	// rename(2) never follows a link at file, so one put there after the
	// check is replaced, not written through.
	return bundle.WriteFile(file, img, 0o600)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func visitorList(e *env, args []string) error {
	fs := newFlags(e, "visitor list", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	ps, err := cf.client().Passes(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, ps)
	}
	var rows [][]string
	for _, p := range ps {
		rows = append(rows, []string{p.ID, p.Name, p.State, fmt.Sprintf("%d/%d", p.Used, p.Uses),
			p.From.Local().Format("2006-01-02_15:04"), p.Until.Local().Format("2006-01-02_15:04"), orDash(p.Reader), p.Issuer})
	}
	table(e.stdout, "ID NAME STATE USED FROM UNTIL DOOR ISSUER", rows)
	return nil
}

func visitorRevoke(e *env, args []string) error {
	fs := newFlags(e, "visitor revoke", "ID")
	cf := addClientFlags(e, fs)
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if err := cf.client().RevokePass(e.ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked %s: it opens no door from now on\n", pos[0])
	return nil
}
