package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/gated-dev/gated/internal/api"
)

func runResident(e *env, args []string) error {
	return sub(e, "resident", args, map[string]func(*env, []string) error{
		"add":     residentAdd,
		"list":    residentList,
		"show":    residentShow,
		"update":  residentUpdate,
		"disable": residentStatus("disabled"),
		"enable":  residentStatus("active"),
		"delete":  residentDelete,
		"set":     residentSet, // schedule.go
	})
}

func residentAdd(e *env, args []string) error {
	fs := newFlags(e, "resident add", "--name NAME --unit UNIT [--minor --guardian ID]")
	cf := addClientFlags(e, fs)
	name := fs.String("name", "", "display name")
	unit := fs.String("unit", "", "flat or house number")
	minor := fs.Bool("minor", false, "the resident is under 14: face enrollment will need a guardian's consent")
	guardian := fs.String("guardian", "", "the guardian's resident ID, if they live here")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError{"--name is required"}
	}
	r, err := cf.client().AddResident(e.ctx, api.NewResident{Name: *name, Unit: *unit, Minor: *minor, GuardianID: *guardian})
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "added %s: %s, unit %s\n", r.ID, r.Name, r.Unit)
	return nil
}

func residentList(e *env, args []string) error {
	fs := newFlags(e, "resident list", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	rs, err := cf.client().Residents(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, rs)
	}
	var rows [][]string
	for _, r := range rs {
		rows = append(rows, []string{r.ID, r.Name, r.Unit, r.Status, yesno(r.Face), yesno(r.HasPIN), yesno(r.Minor)})
	}
	table(e.stdout, "ID NAME UNIT STATUS FACE PIN MINOR", rows)
	return nil
}

func residentShow(e *env, args []string) error {
	fs := newFlags(e, "resident show", "ID [--json]")
	cf := addClientFlags(e, fs)
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	r, err := cf.client().Resident(e.ctx, pos[0])
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, r)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s  %s, unit %s, %s\n", r.ID, r.Name, r.Unit, r.Status)
	if r.Minor {
		fmt.Fprintf(w, "under 14; guardian: %s\n", orDash(r.GuardianID))
	}
	fmt.Fprintf(w, "PIN: %s; face data: %s (%d templates)\n", yesno(r.HasPIN), yesno(r.Face), r.Templates)
	if r.Access != nil {
		fmt.Fprintf(w, "access: %s\n", describeAccess(*r.Access))
	}
	fmt.Fprintf(w, "created %s, updated %s\n", when(r.CreatedAt), when(r.UpdatedAt))
	for _, c := range r.Consents {
		state := "standing"
		if !c.WithdrawnAt.IsZero() {
			state = "withdrawn " + when(c.WithdrawnAt)
		}
		g := ""
		if c.Guardian != nil {
			g = fmt.Sprintf(", guardian %s (%s)", c.Guardian.Name, c.Guardian.Relation)
		}
		fmt.Fprintf(w, "consent %s: notice %s (%s, sha256 %s…), %s, given %s%s, %s\n", c.ID, c.NoticeVersion, c.Language, c.NoticeSHA256[:12], c.Method, when(c.GivenAt), g, state)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optional string and bool flags: set only when given.
type optString struct{ v *string }

func (o *optString) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}
func (o *optString) Set(s string) error { o.v = &s; return nil }

func residentUpdate(e *env, args []string) error {
	fs := newFlags(e, "resident update", "ID [--name NAME] [--unit UNIT] [--minor=true|false] [--guardian ID]")
	cf := addClientFlags(e, fs)
	var name, unit, guardian, minor optString
	fs.Var(&name, "name", "new display name")
	fs.Var(&unit, "unit", "new unit")
	fs.Var(&guardian, "guardian", "guardian's resident ID")
	fs.Var(&minor, "minor", "true if the resident is under 14")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	u := api.ResidentUpdate{Name: name.v, Unit: unit.v, GuardianID: guardian.v}
	if minor.v != nil {
		b := *minor.v == "true"
		if !b && *minor.v != "false" {
			return usageError{"--minor: use true or false"}
		}
		u.Minor = &b
	}
	if u == (api.ResidentUpdate{}) {
		return usageError{"nothing to update: give --name, --unit, --minor or --guardian"}
	}
	r, err := cf.client().UpdateResident(e.ctx, pos[0], u)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "updated %s: %s, unit %s, %s\n", r.ID, r.Name, r.Unit, r.Status)
	return nil
}

