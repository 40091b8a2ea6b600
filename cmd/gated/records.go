package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/records"
)

// parseWhen reads a --from or --to: RFC 3339, or a local date and time
// ("2026-11-01 08:00", "2026-11-01T08:00"), or a local date. A date alone
// as the end of a period means the end of that day, so --from 2026-11-01
// --to 2026-11-30 is all of November.
func parseWhen(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	t, err := time.ParseInLocation("2006-01-02", s, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (2026-11-01), a local time (2026-11-01 08:00) or RFC 3339", s)
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// parsePeriod reads --from and --to (parseWhen; a date alone as --to is
// the end of that day).
func parsePeriod(fromS, toS string) (from, to time.Time, err error) {
	if from, err = parseWhen(fromS, false); err != nil {
		return from, to, fmt.Errorf("--from %w", err)
	}
	if to, err = parseWhen(toS, true); err != nil {
		return from, to, fmt.Errorf("--to %w", err)
	}
	return from, to, nil
}

// runAuditExport is gated audit export.
func runAuditExport(e *env, args []string) error {
	fs := newFlags(e, "audit export", "[--from WHEN] [--to WHEN] [--format csv|jsonl] [--out FILE]\n"+
		"  the entries recorded from --from to --to (a date alone as --to: to the end of that day; default: all),\n"+
		"  then what checking the hash chain from them to the sealed head found (exit status 1 when it is broken)")
	cf := addClientFlags(e, fs)
	fromS := fs.String("from", "", "first moment (2026-11-01, 2026-11-01 08:00, or RFC 3339)")
	toS := fs.String("to", "", "end of the period (a date alone: to the end of that day)")
	formatS := fs.String("format", "jsonl", "csv (safe to open in a spreadsheet) or jsonl")
	out := fs.String("out", "", "write to this new file (created 0600) instead of standard output")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	from, to, err := parsePeriod(*fromS, *toS)
	if err != nil {
		return err
	}
	f, err := records.ParseFormat(*formatS)
	if err != nil {
		return err
	}
	var w io.Writer = e.stdout
	say := e.stderr // the check, where it does not mix with the export
	if *out != "" {
		file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		w, say = file, e.stdout
	}
	x, err := cf.client().ExportAuditRange(e.ctx, from, to, string(f), w)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := w.(*os.File).Sync(); err != nil {
			return err
		}
	}
	fmt.Fprintln(say, strings.Join(records.SummaryLines(x), "\n"))
	if !x.OK {
		return fmt.Errorf("audit chain BROKEN at entry %d: %s", x.FirstBad, x.Problem)
	}
	return nil
}

// printActivity is the report's account of the period's audit entries.
func printActivity(w io.Writer, a *api.Activity) {
	if a == nil {
		return
	}
	fmt.Fprintf(w, "\nActivity from %s to %s: %d audit entries", when(a.From), when(a.To), a.Entries)
	if a.Verified {
		fmt.Fprintln(w, " (chain verified to the sealed head)")
	} else {
		fmt.Fprintf(w, " (chain BROKEN: %s)\n", a.Problem)
	}
	var rows [][]string
	for _, c := range a.Counts {
		rows = append(rows, []string{c.Kind, orDash(c.Outcome), fmt.Sprint(c.Count)})
	}
	if len(rows) > 0 {
		table(w, "KIND OUTCOME COUNT", rows)
	}
	fmt.Fprintln(w, "\nDecisions at the gate by method:")
	if len(a.Decisions) == 0 {
		fmt.Fprintln(w, "  none")
	}
	rows = nil
	for _, d := range a.Decisions {
		rows = append(rows, []string{d.Method, d.Outcome, fmt.Sprint(d.Count)})
	}
	if len(rows) > 0 {
		table(w, "METHOD OUTCOME COUNT", rows)
	}
	p := a.Passes
	fmt.Fprintf(w, "\nVisitor passes: %d issued (%d by residents at the kiosk), %d revoked; uses: %d let in, %d refused\n",
		p.Issued, p.IssuedAtKiosk, p.Revoked, p.Granted, p.Refused)
	u := a.Unlocks
	fmt.Fprintf(w, "Unlock windows by schedule: %d opened, %d ended", u.Opened, u.Ended)
	if u.Ended > u.EndedByRestart {
		fmt.Fprintf(w, ", holding the door unlocked %s in all", u.Held.Round(time.Second))
	}
	if u.EndedByRestart > 0 {
		fmt.Fprintf(w, " (%d ended by a restart, length not known)", u.EndedByRestart)
	}
	if u.HeldAtEnd {
		fmt.Fprint(w, "; one still held the door at the end of the period")
	}
	fmt.Fprintln(w)
	if len(a.Reasons) > 0 {
		fmt.Fprintln(w, "\nReasons given:")
		for _, r := range a.Reasons {
			fmt.Fprintf(w, "  %6d  %s %s: %s\n", r.Count, r.Kind, r.Outcome, r.Reason)
		}
	}
	fmt.Fprintf(w, "\nAlarms (%d", len(a.Alarms))
	if a.AlarmsLeftOut > 0 {
		fmt.Fprintf(w, "; %d older not listed", a.AlarmsLeftOut)
	}
	fmt.Fprintln(w, "):")
	if len(a.Alarms) == 0 {
		fmt.Fprintln(w, "  none")
	}
	rows = nil
	for _, al := range a.Alarms {
		start, end := when(al.Start), when(al.End)
		if al.Start.IsZero() {
			start = "before the period"
		}
		lasted := "-"
		switch {
		case al.End.IsZero():
			end = "not ended"
		case !al.Start.IsZero():
			lasted = al.End.Sub(al.Start).Round(time.Second).String()
		}
		rows = append(rows, []string{start, end, lasted, al.Actor, al.Name})
	}
	if len(rows) > 0 {
		table(w, "START END LASTED BY ALARM", rows)
	}
}
