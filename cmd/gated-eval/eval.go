package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/whiten"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/models"
)

// shortNames are the names --compare accepts: every face model of the
// registry, the gate's and the research ones (models.FaceModels).
func shortNames() []string {
	var out []string
	for _, m := range models.FaceModels() {
		out = append(out, m.Short)
	}
	return out
}

// fromDescriptors reports whether a model can be measured on dlib's
// descriptors alone (--descriptors): dlib, and models that adapt it.
func fromDescriptors(m models.FaceModel) bool {
	return m.Name == models.Dlib || m.Adapts == models.Dlib
}

// descriptorNames are the short names of the models fromDescriptors allows.
func descriptorNames() []string {
	var out []string
	for _, m := range models.FaceModels() {
		if fromDescriptors(m) {
			out = append(out, m.Short)
		}
	}
	return out
}

// runEval parses the command line, reads or computes the descriptors of
// each model, measures them and writes the report.
func runEval(e *env, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: %s %s\n\nMeasures recognition accuracy on labelled faces (research tooling: the gate does not run it).\n\n", name, synopsis)
		fs.PrintDefaults()
	}
	descFile := fs.String("descriptors", "", "labelled descriptors in go-face's idols.json format")
	photos := fs.String("photos", "", "a folder with one sub-folder of JPEG/PNG photos per person")
	modelList := fs.String("compare", "dlib", "models to compare side by side on the same photos: "+strings.Join(shortNames(), ", ")+
		" (--descriptors: "+strings.Join(descriptorNames(), " and ")+" only)")
	customSHA := fs.String("dlib-custom-sha256", "", "SHA-256 of the user-supplied dlib network (for --compare ...,dlib-custom)")
	customPath := fs.String("dlib-custom", "", "path of the user-supplied dlib network (default: MODELS/"+models.DlibCustomFile+")")
	modelDir := fs.String("models", models.DefaultDir(e.getenv), "model directory (for --photos)")
	jobs := fs.Int("jobs", runtime.NumCPU(), "photos processed at once (for --photos)")
	thresholds := fs.String("thresholds", "0.30,0.35,0.40,0.45,0.50,0.55,0.60,0.65,0.70", "1:1 error rates at these distance thresholds")
	targets := fs.String("target-fmr", "0.01,0.001", "thresholds that keep the false match rate at these values")
	every := fs.Int("enroll-every", 2, "1:N split: enroll every n-th person (in name order); the others are strangers")
	templates := fs.Int("templates", 3, "1:N split: templates enrolled per person; their other photos are probes")
	policyT := fs.String("threshold", "", "1:N thresholds (default: the thresholds at each --target-fmr)")
	policyM := fs.String("margin", "0,0.02,0.05", "1:N minimum margins to the runner-up resident")
	calib := fs.Bool("calibrate", false, "also let calibrate choose a policy from each model's 1:N gallery alone, and check it on the held-out strangers")
	target := fs.Float64("target", 1e-4, "--calibrate: the stranger-accept target per attempt")
	dedup := fs.Float64("drop-duplicates", 0, "drop descriptors within this distance of someone else's (one photo filed under two people); 0 keeps all")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return usageError{} // flag has printed it, with the usage
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (*descFile == "") == (*photos == "") {
		return usageError{"give exactly one of --descriptors and --photos"}
	}
	fms, err := parseModels(*modelList, *descFile != "")
	if err != nil {
		return usageError{"--compare: " + err.Error()}
	}
	var names []string // registry names, in --compare's order
	for _, m := range fms {
		names = append(names, m.Name)
	}
	if slices.Contains(names, models.DlibCustom) && *customSHA == "" {
		return usageError{"--compare dlib-custom needs --dlib-custom-sha256"}
	}
	var cfg eval.Config
	if cfg.Thresholds, err = floats32(*thresholds); err != nil {
		return usageError{"--thresholds: " + err.Error()}
	}
	if cfg.TargetFMR, err = floats64(*targets); err != nil {
		return usageError{"--target-fmr: " + err.Error()}
	}
	if !(*target > 0 && *target < 1) {
		return usageError{"--target: want a value in (0, 1)"}
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

	sets := map[string]*eval.Set{}
	var src string
	var skipped []string
	if *descFile != "" {
		f, err := os.Open(*descFile)
		if err != nil {
			return err
		}
		set, err := eval.ReadDescriptors(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *descFile, err)
		}
		sets[models.Dlib] = set
		src = *descFile
	} else {
		dc := describeConfig{dir: *modelDir, customPath: *customPath, customSHA: *customSHA, jobs: *jobs}
		sets, skipped, err = describePhotos(e, *photos, names, dc)
		if err != nil {
			return err
		}
		src = *photos
	}
	if *dedup > 0 {
		// Duplicates are judged in dlib's space (or the first model's), and
		// dropped from every model so that all see the same photos.
		base := sets[names[0]]
		if s, ok := sets[models.Dlib]; ok {
			base = s
		}
		if drop, n := base.CrossLabelDuplicates(float32(*dedup)); n > 0 {
			for k, s := range sets {
				sets[k] = s.Without(drop)
			}
			skipped = append(skipped, fmt.Sprintf("%d descriptors within %.2f of another person's (duplicate photos)", n, *dedup))
		}
	}

	if len(names) == 1 && names[0] == models.Dlib && !*calib {
		set := sets[models.Dlib]
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

	var ms []eval.Model
	for _, fm := range fms {
		m, err := evalModel(fm, sets)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	cmp, err := eval.Compare(ms, cfg)
	if err != nil {
		return err
	}
	var cal []calibration
	if *calib {
		for _, m := range ms {
			c, err := calibrateModel(m, cfg.Split, *target)
			if err != nil {
				return fmt.Errorf("calibrate %s: %w", m.Name, err)
			}
			cal = append(cal, c)
		}
	}
	if *asJSON {
		return writeCompareJSON(e.stdout, src, cmp, cal, skipped)
	}
	writeCompareText(e.stdout, src, cmp, cal, skipped)
	return nil
}

// parseModels looks up each name of a --compare list (a registry model's
// Short name or Name). With descriptorsOnly, only dlib and models that adapt
// dlib's descriptors can be measured.
func parseModels(list string, descriptorsOnly bool) ([]models.FaceModel, error) {
	var out []models.FaceModel
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		i := slices.IndexFunc(models.FaceModels(), func(m models.FaceModel) bool { return n == m.Short || n == m.Name })
		if i < 0 {
			return nil, fmt.Errorf("unknown model %q (known: %s)", n, strings.Join(shortNames(), ", "))
		}
		m := models.FaceModels()[i]
		if descriptorsOnly && !fromDescriptors(m) {
			return nil, fmt.Errorf("%s needs photos, not descriptors", n)
		}
		if slices.ContainsFunc(out, func(o models.FaceModel) bool { return o.Name == m.Name }) {
			return nil, fmt.Errorf("%s given twice", n)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no models")
	}
	return out, nil
}

// evalModel is one model's descriptors as eval compares them, under the
// registry's name (what its templates would record): its own, or those of
// the model it adapts with the adapter fitted on each gallery.
func evalModel(fm models.FaceModel, sets map[string]*eval.Set) (eval.Model, error) {
	if fm.Adapts == "" {
		return eval.Model{Name: fm.Name, Set: sets[fm.Name]}, nil
	}
	m := eval.Model{Name: fm.Name, Set: sets[fm.Adapts]}
	switch fm.Name {
	case models.DlibWhiten:
		m.Adapt = whitenAdapter
	default:
		return eval.Model{}, fmt.Errorf("no adapter for %s", fm.Name)
	}
	return m, nil
}

// whitenAdapter fits the within-person whitening on a gallery's templates.
func whitenAdapter(fit *eval.Set) (eval.Mapper, error) {
	t, err := whiten.Fit(fit.Vectors, fit.Labels, 0)
	if err != nil {
		return nil, err
	}
	return t.Apply, nil
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
