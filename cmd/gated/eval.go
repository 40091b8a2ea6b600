package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
)

func runEval(e *env, args []string) error {
	fs := newFlags(e, "eval", "(--descriptors FILE | --photos DIR) [flags]")
	descFile := fs.String("descriptors", "", "labelled descriptors in go-face's idols.json format")
	photos := fs.String("photos", "", "a folder with one sub-folder of JPEG/PNG photos per person")
	models := fs.String("models", defaultModels(e.getenv), "model directory (for --photos)")
	jobs := fs.Int("jobs", runtime.NumCPU(), "photos processed at once (for --photos)")
	thresholds := fs.String("thresholds", "0.30,0.35,0.40,0.45,0.50,0.55,0.60,0.65,0.70", "1:1 error rates at these distance thresholds")
	targets := fs.String("target-fmr", "0.01,0.001", "thresholds that keep the false match rate at these values")
	every := fs.Int("enroll-every", 2, "1:N split: enroll every n-th person (in name order); the others are strangers")
	templates := fs.Int("templates", 3, "1:N split: templates enrolled per person; their other photos are probes")
	policyT := fs.String("threshold", "", "1:N thresholds (default: the thresholds at each --target-fmr)")
	policyM := fs.String("margin", "0,0.02,0.05", "1:N minimum margins to the runner-up resident")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*descFile == "") == (*photos == "") {
		return usageError{"give exactly one of --descriptors and --photos"}
	}
	var cfg eval.Config
	var err error
	if cfg.Thresholds, err = floats32(*thresholds); err != nil {
		return usageError{"--thresholds: " + err.Error()}
	}
	if cfg.TargetFMR, err = floats64(*targets); err != nil {
		return usageError{"--target-fmr: " + err.Error()}
	}
	cfg.Split = eval.Split{Every: *every, Templates: *templates}
	margins, err := floats32(*policyM)
	if err != nil {
		return usageError{"--margin: " + err.Error()}
	}
	if *policyT != "" {
		ts, err := floats32(*policyT)
		if err != nil {
			return usageError{"--threshold: " + err.Error()}
		}
		for _, t := range ts {
			for _, m := range margins {
				cfg.Policies = append(cfg.Policies, match.Policy{Threshold: t, MinMargin: m})
			}
		}
	}

	var set *eval.Set
	var src string
	var skipped []string
	if *descFile != "" {
		f, err := os.Open(*descFile)
		if err != nil {
			return err
		}
		set, err = eval.ReadDescriptors(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *descFile, err)
		}
		src = *descFile
	} else {
		set, skipped, err = describePhotos(e, *photos, *models, *jobs)
		if err != nil {
			return err
		}
		src = *photos
	}
	if *policyT == "" {
		// Policies at each target's threshold, with each margin.
		pairs := eval.AllPairs(set)
		for _, t := range cfg.TargetFMR {
			for _, m := range margins {
				cfg.Policies = append(cfg.Policies, match.Policy{Threshold: pairs.AtFMR(t).Threshold, MinMargin: m})
			}
		}
	}
	rep, err := eval.Evaluate(set, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeEvalJSON(e.stdout, src, rep, skipped)
	}
	writeEvalText(e.stdout, src, rep, skipped)
	return nil
}

func floats32(s string) ([]float32, error) {
	f, err := floats64(s)
	out := make([]float32, len(f))
	for i, x := range f {
		out[i] = float32(x)
	}
	return out, err
}

func floats64(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		x, err := strconv.ParseFloat(p, 64)
		if err != nil || x < 0 {
			return nil, fmt.Errorf("%q is not a non-negative number", p)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, errors.New("no values")
	}
	return out, nil
}

