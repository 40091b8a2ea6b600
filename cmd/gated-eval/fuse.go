package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/models"
)

// fuseHelp is --fuse's usage.
const fuseHelp = "measure multi-frame fusion instead: a person's photos stand in for a camera's frames, fused K at a time (match.Fuse, the gate's; and the plain mean) for each K of the list (e.g. 1,2,3);\n" +
	"1:1 FNMR at each --target-fmr and the impostor distances' lower tail, with the comparisons behind each (docs/accuracy.md, \"Multi-frame fusion\")"

// parseFuse reads --fuse: how many photos to fuse, each 1 to 10.
func parseFuse(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, err := strconv.Atoi(p)
		if err != nil || k < 1 || k > 10 {
			return nil, fmt.Errorf("%q: want a number of photos from 1 to 10", p)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no numbers of photos")
	}
	return out, nil
}

// fuseResult is one model's rows, fused as the gate does and by the plain
// mean.
type fuseResult struct {
	model      string
	gate, mean []eval.FusionRow
}

// runFuse measures fusion for each model that has its own descriptors
// (adapters are fitted on a gallery, which this split does not refit), and
// writes the table.
func runFuse(w io.Writer, src string, fms []models.FaceModel, sets map[string]*eval.Set, ks []int, split eval.Split, targets []float64, skipped []string) error {
	var res []fuseResult
	for _, fm := range fms {
		if fm.Adapts != "" {
			skipped = append(skipped, fm.Short+": an adapter, not measured with --fuse")
			continue
		}
		s := sets[fm.Name]
		if s == nil {
			continue
		}
		single, err := eval.Fusion{K: []int{1}, Split: split, TargetFMR: targets}.Measure(s)
		if err != nil {
			return fmt.Errorf("%s: %w", fm.Short, err)
		}
		f := eval.Fusion{K: ks, Split: split, TargetFMR: targets}
		for _, p := range single[0].At {
			f.Thresholds = append(f.Thresholds, p.Threshold)
		}
		gate, err := f.Measure(s)
		if err != nil {
			return fmt.Errorf("%s: %w", fm.Short, err)
		}
		f.Combine = eval.PlainMean
		mean, err := f.Measure(s)
		if err != nil {
			return fmt.Errorf("%s: %w", fm.Short, err)
		}
		res = append(res, fuseResult{model: fm.Short, gate: gate, mean: mean})
	}
	writeFuse(w, src, split, targets, res, skipped)
	return nil
}

func writeFuse(w io.Writer, src string, split eval.Split, targets []float64, res []fuseResult, skipped []string) {
	fmt.Fprintf(w, "Multi-frame fusion on %s\n", src)
	fmt.Fprintf(w, "gallery: every %s person (name order), first %d photos each; every other photo is a probe photo, fused k at a time in disjoint groups of one person's photos.\n",
		ordinal(split.Every), split.Templates)
	fmt.Fprintf(w, "1:1: each probe against every enrolled person (distance to their nearest template); genuine = its own person, impostor = the others.\n")
	fmt.Fprintf(w, "fuse: gate = match.Fuse (mean direction, mean length), mean = plain mean. The threshold at FMR f is the impostor distances' f-quantile (their lower tail); \"at single's f\" reads\n"+
		"each k at the threshold single photos have at FMR f (a threshold calibrated on single templates);\n"+
		"a rate read where fewer than 10 impostor distances lie under the threshold is marked *.\n")
	for _, s := range skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "model\tk\tfuse\tprobes\tgenuine\timpostor\t"
	for _, t := range targets {
		head += fmt.Sprintf("FNMR@%g\tthreshold\t", t)
	}
	for _, t := range targets {
		head += fmt.Sprintf("FMR|FNMR at single's %g\t", t)
	}
	fmt.Fprintln(tw, head+"impostor min\t")
	for _, r := range res {
		for i, row := range r.gate {
			fmt.Fprint(tw, fuseLine(r.model, "gate", row))
			if row.K > 1 {
				fmt.Fprint(tw, fuseLine(r.model, "mean", r.mean[i]))
			}
		}
	}
	tw.Flush()
}

func fuseLine(model, how string, row eval.FusionRow) string {
	if row.K == 1 {
		how = "-"
	}
	s := fmt.Sprintf("%s\t%d\t%s\t%d\t%d\t%d\t", model, row.K, how, row.Probes, row.Genuine, row.Impostor)
	for _, p := range row.At {
		mark := ""
		if p.FMR*float64(row.Impostor) < 10 {
			mark = "*"
		}
		s += fmt.Sprintf("%.2f%%%s\t%s\t", 100*p.FNMR, mark, dist(p.Threshold))
	}
	for _, p := range row.Fixed {
		s += fmt.Sprintf("%.3f%% | %.2f%%\t", 100*p.FMR, 100*p.FNMR)
	}
	return s + dist(row.Nearest) + "\t\n"
}

func dist(x float32) string {
	if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
		return "-"
	}
	return strconv.FormatFloat(float64(x), 'f', 3, 32)
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}
