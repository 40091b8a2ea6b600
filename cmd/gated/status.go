package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gated-dev/gated/internal/api"
)

func runStatus(e *env, args []string) error {
	fs := newFlags(e, "status", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	s, err := cf.client().Status(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, s)
	}
	w := e.stdout
	fmt.Fprintf(w, "gate %s  (gated %s, up since %s)\n", s.Device, s.Version, when(s.StartedAt))
	for _, a := range s.Alarms {
		fmt.Fprintf(w, "ALARM: %s\n", a)
	}
	if s.Door != "" {
		fmt.Fprintln(w, s.Door) // door unlocked by schedule until 09:00
	}
	if s.Degraded != "" {
		fmt.Fprintf(w, "STORE DAMAGED: %s\n", s.Degraded)
	}
	if s.Face.Enabled {
		fmt.Fprintf(w, "face: %s, %s, threshold %.2f, margin %.2f, %d frames; %d residents, %d templates\n",
			s.Face.Mode, s.Face.Model, s.Face.Threshold, s.Face.Margin, s.Face.Frames, s.Face.Residents, s.Face.Templates)
		if c := s.Face.Calibration; c != nil {
			fmt.Fprintf(w, "face mode because: %s\n", c.Reason)
		}
		if s.Face.OtherModel > 0 {
			fmt.Fprintf(w, "face: %d residents hold face data of another model, not matched: they must enroll again (card and PIN work)\n", s.Face.OtherModel)
		}
		cam := "up"
		if !s.Camera.Up {
			cam = "DOWN: " + s.Camera.LastErr
		}
		fmt.Fprintf(w, "camera: %s (%s), %d frames\n", cam, s.Camera.Source, s.Camera.Frames)
		if s.Camera.NIR != "" {
			fmt.Fprintf(w, "NIR camera: %s\n", s.Camera.NIR)
		}
	} else {
		fmt.Fprintln(w, "face: off (card and PIN only)")
	}
	var rows [][]string
	for _, r := range s.Readers {
		state := "up"
		if !r.Up {
			state = "DOWN"
		}
		rows = append(rows, []string{r.Name, r.Type, state, when(r.Since), fmt.Sprint(r.Frames), fmt.Sprint(r.Dropped), fmt.Sprint(r.Reconnects), r.LastErr})
	}
	fmt.Fprintln(w)
	table(w, "READER TYPE STATE SINCE FRAMES DROPPED RECONNECTS LAST-ERROR", rows)
	fmt.Fprintf(w, "\ndecisions since start: granted %s; denied %s\n", counts(s.Decisions.Granted), counts(s.Decisions.Denied))
	if s.Last != nil {
		fmt.Fprintf(w, "last: %s\n", decisionLine(*s.Last))
	}
	fmt.Fprintf(w, "store: %d residents (%d with face data, %d templates), %d audit entries, %d bytes, key %s\n",
		s.Store.Residents, s.Store.ResidentsWithFace, s.Store.Templates, s.Store.AuditEntries, s.Store.FileBytes, s.Store.KEK)
	if s.Store.Backups > 0 {
		fmt.Fprintf(w, "backups: %d, newest %s\n", s.Store.Backups, when(s.Store.NewestBackup))
	} else {
		fmt.Fprintln(w, "backups: none yet")
	}
	if n := s.Store.PendingDestructions; n > 0 {
		fmt.Fprintf(w, "PENDING: %d opt-outs out of use but not yet gone from disk (gated report lists them)\n", n)
	}
	return nil
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range []string{"face", "card", "card+pin", "card+face", "exit", "visitor-code", "visitor-qr"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

func decisionLine(d api.Decision) string {
	s := strings.TrimRight(fmt.Sprintf("%s %-8s %-8s", d.Time.Local().Format("15:04:05.000"), d.Method, strings.ToUpper(d.Outcome)), " ")
	who := d.Name
	if who == "" {
		who = d.Resident
	}
	if who == "" && d.Pass != "" {
		who = "pass " + d.Pass
	}
	if who != "" {
		s += " " + who
	}
	if d.Method == "face" && d.Outcome == "granted" {
		margin := "none: only resident"
		if d.Margin != nil {
			margin = fmt.Sprintf("%.3f", *d.Margin)
		}
		s += fmt.Sprintf(" (distance %.3f, margin %s)", d.Distance, margin)
	}
	switch {
	case d.Method == "door" && d.Reader != "":
		s += " " + d.Reader // the alarm: forced-open, held-open, tamper, presentation-attack
	case d.Reader != "":
		s += " at " + d.Reader
	}
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

func runWatch(e *env, args []string) error {
	fs := newFlags(e, "watch", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout) // a stream: one decision a line, every field always there
	err := cf.client().Decisions(e.ctx, func(d api.Decision) error {
		if *cf.json {
			return enc.Encode(d)
		}
		_, err := fmt.Fprintln(e.stdout, decisionLine(d))
		return err
	})
	if e.ctx.Err() != nil {
		return nil
	}
	return err
}
