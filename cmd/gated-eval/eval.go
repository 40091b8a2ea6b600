package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/gated-dev/gated/cmd/gated-eval/internal/whiten"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
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
	detector := fs.String("detector", "auto", "face detector (for --photos), as face.detector: yunet, hog, or auto (yunet where its model is installed, else hog)")
	thresholds := fs.String("thresholds", "", "1:1 error rates at these distance thresholds, [MODEL=]VALUE,...: a bare value only with one model, as distances are on each model's own scale\n"+
		"(default: 0.30 to 0.70 by 0.05 for dlib alone; with --compare or --calibrate, round thresholds across each model's own distances, from its FMR-0.1% point to where its FNMR falls to 1%)")
	targets := fs.String("target-fmr", "0.01,0.001", "thresholds that keep the false match rate at these values")
	every := fs.Int("enroll-every", 2, "1:N split: enroll every n-th person (in name order, or --seed's); the others are strangers")
	templates := fs.Int("templates", 3, "1:N split: templates enrolled per person (--enroll gate: photos tried per resident, the first in name order, enrolled or refused); their other photos are probes")
	policyT := fs.String("threshold", "", "1:N thresholds, [MODEL=]VALUE,...: a bare value only with one model (default: each model's thresholds at each --target-fmr)")
	policyM := fs.String("margin", "", "1:N minimum margins to the runner-up resident, [MODEL=]VALUE[%],...: N% is N% of the threshold; a bare distance only with one model\n"+
		"(default: 0,0.02,0.05 for dlib alone; with --compare or --calibrate, 0%,5%,10%)")
	calib := fs.Bool("calibrate", false, "also let calibrate choose a policy from each model's 1:N gallery alone, and check it on the held-out strangers")
	target := fs.Float64("target", 1e-4, "--calibrate: the stranger-accept target per attempt")
	dedup := fs.Float64("drop-duplicates", 0, "drop descriptors within this distance of someone else's (one photo filed under two people); 0 keeps all")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	enroll := fs.String("enroll", "", "--photos: \"gate\" (the default): 1:N, calibration and --predict as the daemon would enroll: each resident's enroll photos through\n"+
		"staff enrollment's quality gate (gated face enroll --photo), probes through the live camera path (largest face), with the daemon's model and detector\n"+
		"(refused photos and residents are reported; no 1:1 curves); \"all\": every photo's largest face, no quality gate, 1:1 curves (the older figures)")
	residents := fs.Int("residents", 0, "--enroll gate: this many people are residents (the first after --seed's shuffle); 0: every --enroll-every-th person")
	seed := fs.Uint64("seed", 0, "--enroll gate: shuffle people with this seed before choosing residents (0: name order)")
	maxSide := fs.Int("max-side", 1280, "--enroll gate: as face.max_side: photos are scaled to this longest side to find faces")
	predict := fs.Bool("predict", false, "--enroll gate, one model: predict what the gate does with every probe photo (granted, misidentified, refused, no face; strangers accepted), with 95% intervals")
	mode := fs.String("mode", "auto", "--predict: identify, verify (at --threshold and --margin), or auto (what calibration chooses at --target, as face.calibrate = true)")
	quality := fs.Bool("quality", false, "--enroll gate: also study the quality gate: each measurement's spread, how many each threshold refuses, genuine distances of refused and accepted photos")
	fuse := fs.String("fuse", "", fuseHelp)
	frames := fs.Int("frames", 3, "as face.frames: calibration assumes the gate fuses this many frames into each decision")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return usageError{} // flag has printed it, with the usage
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["mode"] && !*predict {
		return usageError{"--mode is for --predict"}
	}
	if *frames < 1 || *frames > 30 {
		return usageError{"--frames: use 1-30, as face.frames"}
	}
	if set["fuse"] {
		for _, f := range []string{"json", "calibrate", "threshold", "margin", "predict"} {
			if set[f] {
				return usageError{"--fuse prints its own table: it does not take --" + f}
			}
		}
	}
	if (*descFile == "") == (*photos == "") {
		return usageError{"give exactly one of --descriptors and --photos"}
	}
	switch {
	case *enroll == "" && *photos != "":
		*enroll = "gate"
	case *enroll == "":
		*enroll = "all"
	case *enroll != "gate" && *enroll != "all":
		return usageError{fmt.Sprintf("--enroll %q: use gate or all", *enroll)}
	case *enroll == "gate" && *descFile != "":
		return usageError{"--enroll gate needs --photos: descriptors carry no photos to run through the quality gate"}
	}
	if *enroll == "all" && (*predict || *quality || *residents != 0 || *seed != 0) {
		return usageError{"--predict, --quality, --residents and --seed need --enroll gate"}
	}
	if *enroll != "gate" && !*calib && !set["fuse"] {
		for _, f := range []string{"frames", "target"} {
			if set[f] {
				return usageError{"--" + f + " is for --calibrate (or --photos, which calibrates as the gate would)"}
			}
		}
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
	if cfg.TargetFMR, err = floats64(*targets); err != nil {
		return usageError{"--target-fmr: " + err.Error()}
	}
	if !(*target > 0 && *target < 1) {
		return usageError{"--target: want a value in (0, 1)"}
	}
	cfg.Split = eval.Split{Every: *every, Templates: *templates}
	var fuseKs []int
	if *fuse != "" {
		if fuseKs, err = parseFuse(*fuse); err != nil {
			return usageError{"--fuse: " + err.Error()}
		}
	}
	if fuseKs != nil && *enroll == "gate" {
		return usageError{"--fuse measures every photo's face: add --enroll all"}
	}
	plans, err := parsePlans(fms, *thresholds, *policyT, *policyM)
	if err != nil {
		return err
	}

	if *enroll == "gate" {
		for _, fm := range fms {
			if !slices.Contains(facemodel.Names(), fm.Name) {
				return usageError{fmt.Sprintf("--enroll gate: %s is not a model the gate runs (%s); measure it with --enroll all", fm.Short, strings.Join(facemodel.Names(), ", "))}
			}
		}
		if *residents < 0 || *every < 1 || *templates < 1 {
			return usageError{"--residents must be >= 0, --enroll-every and --templates >= 1"}
		}
		pc := predictConfig{on: *predict, mode: *mode, target: *target, frames: *frames}
		if *predict {
			if len(fms) != 1 {
				return usageError{"--predict: give one model in --compare"}
			}
			switch *mode {
			case "auto":
			case "identify", "verify":
				pl := plans[0]
				if len(pl.thresholds) != 1 || len(pl.margins) > 1 {
					return usageError{"--predict --mode " + *mode + ": give one --threshold (and at most one --margin)"}
				}
				pc.threshold = pl.thresholds[0]
				if len(pl.margins) == 1 {
					pc.margin = pl.margins[0]
				}
			default:
				return usageError{fmt.Sprintf("--mode %q: use auto, identify or verify", *mode)}
			}
		}
		gc := gateConfig{dir: *modelDir, detector: *detector, maxSide: *maxSide, customPath: *customPath, customSHA: *customSHA, jobs: *jobs}
		sp := eval.PhotoSplit{Residents: *residents, Every: *every, Seed: *seed, EnrollPhotos: *templates}
		return runGate(e, *photos, names, gc, sp, plans, cfg.TargetFMR, *target, pc, *quality, *asJSON)
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
		det, err := facemodel.ResolveDetector(*detector, *modelDir)
		if err != nil || det == recognizer.DetectorCNN {
			return usageError{fmt.Sprintf("--detector %q: use yunet, hog or auto", *detector)}
		}
		fmt.Fprintf(e.stderr, "%s: faces found by %s\n", name, det)
		dc := describeConfig{dir: *modelDir, customPath: *customPath, customSHA: *customSHA, jobs: *jobs, detector: det}
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
			skipped = append(skipped, fmt.Sprintf("%d descriptors within %.3f of another person's (duplicate photos)", n, *dedup))
		}
	}

	if fuseKs != nil {
		return runFuse(e.stdout, src, fms, sets, fuseKs, cfg.Split, cfg.TargetFMR, skipped)
	}

	if len(names) == 1 && names[0] == models.Dlib && !*calib {
		set, pl := sets[models.Dlib], plans[0]
		cfg.Thresholds = pl.curve
		margins := pl.margins
		if margins == nil {
			margins = dlibMargins()
		}
		ts := pl.thresholds
		if ts == nil {
			// Policies at each target's threshold, with each margin.
			pairs := eval.AllPairs(set)
			for _, t := range cfg.TargetFMR {
				ts = append(ts, pairs.AtFMR(t).Threshold)
			}
		}
		for _, t := range ts {
			for _, m := range margins {
				cfg.Policies = append(cfg.Policies, match.Policy{Threshold: t, MinMargin: m.At(t)})
			}
		}
		rep, err := eval.Evaluate(set, cfg)
		if err != nil {
			return err
		}
		note := pl.note(dlibMargins())
		if *asJSON {
			return writeEvalJSON(e.stdout, src, rep, note, skipped)
		}
		writeEvalText(e.stdout, src, rep, note, skipped)
		return nil
	}

	var ms []eval.Model
	var notes []string
	for i, fm := range fms {
		m, err := evalModel(fm, sets)
		if err != nil {
			return err
		}
		pl := plans[i]
		m.Curve, m.Thresholds, m.Margins = pl.curve, pl.thresholds, pl.margins
		ms = append(ms, m)
		notes = append(notes, pl.note(eval.DefaultMargins()))
	}
	cmp, err := eval.Compare(ms, cfg)
	if err != nil {
		return err
	}
	var cal []calibration
	if *calib {
		for _, m := range ms {
			c, err := calibrateModel(m, cfg.Split, *target, *frames)
			if err != nil {
				return fmt.Errorf("calibrate %s: %w", m.Name, err)
			}
			cal = append(cal, c)
		}
	}
	if *asJSON {
		return writeCompareJSON(e.stdout, src, cmp, notes, cal, skipped)
	}
	writeCompareText(e.stdout, src, cmp, notes, cal, skipped)
	return nil
}