func residentStatus(status string) func(*env, []string) error {
	return func(e *env, args []string) error {
		verb := map[string]string{"disabled": "disable", "active": "enable"}[status]
		fs := newFlags(e, "resident "+verb, "ID")
		cf := addClientFlags(e, fs)
		pos, err := positional(fs, args, "ID")
		if err != nil {
			return err
		}
		r, err := cf.client().UpdateResident(e.ctx, pos[0], api.ResidentUpdate{Status: &status})
		if err != nil {
			return err
		}
		if *cf.json {
			return writeJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "%s is now %s\n", r.ID, r.Status)
		return nil
	}
}

func residentDelete(e *env, args []string) error {
	fs := newFlags(e, "resident delete", "ID --reason TEXT")
	cf := addClientFlags(e, fs)
	reason := fs.String("reason", "", "why (kept in the deletion record)")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if *reason == "" {
		return usageError{"--reason is required"}
	}
	d, err := cf.client().DeleteResident(e.ctx, pos[0], *reason)
	if err != nil {
		return err
	}
	return printDeletion(e, d, *cf.json, "resident and all their data deleted")
}

func printDeletion(e *env, d api.Deletion, asJSON bool, what string) error {
	if asJSON {
		return writeJSON(e.stdout, d)
	}
	if d.Pending {
		what = "face data out of use at once, but NOT YET GONE FROM DISK: " + d.PendingReason +
			"\n(the gate retries at start and on a timer; gated report lists it until it is done)"
	}
	fmt.Fprintf(e.stdout, "%s: %s\nreceipt %s (%d templates destroyed, %s, by %s)\n", d.Resident, what, d.ReceiptID, d.Templates, when(d.At), d.Actor)
	if !d.RequestedAt.Equal(d.At) {
		state := "within"
		if !d.OnTime {
			state = "LATE: after"
		}
		fmt.Fprintf(e.stdout, "requested %s; %s the legal deadline %s\n", when(d.RequestedAt), state, when(d.Deadline))
	}
	return nil
}

func runCard(e *env, args []string) error {
	one := func(verb, done string, f func(c *api.Client, e *env, id, n string) (string, error)) func(*env, []string) error {
		return func(e *env, args []string) error {
			fs := newFlags(e, "card "+verb, "ID NUMBER")
			cf := addClientFlags(e, fs)
			pos, err := positional(fs, args, "ID", "NUMBER")
			if err != nil {
				return err
			}
			n, err := f(cf.client(), e, pos[0], pos[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "card %s %s for %s\n", n, done, pos[0])
			return nil
		}
	}
	return sub(e, "card", args, map[string]func(*env, []string) error{
		"assign": one("assign", "assigned", func(c *api.Client, e *env, id, n string) (string, error) { return c.AssignCard(e.ctx, id, n) }),
		"revoke": one("revoke", "revoked", func(c *api.Client, e *env, id, n string) (string, error) { return c.RevokeCard(e.ctx, id, n) }),
	})
}

func runPIN(e *env, args []string) error {
	return sub(e, "pin", args, map[string]func(*env, []string) error{
		"set": func(e *env, args []string) error {
			fs := newFlags(e, "pin set", "ID  (the PIN is read from standard input)")
			cf := addClientFlags(e, fs)
			pos, err := positional(fs, args, "ID")
			if err != nil {
				return err
			}
			pin, err := readSecretLine(e)
			if err != nil {
				return err
			}
			if err := cf.client().SetPIN(e.ctx, pos[0], pin); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "PIN set for %s\n", pos[0])
			return nil
		},
		"reset": func(e *env, args []string) error {
			fs := newFlags(e, "pin reset", "ID")
			cf := addClientFlags(e, fs)
			pos, err := positional(fs, args, "ID")
			if err != nil {
				return err
			}
			if err := cf.client().ClearPIN(e.ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "PIN removed for %s: card alone (or a new PIN) from now on\n", pos[0])
			return nil
		},
	})
}

// readSecretLine reads one line from standard input (a PIN: never a flag,
// so it stays out of shell history and process lists).
func readSecretLine(e *env) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 64 {
		n, err := e.stdin.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	s := strings.TrimSpace(b.String())
	if s == "" {
		return "", errors.New("no PIN on standard input (e.g. read -s PIN; echo \"$PIN\" | gated pin set ID)")
	}
	return s, nil
}

var _ flag.Value = (*optString)(nil)