// describePhotos computes one descriptor per photo of DIR/<person>/*.{jpg,png}.
// A photo in which the detector finds no face is skipped and listed; where it
// finds several, the largest face is taken (tight crops of one person).
func describePhotos(e *env, dir, models string, jobs int) (*eval.Set, []string, error) {
	type item struct{ person, path string }
	var items []item
	people, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range people {
		if !p.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range files {
			switch strings.ToLower(filepath.Ext(f.Name())) {
			case ".jpg", ".jpeg", ".png":
				items = append(items, item{p.Name(), filepath.Join(dir, p.Name(), f.Name())})
			}
		}
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("%s: no photos in per-person sub-folders", dir)
	}
	jobs = max(1, min(jobs, len(items)))
	recs := make([]*recognizer.Recognizer, jobs)
	for i := range recs {
		if recs[i], err = recognizer.Load(models, recognizer.Options{}); err != nil {
			return nil, nil, err
		}
		defer recs[i].Close()
	}
	e.log.Info("computing descriptors", "photos", len(items), "jobs", jobs)
	descs := make([][]float32, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for _, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b, err := os.ReadFile(items[i].path)
				if err != nil {
					errs[i] = err
					continue
				}
				faces, err := r.FacesInImage(b)
				if err != nil {
					errs[i] = err
					continue
				}
				if len(faces) == 0 {
					continue
				}
				big := slices.MaxFunc(faces, func(a, b recognizer.Face) int {
					return a.Rect.Dx()*a.Rect.Dy() - b.Rect.Dx()*b.Rect.Dy()
				})
				descs[i] = big.Descriptor
			}
		}()
	}
	for i := range items {
		select {
		case next <- i:
		case <-e.ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := e.ctx.Err(); err != nil {
		return nil, nil, err
	}
	set := &eval.Set{}
	var skipped []string
	for i, it := range items {
		rel, _ := filepath.Rel(dir, it.path)
		switch {
		case errs[i] != nil:
			skipped = append(skipped, fmt.Sprintf("%s: %v", rel, errs[i]))
		case descs[i] == nil:
			skipped = append(skipped, rel+": no face found")
		default:
			set.Add(it.person, descs[i])
		}
	}
	return set, skipped, nil
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func writeEvalText(w io.Writer, src string, r *eval.Report, skipped []string) {
	fmt.Fprintf(w, "gated eval: %d descriptors of %d people from %s\n", r.Descriptors, r.People, src)
	if len(skipped) > 0 {
		fmt.Fprintf(w, "skipped %d photos (no face found, or unreadable):\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
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
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\tmargin\tresidents correct\tmisidentified\trejected\tstrangers accepted\t")
	for _, p := range r.Identification {
		fmt.Fprintf(tw, "%.3f\t%.2f\t%s\t%s\t%s\t%s\t\n", p.Policy.Threshold, p.Policy.MinMargin,
			pct(p.CorrectRate()), pct(p.MisidentRate()), pct(float64(p.Rejected)/float64(max(1, p.ResidentProbes))), pct(p.StrangerRate()))
	}
	tw.Flush()
}

func writeEvalJSON(w io.Writer, src string, r *eval.Report, skipped []string) error {
	type point struct {
		Threshold float32 `json:"threshold"`
		FMR       float64 `json:"fmr"`
		FNMR      float64 `json:"fnmr"`
	}
	type target struct {
		TargetFMR float64 `json:"target_fmr"`
		point
	}
	type ident struct {
		Threshold        float32 `json:"threshold"`
		Margin           float32 `json:"margin"`
		ResidentProbes   int     `json:"resident_probes"`
		CorrectAccepts   int     `json:"correct_accepts"`
		Misidentified    int     `json:"misidentified"`
		Rejected         int     `json:"rejected"`
		StrangerProbes   int     `json:"stranger_probes"`
		StrangersAccepts int     `json:"strangers_accepted"`
	}
	out := struct {
		Source        string   `json:"source"`
		People        int      `json:"people"`
		Descriptors   int      `json:"descriptors"`
		Skipped       []string `json:"skipped,omitempty"`
		GenuinePairs  int      `json:"genuine_pairs"`
		ImpostorPairs int      `json:"impostor_pairs"`
		Curve         []point  `json:"curve"`
		AtTarget      []target `json:"at_target_fmr"`
		Split         struct {
			Every     int `json:"enroll_every"`
			Templates int `json:"templates"`
			Residents int `json:"residents"`
		} `json:"split"`
		Identification []ident `json:"identification"`
	}{Source: src, People: r.People, Descriptors: r.Descriptors, Skipped: skipped, GenuinePairs: r.GenuinePairs, ImpostorPairs: r.Impostors}
	for _, p := range r.Curve {
		out.Curve = append(out.Curve, point{p.Threshold, p.FMR, p.FNMR})
	}
	for _, p := range r.AtTarget {
		out.AtTarget = append(out.AtTarget, target{p.Target, point{p.Threshold, p.FMR, p.FNMR}})
	}
	out.Split.Every, out.Split.Templates = r.Split.Every, r.Split.Templates
	for _, p := range r.Identification {
		out.Split.Residents = p.Residents
		out.Identification = append(out.Identification, ident{p.Policy.Threshold, p.Policy.MinMargin, p.ResidentProbes, p.CorrectAccepts, p.Misidentified, p.Rejected, p.StrangerProbes, p.StrangersAccepts})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