// dlibMargins are the 1:N margins of dlib measured alone (Evaluate), in
// dlib's distances.
func dlibMargins() []eval.Margin { return []eval.Margin{{Value: 0}, {Value: 0.02}, {Value: 0.05}} }

// plan is what the command line asks one model to be measured at; nil
// fields are the defaults.
type plan struct {
	curve      []float32     // --thresholds
	thresholds []float32     // --threshold
	margins    []eval.Margin // --margin
}

// note says which 1:N thresholds and margins a model was measured at, and
// where they came from, for the report.
func (p plan) note(defaultMargins []eval.Margin) string {
	var b strings.Builder
	if p.thresholds == nil {
		b.WriteString("thresholds at each target FMR (default)")
	} else {
		var ts []string
		for _, t := range p.thresholds {
			ts = append(ts, strconv.FormatFloat(float64(t), 'f', 3, 32))
		}
		fmt.Fprintf(&b, "thresholds %s (--threshold)", strings.Join(ts, ", "))
	}
	ms, from := p.margins, "--margin"
	if ms == nil {
		ms, from = defaultMargins, "default"
	}
	var parts []string
	share := false
	for _, m := range ms {
		parts = append(parts, m.String())
		share = share || m.Share
	}
	if share {
		from += "; a % is of each threshold"
	}
	fmt.Fprintf(&b, ", margins %s (%s)", strings.Join(parts, ", "), from)
	return b.String()
}

