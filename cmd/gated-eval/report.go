package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval"
)

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func writeEvalText(w io.Writer, src string, r *eval.Report, policy string, skipped []string) {
	fmt.Fprintf(w, "gated-eval: %d descriptors of %d people from %s\n", r.Descriptors, r.People, src)
	writeSkipped(w, skipped)
	fmt.Fprintf(w, "\n1:1 verification: %d same-person pairs, %d different-person pairs\n", r.GenuinePairs, r.Impostors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\tFMR\tFNMR\t")
	for _, p := range r.Curve {
		fmt.Fprintf(tw, "%.3f\t%s\t%s\t\n", p.Threshold, pct(p.FMR), pct(p.FNMR))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nthreshold for a target false match rate:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target FMR\tthreshold\tFMR\tFNMR\t")
	for _, p := range r.AtTarget {
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t\n", pct(p.Target), p.Threshold, pct(p.FMR), pct(p.FNMR))
	}
	tw.Flush()
	if len(r.Identification) == 0 {
		return
	}
	id0 := r.Identification[0]
	fmt.Fprintf(w, "\n1:N identification: every %d. person enrolled with %d templates (%d residents, %d templates);\n",
		r.Split.Every, r.Split.Templates, id0.Residents, id0.GalleryTemplates)
	fmt.Fprintf(w, "probes: %d photos of residents, %d of strangers\n", id0.ResidentProbes, id0.StrangerProbes)
	fmt.Fprintf(w, "policies: %s\n", policy)
	writeIdent(w, r.Identification, false, "")
}

func writeSkipped(w io.Writer, skipped []string) {
	if len(skipped) > 0 {
		fmt.Fprintf(w, "skipped %d (photos with no face found or unreadable; duplicates dropped):\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

func writeIdent(w io.Writer, ids []eval.PolicyResult, withModel bool, model string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if withModel {
		fmt.Fprint(tw, "model\t")
	}
	fmt.Fprintln(tw, "threshold\tmargin\tresidents correct\tmisidentified\trejected\tstrangers accepted\t")
	for _, p := range ids {
		if withModel {
			fmt.Fprintf(tw, "%s\t", model)
		}
		fmt.Fprintf(tw, "%.3f\t%.3f\t%s\t%s\t%s\t%s\t\n", p.Policy.Threshold, p.Policy.MinMargin,
			pct(p.CorrectRate()), pct(p.MisidentRate()), pct(float64(p.Rejected)/float64(max(1, p.ResidentProbes))), pct(p.StrangerRate()))
	}
	tw.Flush()
}

func writeEvalJSON(w io.Writer, src string, r *eval.Report, policy string, skipped []string) error {
	out := struct {
		Source        string         `json:"source"`
		People        int            `json:"people"`
		Descriptors   int            `json:"descriptors"`
		Skipped       []string       `json:"skipped,omitempty"`
		GenuinePairs  int            `json:"genuine_pairs"`
		ImpostorPairs int            `json:"impostor_pairs"`
		Curve         []jsonPoint    `json:"curve"`
		AtTarget      []jsonTarget   `json:"at_target_fmr"`
		Split         jsonSplit      `json:"split"`
		Policy        string         `json:"policy"`
		Ident         []jsonIdentity `json:"identification"`
	}{Source: src, People: r.People, Descriptors: r.Descriptors, Skipped: skipped, GenuinePairs: r.GenuinePairs, ImpostorPairs: r.Impostors, Policy: policy}
	out.Curve, out.AtTarget = jsonCurve(r.Curve, r.AtTarget)
	out.Split.Every, out.Split.Templates = r.Split.Every, r.Split.Templates
	out.Ident, out.Split.Residents = jsonIdent(r.Identification)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type jsonPoint struct {
	Threshold float32 `json:"threshold"`
	FMR       float64 `json:"fmr"`
	FNMR      float64 `json:"fnmr"`
}

type jsonTarget struct {
	TargetFMR float64 `json:"target_fmr"`
	jsonPoint
}

type jsonSplit struct {
	Every     int `json:"enroll_every"`
	Templates int `json:"templates"`
	Residents int `json:"residents"`
}

type jsonIdentity struct {
	Threshold        float32 `json:"threshold"`
	Margin           float32 `json:"margin"`
	ResidentProbes   int     `json:"resident_probes"`
	CorrectAccepts   int     `json:"correct_accepts"`
	Misidentified    int     `json:"misidentified"`
	Rejected         int     `json:"rejected"`
	StrangerProbes   int     `json:"stranger_probes"`
	StrangersAccepts int     `json:"strangers_accepted"`
}

func jsonCurve(curve []eval.Point, at []eval.TargetPoint) ([]jsonPoint, []jsonTarget) {
	var c []jsonPoint
	var t []jsonTarget
	for _, p := range curve {
		c = append(c, jsonPoint{p.Threshold, p.FMR, p.FNMR})
	}
	for _, p := range at {
		t = append(t, jsonTarget{p.Target, jsonPoint{p.Threshold, p.FMR, p.FNMR}})
	}
	return c, t
}

func jsonIdent(ids []eval.PolicyResult) ([]jsonIdentity, int) {
	var out []jsonIdentity
	residents := 0
	for _, p := range ids {
		residents = p.Residents
		out = append(out, jsonIdentity{p.Policy.Threshold, p.Policy.MinMargin, p.ResidentProbes, p.CorrectAccepts, p.Misidentified, p.Rejected, p.StrangerProbes, p.StrangersAccepts})
	}
	return out, residents
}

func writeCompareText(w io.Writer, src string, c *eval.Comparison, policies []string, cal []calibration, skipped []string) {
	var names []string
	for _, m := range c.Models {
		names = append(names, m.Name)
	}
	fmt.Fprintf(w, "gated-eval: %d photos of %d people from %s, each described by %s\n", c.Descriptors, c.People, src, strings.Join(names, ", "))
	writeSkipped(w, skipped)
	m0 := c.Models[0]
	fmt.Fprintf(w, "\n1:1 verification, pairs within each half of the people (enrolled / not; an adapted model is fitted on the other half): %d same-person pairs, %d different-person pairs\n",
		m0.GenuinePairs, m0.Impostors)
	fmt.Fprintln(w, "false non-match rate at a false match rate of (threshold):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "model\t")
	for _, p := range m0.DET {
		fmt.Fprintf(tw, "FMR %s\t", pct(p.Target))
	}
	fmt.Fprintln(tw)
	for _, m := range c.Models {
		fmt.Fprintf(tw, "%s\t", m.Name)
		for _, p := range m.DET {
			fmt.Fprintf(tw, "%s (%.3f)\t", pct(p.FNMR), p.Threshold)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	// Each model on its own scale: dlib's range would say nothing about a
	// unit-length model, whose pairs lie near 1.
	fmt.Fprintln(w, "\nFMR / FNMR at fixed distance thresholds, each model on its own scale (--thresholds MODEL=... where given, else round thresholds from its FMR-0.1% point to where its FNMR falls to 1%):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tthreshold\tFMR\tFNMR\t")
	for _, m := range c.Models {
		for _, p := range m.Curve {
			fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t\n", m.Name, p.Threshold, pct(p.FMR), pct(p.FNMR))
		}
	}
	tw.Flush()
	if len(m0.Identification) > 0 {
		id0 := m0.Identification[0]
		fmt.Fprintf(w, "\n1:N identification: every %d. person enrolled with %d templates (%d residents, %d templates); probes: %d photos of residents, %d of strangers\n",
			c.Split.Every, c.Split.Templates, id0.Residents, id0.GalleryTemplates, id0.ResidentProbes, id0.StrangerProbes)
		for i, m := range c.Models {
			fmt.Fprintf(w, "  %s: %s\n", m.Name, policies[i])
		}
		for _, m := range c.Models {
			writeIdent(w, m.Identification, true, m.Name)
		}
	}
	if len(cal) == 0 {
		return
	}
	fmt.Fprintf(w, "\ncalibration: policy chosen from the enrolled gallery alone (target %.2g strangers accepted per attempt), checked on the people it never saw\n", cal[0].Target)
	var fitted []calibration
	for _, k := range cal {
		if k.TooSmall == "" {
			fitted = append(fitted, k)
		}
	}
	if len(fitted) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "model\tmode\t1:N threshold\tmargin\tbound\tresidents in (predicted)\tstrangers in\t1:1 threshold\tbound\tresidents in (predicted)\tstrangers in (card)\t")
		for _, k := range fitted {
			d := k.Decision
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.2g\t%s (%s)\t%d/%d\t%.3f\t%.2g\t%s (%s)\t%d/%d\t\n", k.Model, d.Mode,
				d.Identify.Policy.Threshold, d.Identify.Policy.MinMargin, d.Identify.Stranger,
				pct(float64(k.IdentCorrect)/float64(max(1, k.IdentResidentProbes))), predicted(d.Identify), k.StrangersIn, k.StrangerProbes,
				d.Verify.Policy.Threshold, d.Verify.Stranger,
				pct(float64(k.VerifyAccepted)/float64(max(1, k.VerifyResidentProbes))), predicted(d.Verify), k.VerifyStrangersIn, k.VerifyAttempts)
		}
		tw.Flush()
		fmt.Fprintln(w, "(predicted: the gallery's own leave-one-out estimate, with its interval; the mode is chosen on the low end)")
	}
	for _, k := range cal {
		if k.TooSmall != "" {
			fmt.Fprintf(w, "  %s: %s\n", k.Model, k.TooSmall)
			continue
		}
		fmt.Fprintf(w, "  %s: %s\n", k.Model, k.Decision.Reason)
	}
}

// predicted is an option's leave-one-out resident acceptance with its
// interval, in whole percent.
func predicted(o calibrate.Option) string {
	return fmt.Sprintf("%.0f%%, %.0f-%.0f%%", 100*o.Accept, 100*o.AcceptLow, 100*o.AcceptHigh)
}

func writeCompareJSON(w io.Writer, src string, c *eval.Comparison, policies []string, cal []calibration, skipped []string) error {
	type model struct {
		Name          string         `json:"name"`
		GenuinePairs  int            `json:"genuine_pairs"`
		ImpostorPairs int            `json:"impostor_pairs"`
		Curve         []jsonPoint    `json:"curve"`
		DET           []jsonTarget   `json:"det"`
		Policy        string         `json:"policy"`
		Ident         []jsonIdentity `json:"identification"`
	}

	out := struct {
		Source      string   `json:"source"`
		People      int      `json:"people"`
		Descriptors int      `json:"descriptors"`
		Skipped     []string `json:"skipped,omitempty"`
		Split       struct {
			Every     int `json:"enroll_every"`
			Templates int `json:"templates"`
		} `json:"split"`
		Models      []model           `json:"models"`
		Calibration []jsonCalibration `json:"calibration,omitempty"`
	}{Source: src, People: c.People, Descriptors: c.Descriptors, Skipped: skipped}
	out.Split.Every, out.Split.Templates = c.Split.Every, c.Split.Templates
	for i, m := range c.Models {
		jm := model{Name: m.Name, GenuinePairs: m.GenuinePairs, ImpostorPairs: m.Impostors, Policy: policies[i]}
		jm.Curve, jm.DET = jsonCurve(m.Curve, m.DET)
		jm.Ident, _ = jsonIdent(m.Identification)
		out.Models = append(out.Models, jm)
	}
	for _, k := range cal {
		out.Calibration = append(out.Calibration, calibrationJSON(k))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// jsonCalibration is a calibration as gated-eval's JSON reports it (both
// modes): what calibrate chose, its prediction, and what held-out people
// did under it.
type jsonCalibration struct {
	Model                string     `json:"model"`
	TooSmall             string     `json:"too_small,omitempty"`
	Mode                 string     `json:"mode,omitempty"`
	Target               float64    `json:"target"`
	Residents            int        `json:"residents"`
	IdentThreshold       float32    `json:"identify_threshold"`
	IdentMargin          float32    `json:"identify_margin"`
	IdentBound           float64    `json:"identify_stranger_bound"`
	IdentResidentProbes  int        `json:"identify_resident_probes"`
	IdentCorrect         int        `json:"identify_correct"`
	IdentPredicted       [3]float64 `json:"identify_predicted"` // share, low, high
	StrangerProbes       int        `json:"stranger_probes"`
	StrangersIn          int        `json:"strangers_accepted"`
	VerifyThreshold      float32    `json:"verify_threshold"`
	VerifyBound          float64    `json:"verify_stranger_bound"`
	VerifyResidentProbes int        `json:"verify_resident_probes"`
	VerifyAccepted       int        `json:"verify_accepted"`
	VerifyPredicted      [3]float64 `json:"verify_predicted"`
	VerifyAttempts       int        `json:"verify_stranger_attempts"`
	VerifyStrangersIn    int        `json:"verify_strangers_accepted"`
	Reason               string     `json:"reason,omitempty"`
}

// calibrationJSON is k as the JSON reports it.
func calibrationJSON(k calibration) jsonCalibration {
	if k.TooSmall != "" {
		return jsonCalibration{Model: k.Model, TooSmall: k.TooSmall, Target: k.Target, Residents: k.Residents}
	}
	d := k.Decision
	return jsonCalibration{
		Model: k.Model, Mode: d.Mode.String(), Target: k.Target, Residents: k.Residents, Reason: d.Reason,
		IdentThreshold: d.Identify.Policy.Threshold, IdentMargin: d.Identify.Policy.MinMargin, IdentBound: d.Identify.Stranger,
		IdentResidentProbes: k.IdentResidentProbes, IdentCorrect: k.IdentCorrect, StrangerProbes: k.StrangerProbes, StrangersIn: k.StrangersIn,
		IdentPredicted:  [3]float64{d.Identify.Accept, d.Identify.AcceptLow, d.Identify.AcceptHigh},
		VerifyThreshold: d.Verify.Policy.Threshold, VerifyBound: d.Verify.Stranger, VerifyResidentProbes: k.VerifyResidentProbes,
		VerifyPredicted: [3]float64{d.Verify.Accept, d.Verify.AcceptLow, d.Verify.AcceptHigh},
		VerifyAccepted:  k.VerifyAccepted, VerifyAttempts: k.VerifyAttempts, VerifyStrangersIn: k.VerifyStrangersIn,
	}
}
