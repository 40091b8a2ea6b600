package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/eval"
)

// gateReport is the daemon-faithful mode's report (--enroll gate).
type gateReport struct {
	Source   string       `json:"source"`
	Enroll   string       `json:"enroll"` // "gate"
	Detector string       `json:"detector"`
	MaxSide  int          `json:"max_side"`
	Split    gateSplit    `json:"split"`
	Models   []*gateModel `json:"models"`
}

// gateSplit says how residents and photos were chosen, so that another
// run (or the daemon, in an end-to-end test) can take the same split.
type gateSplit struct {
	Residents    int    `json:"residents"`
	EnrollEvery  int    `json:"enroll_every,omitempty"`
	Seed         uint64 `json:"seed"`
	EnrollPhotos int    `json:"enroll_photos"`
	// Roles are every photo's role: enroll, resident-probe or
	// stranger-probe (eval.PhotoSplit.Roles).
	Roles map[string]eval.Role `json:"roles"`
}

func runGate(e *env, dir string, names []string, gc gateConfig, sp eval.PhotoSplit, plans []plan, targets []float64, target float64, pc predictConfig, quality, asJSON bool) error {
	photos, ms, det, err := gatePhotos(e, dir, names, gc)
	if err != nil {
		return err
	}
	rep := gateReport{Source: dir, Enroll: "gate", Detector: det.String(), MaxSide: gc.maxSide,
		Split: gateSplit{Residents: sp.Residents, Seed: sp.Seed, EnrollPhotos: sp.EnrollPhotos, Roles: map[string]eval.Role{}}}
	if sp.Residents == 0 {
		rep.Split.EnrollEvery = sp.Every
	}
	first := photos[names[0]]
	roles, err := sp.Roles(first)
	if err != nil {
		return usageError{err.Error()}
	}
	for i, p := range first {
		rep.Split.Roles[p.Name] = roles[i]
	}
	for i, n := range names {
		gm, err := gateFigures(n, photos[n], ms[n], sp, plans[i], targets, target, pc, quality)
		if err != nil {
			return err
		}
		rep.Models = append(rep.Models, gm)
	}
	rep.Split.Residents = rep.Models[0].Residents
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeGateText(e.stdout, rep, sp)
	return nil
}

func reasons(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], strings.TrimSuffix(k, ".")))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func writeGateText(w io.Writer, r gateReport, sp eval.PhotoSplit) {
	fmt.Fprintf(w, "gated-eval: photos from %s as the gate would enroll them (--enroll gate): faces found by %s, face.max_side %d\n", r.Source, r.Detector, r.MaxSide)
	how := fmt.Sprintf("every %d. person", sp.Every)
	if sp.Residents > 0 {
		how = fmt.Sprintf("the first %d people", sp.Residents)
	}
	order := "in name order"
	if sp.Seed != 0 {
		order = fmt.Sprintf("shuffled with --seed %d", sp.Seed)
	}
	fmt.Fprintf(w, "split: %s %s are residents (%d); staff try their first %d photos by name, the rest are probes; everyone else is a stranger\n",
		how, order, r.Split.Residents, sp.EnrollPhotos)
	for _, m := range r.Models {
		fmt.Fprintf(w, "\n%s: %d photos; the camera path finds a face in %d\n", m.Name, m.Photos, m.LiveFaces)
		fmt.Fprintf(w, "  every photo through staff enrollment: %d enrollable, %d refused: %s\n", m.Enrollable, m.Photos-m.Enrollable, reasons(m.RefusedReasons))
		fmt.Fprintf(w, "  the split's enroll photos: %d tried, %d refused: %s\n", m.Tried, m.Refused, reasons(m.SplitReasons))
		fmt.Fprintf(w, "  residents: %d, enrolled %d (%d with one template), not enrolled %d; %d templates\n",
			m.Residents, m.Enrolled, m.OneTemplate, len(m.NotEnrolled), m.Templates)
		fmt.Fprintf(w, "  probes: %d of residents (%d with no face found), %d of strangers (%d with no face found)\n",
			m.ResidentProbes, m.ResidentNoFace, m.StrangerProbes, m.StrangerNoFace)
		fmt.Fprintf(w, "  1:N on the probes with a face (%s):\n", m.Policy)
		writeIdent(w, m.ident, false, "")
		if c := m.cal; c != nil {
			if c.TooSmall != "" {
				fmt.Fprintf(w, "  calibration (target %.2g): %s\n", c.Target, c.TooSmall)
			} else {
				d := c.Decision
				fmt.Fprintf(w, "  calibration (target %.2g): %s; 1:N at %.3f (margin %.3f): %d/%d residents, %d/%d strangers; 1:1 at %.3f: %d/%d residents, %d/%d stranger card attempts\n",
					c.Target, d.Mode, d.Identify.Policy.Threshold, d.Identify.Policy.MinMargin, c.IdentCorrect, c.IdentResidentProbes, c.StrangersIn, c.StrangerProbes,
					d.Verify.Policy.Threshold, c.VerifyAccepted, c.VerifyResidentProbes, c.VerifyStrangersIn, c.VerifyAttempts)
				fmt.Fprintf(w, "    %s\n", d.Reason)
			}
		}
		if p := m.Prediction; p != nil {
			writePrediction(w, p)
		}
		if q := m.Quality; q != nil {
			writeQuality(w, q)
		}
	}
}

func count(c eval.Count) string {
	return fmt.Sprintf("%d of %d (95%%: %d-%d)", c.N, c.Of, c.Low, c.High)
}

func writePrediction(w io.Writer, p *eval.Prediction) {
	fmt.Fprintf(w, "  prediction, %s at threshold %.3f margin %.3f:\n", p.Mode, p.Threshold, p.Margin)
	fmt.Fprintf(w, "    residents granted as themselves %s, misidentified %s, refused %s, no face %s\n",
		count(p.Granted), count(p.Misidentified), count(p.Refused), count(p.NoFace))
	fmt.Fprintf(w, "    strangers accepted %s, refused %s, no face %s\n", count(p.StrangersIn), count(p.StrangersRefused), count(p.StrangersNoFace))
}

func writeQuality(w io.Writer, q *qualityStudy) {
	fmt.Fprintf(w, "  quality gate study (largest face of each photo; thresholds %+v):\n", q.Thresholds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "    measurement\t5%\t25%\t50%\t75%\t95%\t")
	for _, k := range slices.Sorted(maps.Keys(q.Quantiles)) {
		v := q.Quantiles[k]
		fmt.Fprintf(tw, "    %s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, v[0], v[1], v[2], v[3], v[4])
	}
	tw.Flush()
	fmt.Fprintf(w, "    refused by each threshold alone: %s\n", reasons(q.Below))
	fmt.Fprintln(w, "    median genuine distance (photo to the same person's other photos), by verdict:")
	for _, k := range slices.Sorted(maps.Keys(q.GenuineByVerdict)) {
		g := q.GenuineByVerdict[k]
		fmt.Fprintf(w, "      %s: %.3f (%d photos)\n", k, g.Median, g.Photos)
	}
}