// parsePlans reads --thresholds, --threshold and --margin for each model
// of --compare, in its order. Each is a comma-separated list of
// [MODEL=]VALUE items: a value with a model's name (as --compare takes
// it) is that model's; a bare value is every model's. Distances are on
// each model's own scale (dlib's genuine pairs lie under about 0.6,
// featurenet's near 1), so a bare distance is refused when more than one
// model is measured; a margin given as a share of the threshold ("5%")
// means the same for every model and may be bare.
func parsePlans(fms []models.FaceModel, curve, thresholds, margins string) ([]plan, error) {
	plans := make([]plan, len(fms))
	for _, f := range []struct {
		flag, list string
		margin     bool
	}{{"--thresholds", curve, false}, {"--threshold", thresholds, false}, {"--margin", margins, true}} {
		if f.list == "" {
			continue
		}
		for _, item := range strings.Split(f.list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			who, val, named := strings.Cut(item, "=")
			if !named {
				who, val = "", item
			}
			var m eval.Margin
			pct, isShare := strings.CutSuffix(val, "%")
			if isShare && !f.margin {
				return nil, usageError{fmt.Sprintf("%s: %q: a threshold is a distance, not a share", f.flag, item)}
			}
			x, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
			if err != nil || !(x >= 0) || math.IsInf(x, 0) {
				return nil, usageError{fmt.Sprintf("%s: %q is not a non-negative number", f.flag, item)}
			}
			if isShare {
				m = eval.Margin{Value: float32(x / 100), Share: true}
			} else {
				m = eval.Margin{Value: float32(x)}
			}
			var to []int // indexes into fms
			if named {
				i := slices.IndexFunc(fms, func(fm models.FaceModel) bool { w := strings.TrimSpace(who); return w == fm.Short || w == fm.Name })
				if i < 0 {
					return nil, usageError{fmt.Sprintf("%s: %q names no model that --compare measures (%s)", f.flag, item, strings.Join(shorts(fms), ", "))}
				}
				to = []int{i}
			} else {
				if len(fms) > 1 && !m.Share && !(f.margin && m.Value == 0) { // no margin is none on any scale
					return nil, usageError{scaleMsg(f.flag, item, fms, f.margin)}
				}
				for i := range fms {
					to = append(to, i)
				}
			}
			for _, i := range to {
				switch f.flag {
				case "--thresholds":
					plans[i].curve = append(plans[i].curve, m.Value)
				case "--threshold":
					plans[i].thresholds = append(plans[i].thresholds, m.Value)
				default:
					plans[i].margins = append(plans[i].margins, m)
				}
			}
		}
	}
	for i := range plans { // the curve reads in order
		slices.Sort(plans[i].curve)
		plans[i].curve = slices.Compact(plans[i].curve)
	}
	return plans, nil
}

// scaleMsg says why a bare distance cannot go to several models at once.
func scaleMsg(flag, item string, fms []models.FaceModel, margin bool) string {
	msg := fmt.Sprintf("%s %s: a distance means something else for each model (%s measure distances on their own scales), so it cannot apply to all of them; give it per model, as in %s %s=%s",
		flag, item, strings.Join(shorts(fms), ", "), flag, fms[0].Short, item)
	if margin {
		msg += ", or as a share of the threshold, as in --margin 5%"
	}
	return msg
}

func shorts(fms []models.FaceModel) []string {
	var out []string
	for _, m := range fms {
		out = append(out, m.Short)
	}
	return out
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
