package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/gated-dev/gated/internal/api"
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
	if err := os.WriteFile(file, img, 0o600); err != nil {
		return fmt.Errorf("visitor add: %w", err)
	}
	if *cf.json {
		return writeJSON(e.stdout, out)
	}
	abs, _ := filepath.Abs(file)
	w := e.stdout
	fmt.Fprintf(w, "pass %s for %s: %s, valid %s to %s", out.ID, out.Name, plural(out.Uses, "use"), out.From.Local().Format("2006-01-02 15:04"), out.Until.Local().Format("2006-01-02 15:04"))
	if out.Reader != "" {
		fmt.Fprintf(w, ", door %s only", out.Reader)
	}
	fmt.Fprintf(w, "\n\ncode (shown once, never stored in clear): %s\nat the keypad, without a card, type:  # %s #\n\n", out.Code, out.Code)
	fmt.Fprint(w, q.ToSmallString(false))
	fmt.Fprintf(w, "\nQR code written to %s (show it to the door's scanner)\n", abs)
	return nil
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
