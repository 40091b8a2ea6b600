package main

import (
	"fmt"
	"slices"
	"strings"
)

func runReport(e *env, args []string) error {
	fs := newFlags(e, "report", "[--from WHEN] [--to WHEN] [--json]  (activity: the last 30 days by default)")
	cf := addClientFlags(e, fs)
	fromS := fs.String("from", "", "start of the activity period (2026-11-01, 2026-11-01 08:00, or RFC 3339)")
	toS := fs.String("to", "", "end of the activity period (a date alone: to the end of that day)")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	from, to, err := parsePeriod(*fromS, *toS)
	if err != nil {
		return err
	}
	r, err := cf.client().ReportFor(e.ctx, from, to)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, r)
	}
	w := e.stdout
	fmt.Fprintf(w, "Face data report for gate %s, %s\n", r.Device, when(r.GeneratedAt))
	fmt.Fprintf(w, "Personal information handler: %s (%s)\n\n", r.Controller, r.Contact)
	fmt.Fprintf(w, "People whose face data is held:  %d of %d residents (%d templates)\n", r.PeopleWithFace, r.Residents, r.Templates)
	filing := "not required"
	if r.FilingRequired {
		filing = "REQUIRED: file with the regulator"
	}
	fmt.Fprintf(w, "Regulator filing threshold:      %d people; this device holds %.2f%% of it (%s)\n", r.FilingThreshold, 100*r.FilingShare, filing)
	fmt.Fprintf(w, "Purpose:                         %s\n", strings.Join(r.Purposes, "; "))
	fmt.Fprintf(w, "Method:                          %s\n", r.Method)
	fmt.Fprintf(w, "Face mode:                       %s\n", r.FaceMode)
	if c := r.Calibration; c != nil && c.StrangerUpper > 0 {
		fmt.Fprintf(w, "Stranger acceptance estimate:    up to %.2g per attempt (target %.2g), from %d residents\n", c.StrangerUpper, c.Target, c.Residents)
	}
	fmt.Fprintf(w, "Storage:                         %s\n", r.Storage)
	fmt.Fprintf(w, "Retention:                       %s\n", r.Retention)
	fmt.Fprintf(w, "Deletion:                        %s\n", r.DeletionPolicy)
	fmt.Fprintf(w, "Current notice version:          %s\n", r.NoticeVersion)
	fmt.Fprintln(w, "\nStanding consents by notice version:")
	var versions []string
	for v := range r.ConsentsByNotice {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	if len(versions) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, v := range versions {
		fmt.Fprintf(w, "  %-12s %d\n", v, r.ConsentsByNotice[v])
	}
	fmt.Fprintf(w, "Withdrawn consents: %d\n", r.WithdrawnConsent)
	fmt.Fprintf(w, "\nDeletions (%d; %d after the legal deadline of 15 working days; working days: %s):\n", len(r.Deletions), r.LateDeletions, r.Calendar)
	var rows [][]string
	for _, d := range r.Deletions {
		state := "on time"
		if !d.OnTime {
			state = "LATE"
		}
		rows = append(rows, []string{d.ReceiptID, when(d.RequestedAt), when(d.At), when(d.Deadline), state, d.Resident, fmt.Sprint(d.Templates), d.Actor, d.Reason})
	}
	if len(rows) > 0 {
		table(w, "RECEIPT REQUESTED DONE DEADLINE STATE RESIDENT TEMPLATES BY REASON", rows)
	}
	if len(r.Pending) > 0 {
		fmt.Fprintf(w, "\nPENDING destructions (%d): out of use, records deleted, but not yet gone from every file; retried until done:\n", len(r.Pending))
		for _, p := range r.Pending {
			fmt.Fprintf(w, "  %s %s since %s, %d attempts: %s\n", p.ReceiptID, p.Resident, when(p.Since), p.Attempts, p.LastError)
		}
	}
	fmt.Fprintf(w, "\nConsents ending within 30 days (%d): purged then unless renewed (gated face reconsent, or at the gate)\n", len(r.Expiring))
	for _, x := range r.Expiring {
		fmt.Fprintf(w, "  %s %s  %s\n", when(x.At), x.Resident, x.Name)
	}
	fmt.Fprintln(w, "\nSecurity measures:")
	for _, s := range r.Security {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	audit := fmt.Sprintf("verified, %d entries", r.Audit.Entries)
	if !r.Audit.OK {
		audit = fmt.Sprintf("BROKEN at entry %d: %s", r.Audit.FirstBad, r.Audit.Problem)
	}
	fmt.Fprintf(w, "\nAudit log: %s; %s\n", audit, r.AuditRetention)
	printActivity(w, r.Activity)
	return nil
}

func runNotice(e *env, args []string) error {
	fs := newFlags(e, "notice", "[--lang zh|en]  (the exact text residents consent to; print it for paper forms)")
	cf := addClientFlags(e, fs)
	lang := fs.String("lang", "zh", "zh or en")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	n, err := cf.client().Notice(e.ctx, *lang)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, n)
	}
	fmt.Fprint(e.stdout, n.Text)
	fmt.Fprintf(e.stdout, "\n[notice %s, %s, sha256 %s]\n", n.Version, n.Language, n.SHA256)
	return nil
}
