package main

import (
	"fmt"
)

func runAudit(e *env, args []string) error {
	return sub(e, "audit", args, map[string]func(*env, []string) error{
		"list": func(e *env, args []string) error {
			fs := newFlags(e, "audit list", "[--from N] [--limit N] [--json]")
			cf := addClientFlags(e, fs)
			from := fs.Uint64("from", 0, "first entry (sequence number)")
			limit := fs.Int("limit", 100, "how many entries")
			if _, err := positional(fs, args); err != nil {
				return err
			}
			es, err := cf.client().Audit(e.ctx, *from, *limit)
			if err != nil {
				return err
			}
			if *cf.json {
				return writeJSON(e.stdout, es)
			}
			var rows [][]string
			for _, a := range es {
				rows = append(rows, []string{fmt.Sprint(a.Seq), when(a.Time), a.Kind, a.Actor, orDash(a.Subject), orDash(a.Outcome), a.Detail})
			}
			table(e.stdout, "SEQ TIME KIND ACTOR SUBJECT OUTCOME DETAIL", rows)
			return nil
		},
		"verify": func(e *env, args []string) error {
			fs := newFlags(e, "audit verify", "[--json]")
			cf := addClientFlags(e, fs)
			if _, err := positional(fs, args); err != nil {
				return err
			}
			v, err := cf.client().VerifyAudit(e.ctx)
			if err != nil {
				return err
			}
			if *cf.json {
				if err := writeJSON(e.stdout, v); err != nil {
					return err
				}
			} else if v.OK {
				fmt.Fprintf(e.stdout, "audit chain verified: %d entries, no broken or missing link\n", v.Entries)
			}
			if !v.OK {
				return fmt.Errorf("audit chain BROKEN at entry %d: %s", v.FirstBad, v.Problem)
			}
			return nil
		},
		"export": runAuditExport,
	})
}
