package main

import (
	"fmt"
	"strconv"
	"strings"
)

func runCalibrate(e *env, args []string) error {
	fs := newFlags(e, "calibrate", "[--json]  (how the gate may use faces, and the trade-off behind it)")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	c, err := cf.client().Calibration(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, c)
	}
	w := e.stdout
	how := "calibrated from the gallery (face.calibrate = true)"
	if !c.Calibrated {
		how = "configured threshold and margin, checked against the gallery (face.calibrate = false)"
	}
	fmt.Fprintf(w, "face mode: %s; %s\n", c.Mode, how)
	if c.Mode != "off" {
		fmt.Fprintf(w, "threshold %.3f, margin %.3f\n", c.Threshold, c.Margin)
	}
	fmt.Fprintf(w, "target: a stranger let in at most once in %.0f attempts (%.2g)\n", 1/c.Target, c.Target)
	if c.StrangerUpper > 0 {
		fmt.Fprintf(w, "estimate: up to %.2g per attempt (95%% upper bound), from %d enrolled residents\n", c.StrangerUpper, c.Residents)
	}
	if c.Mode != "off" && c.Accept > 0 {
		fmt.Fprintf(w, "residents accepted: %.0f%% of their own enrollment photos, left out one at a time (likely %.0f-%.0f%%; the mode is chosen on the low end)\n",
			100*c.Accept, 100*c.AcceptLow, 100*c.AcceptHigh)
	}
	fmt.Fprintf(w, "why: %s\n", c.Reason)
	if sp := c.Spread; sp != nil {
		var modes []string
		for _, m := range []string{"identify", "verify", "off"} {
			if n := sp.Modes[m]; n > 0 {
				modes = append(modes, fmt.Sprintf("%s %d", m, n))
			}
		}
		fmt.Fprintf(w, "firmness: with %d other bootstrap seeds the mode was %s; 1:N threshold %.3f-%.3f, 1:1 threshold %.3f-%.3f\n",
			sp.Seeds, strings.Join(modes, ", "), sp.IdentifyMin, sp.IdentifyMax, sp.VerifyMin, sp.VerifyMax)
		if sp.Modes[c.Mode] != sp.Seeds {
			fmt.Fprintln(w, "  the mode is near a boundary: enrolling more residents, or better photos, will settle it")
		}
	}
	if len(c.Duplicates) > 0 {
		fmt.Fprintf(w, "\nthe same face under two names (left out of the estimate; check each: one person enrolled twice, or a photo of the wrong person):\n")
		for i, x := range c.Duplicates {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more (gated calibrate --json lists all)\n", len(c.Duplicates)-i)
				break
			}
			fmt.Fprintf(w, "  %s and %s (distance %.3f)\n", x.A, x.B, x.Distance)
		}
	}
	if len(c.TradeOff) > 0 {
		fmt.Fprintln(w, "\ntrade-off at this gallery's size (1:N, no margin):")
		var rows [][]string
		for _, r := range c.TradeOff {
			rows = append(rows, []string{fmt.Sprintf("%.3f", r.Threshold), fmt.Sprintf("%.2g", r.StrangerUpper), pct(r.ResidentsCorrect), pct(r.VerifyAccept)})
		}
		table(w, "THRESHOLD STRANGERS-LET-IN(UPPER) RESIDENTS-RECOGNISED(1:N) RESIDENTS-ACCEPTED(1:1-WITH-CARD)", rows)
	}
	return nil
}

// pct writes a share as a percentage with two decimals.
func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }
