package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/recognizer/featurenet"
	"github.com/gated-dev/gated/internal/recognizer/mobileface"
	"github.com/gated-dev/gated/internal/recognizer/whiten"
)

// evalModels are the names --compare accepts. dlib+white is dlib's
// descriptors adapted by a whitening fitted on the enrolled gallery.
var evalModels = []string{"dlib", "dlib+white", "featurenet", "mobileface", "dlib-custom"}

func runEval(e *env, args []string) error {
	fs := newFlags(e, "eval", "(--descriptors FILE | --photos DIR) [flags]")
	descFile := fs.String("descriptors", "", "labelled descriptors in go-face's idols.json format")
	photos := fs.String("photos", "", "a folder with one sub-folder of JPEG/PNG photos per person")
	modelList := fs.String("compare", "dlib", "models to compare side by side on the same photos: "+strings.Join(evalModels, ", ")+
		" (--descriptors: dlib and dlib+white only)")
	customSHA := fs.String("dlib-custom-sha256", "", "SHA-256 of the user-supplied dlib network (for --compare ...,dlib-custom)")
	customPath := fs.String("dlib-custom", "", "path of the user-supplied dlib network (default: MODELS/"+facemodel.CustomFile+")")
	models := fs.String("models", defaultModels(e.getenv), "model directory (for --photos)")
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*descFile == "") == (*photos == "") {
		return usageError{"give exactly one of --descriptors and --photos"}
	}
	names, err := parseModels(*modelList, *descFile != "")
	if err != nil {
		return usageError{"--compare: " + err.Error()}
	}
	if slices.Contains(names, "dlib-custom") && *customSHA == "" {
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
		sets["dlib"] = set
		src = *descFile
	} else {
		dc := describeConfig{dir: *models, customPath: *customPath, customSHA: *customSHA, jobs: *jobs}
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
		if s, ok := sets["dlib"]; ok {
			base = s
		}
		_, n := base.WithoutCrossLabelDuplicates(float32(*dedup))
		if n > 0 {
			keep := keepMask(base, float32(*dedup))
			for k, s := range sets {
				sets[k] = subset(s, keep)
			}
			skipped = append(skipped, fmt.Sprintf("%d descriptors within %.2f of another person's (duplicate photos)", n, *dedup))
		}
	}

	if len(names) == 1 && names[0] == "dlib" && !*calib {
		set := sets["dlib"]
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
	for _, n := range names {
		m := eval.Model{Name: modelLabel(n), Set: sets[n]}
		if n == "dlib+white" {
			m.Set = sets["dlib"]
			m.Adapt = whitenAdapter
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

func parseModels(list string, descriptorsOnly bool) ([]string, error) {
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(evalModels, n) {
			return nil, fmt.Errorf("unknown model %q (known: %s)", n, strings.Join(evalModels, ", "))
		}
		if descriptorsOnly && n != "dlib" && n != "dlib+white" {
			return nil, fmt.Errorf("%s needs photos, not descriptors", n)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%s given twice", n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no models")
	}
	return out, nil
}

// modelLabel is the name a model is shown with: the identifier its
// templates would record.
func modelLabel(n string) string {
	switch n {
	case "dlib":
		return recognizer.Model
	case "dlib+white":
		return recognizer.Model + "+whiten"
	case "featurenet":
		return featurenet.Model
	case "mobileface":
		return mobileface.Model
	}
	return n
}

// whitenAdapter fits the within-person whitening on a gallery's templates.
func whitenAdapter(fit *eval.Set) (eval.Mapper, error) {
	t, err := whiten.Fit(fit.Vectors, fit.Labels, 0)
	if err != nil {
		return nil, err
	}
	return t.Apply, nil
}

func keepMask(s *eval.Set, eps float32) []bool {
	keep := make([]bool, s.Len())
	for i := range keep {
		keep[i] = true
	}
	for i := range s.Vectors {
		for j := i + 1; j < len(s.Vectors); j++ {
			if s.Labels[i] != s.Labels[j] && eval.Distance(s.Vectors[i], s.Vectors[j]) < eps {
				keep[i], keep[j] = false, false
			}
		}
	}
	return keep
}

func subset(s *eval.Set, keep []bool) *eval.Set {
	out := &eval.Set{Dim: s.Dim}
	for i, v := range s.Vectors {
		if keep[i] {
			out.Vectors = append(out.Vectors, v)
			out.Labels = append(out.Labels, s.Labels[i])
		}
	}
	return out
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

type describeConfig struct {
	dir                   string
	customPath, customSHA string
	jobs                  int
}

// worker holds one goroutine's models: none of them is shared.
type worker struct {
	dlib   *recognizer.Recognizer
	fn     *featurenet.Net
	mf     *mobileface.Describer
	custom *recognizer.Recognizer
}

func (w *worker) close() {
	if w.dlib != nil {
		w.dlib.Close()
	}
	if w.fn != nil {
		w.fn.Close()
	}
	if w.custom != nil {
		w.custom.Close()
	}
}

func newWorker(names []string, dc describeConfig) (*worker, error) {
	w := &worker{}
	var err error
	if w.dlib, err = recognizer.Load(dc.dir, recognizer.Options{}); err != nil {
		return nil, err
	}
	if slices.Contains(names, "featurenet") {
		if w.fn, err = featurenet.LoadNet(dc.dir); err != nil {
			w.close()
			return nil, fmt.Errorf("%w (run scripts/fetch-face-model.sh)", err)
		}
	}
	if slices.Contains(names, "mobileface") {
		if w.mf, err = mobileface.Load(dc.dir); err != nil {
			w.close()
			return nil, fmt.Errorf("%w (run scripts/fetch-face-model.sh)", err)
		}
	}
	if slices.Contains(names, "dlib-custom") {
		p := dc.customPath
		if p == "" {
			p = filepath.Join(dc.dir, filepath.FromSlash(facemodel.CustomFile))
		}
		if w.custom, err = recognizer.LoadCustom(dc.dir, p, dc.customSHA, recognizer.Options{}); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// describe computes every model's descriptor of the largest face dlib finds
// in one photo; nil when there is no face.
func (w *worker) describe(data []byte, names []string) (map[string][]float32, error) {
	m, err := recognizer.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	faces, err := w.dlib.Faces(m)
	if err != nil || len(faces) == 0 {
		return nil, err
	}
	big := largest(faces)
	out := map[string][]float32{"dlib": big.Descriptor}
	for _, n := range names {
		switch n {
		case "featurenet":
			if out[n], err = w.fn.Describe(m, big.Landmarks); err != nil {
				return nil, err
			}
		case "mobileface":
			img, err := m.ToImage()
			if err != nil {
				return nil, err
			}
			if out[n], err = w.mf.Describe(img, big.Landmarks); err != nil {
				return nil, err
			}
		case "dlib-custom":
			cf, err := w.custom.Faces(m)
			if err != nil {
				return nil, err
			}
			if len(cf) == 0 {
				return nil, nil
			}
			out[n] = nearestFace(cf, big.Rect).Descriptor
		}
	}
	return out, nil
}

func largest(faces []recognizer.Face) recognizer.Face {
	return slices.MaxFunc(faces, func(a, b recognizer.Face) int {
		return a.Rect.Dx()*a.Rect.Dy() - b.Rect.Dx()*b.Rect.Dy()
	})
}

// nearestFace is the face whose box overlaps r most.
func nearestFace(faces []recognizer.Face, r image.Rectangle) recognizer.Face {
	return slices.MaxFunc(faces, func(a, b recognizer.Face) int {
		ia, ib := a.Rect.Intersect(r), b.Rect.Intersect(r)
		return ia.Dx()*ia.Dy() - ib.Dx()*ib.Dy()
	})
}

// describePhotos computes, for each model, one descriptor per photo of
// DIR/<person>/*.{jpg,png}: the largest face dlib finds (tight crops of one
// person). A photo with no face, or that any model cannot describe, is
// skipped for every model and listed, so all models see the same photos.
func describePhotos(e *env, dir string, names []string, dc describeConfig) (map[string]*eval.Set, []string, error) {
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
	jobs := max(1, min(dc.jobs, len(items)))
	workers := make([]*worker, jobs)
	for i := range workers {
		if workers[i], err = newWorker(names, dc); err != nil {
			return nil, nil, err
		}
		defer workers[i].close()
	}
	e.log.Info("computing descriptors", "photos", len(items), "models", strings.Join(names, ","), "jobs", jobs)
	descs := make([]map[string][]float32, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b, err := os.ReadFile(items[i].path)
				if err != nil {
					errs[i] = err
					continue
				}
				descs[i], errs[i] = w.describe(b, names)
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
	sets := map[string]*eval.Set{}
	for _, n := range append([]string{"dlib"}, names...) {
		if n != "dlib+white" {
			sets[n] = &eval.Set{}
		}
	}
	var skipped []string
	for i, it := range items {
		rel, _ := filepath.Rel(dir, it.path)
		switch {
		case errs[i] != nil:
			skipped = append(skipped, fmt.Sprintf("%s: %v", rel, errs[i]))
		case descs[i] == nil:
			skipped = append(skipped, rel+": no face found")
		default:
			for n, s := range sets {
				if err := s.Add(it.person, descs[i][n]); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return sets, skipped, nil
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func writeEvalText(w io.Writer, src string, r *eval.Report, skipped []string) {
	fmt.Fprintf(w, "gated eval: %d descriptors of %d people from %s\n", r.Descriptors, r.People, src)
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

func writeEvalJSON(w io.Writer, src string, r *eval.Report, skipped []string) error {
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
		Ident         []jsonIdentity `json:"identification"`
	}{Source: src, People: r.People, Descriptors: r.Descriptors, Skipped: skipped, GenuinePairs: r.GenuinePairs, ImpostorPairs: r.Impostors}
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

// calibration is what calibrate chose from one model's 1:N gallery, and
// what the held-out people did under it.
type calibration struct {
	Model     string
	Decision  calibrate.Decision
	Residents int
	// Identify: the Identify option's policy on the held-out probes.
	IdentResidentProbes, IdentCorrect int
	StrangerProbes, StrangersIn       int
	// Verify: every stranger probe against every resident (a stranger
	// holding each resident's card in turn), at the Verify threshold.
	VerifyResidentProbes, VerifyAccepted int
	VerifyAttempts, VerifyStrangersIn    int
}

// calibrateModel fits calibrate on the split's gallery alone (mapped by an
// adapter fitted on that gallery, as the device would), chooses, and
// presents the probes the gallery never saw.
func calibrateModel(m eval.Model, sp eval.Split, target float64) (calibration, error) {
	s := m.Set
	if m.Adapt != nil {
		fit := &eval.Set{}
		for id, vs := range galleryTemplates(s, sp) {
			for _, v := range vs {
				fit.Add(id, v)
			}
		}
		f, err := m.Adapt(fit)
		if err != nil {
			return calibration{}, err
		}
		mapped := &eval.Set{}
		for i, v := range s.Vectors {
			w, err := f(v)
			if err != nil {
				return calibration{}, err
			}
			mapped.Add(s.Labels[i], w)
		}
		s = mapped
	}
	g, probes, err := sp.Gallery(s)
	if err != nil {
		return calibration{}, err
	}
	est, err := calibrate.Fit(galleryTemplates(s, sp), calibrate.Config{Target: target})
	if err != nil {
		return calibration{}, err
	}
	c := calibration{Model: m.Name, Decision: est.Choose(), Residents: est.Residents}
	ip, tv := c.Decision.Identify.Policy, c.Decision.Verify.Policy.Threshold
	residents := g.Residents()
	for _, p := range probes {
		r, err := g.Lookup(p.Vector)
		if err != nil {
			return calibration{}, err
		}
		ok := ip.Threshold > 0 && ip.Accept(r)
		if p.Enrolled {
			c.IdentResidentProbes++
			if ok && r.Resident == p.Label {
				c.IdentCorrect++
			}
			c.VerifyResidentProbes++
			if d, _, _ := g.Distance(p.Label, p.Vector); d < tv {
				c.VerifyAccepted++
			}
			continue
		}
		c.StrangerProbes++
		if ok {
			c.StrangersIn++
		}
		for _, id := range residents {
			c.VerifyAttempts++
			if d, _, _ := g.Distance(id, p.Vector); d < tv {
				c.VerifyStrangersIn++
			}
		}
	}
	return c, nil
}

// galleryTemplates are the templates a split enrolls: each enrolled
// person's first ones, as eval.Split.Gallery takes them.
func galleryTemplates(s *eval.Set, sp eval.Split) calibrate.Templates {
	enrolled := map[string]bool{}
	for i, p := range s.People() {
		enrolled[p] = i%sp.Every == 0
	}
	tm := calibrate.Templates{}
	for i, v := range s.Vectors {
		if l := s.Labels[i]; enrolled[l] && len(tm[l]) < sp.Templates {
			tm[l] = append(tm[l], v)
		}
	}
	return tm
}

func writeCompareText(w io.Writer, src string, c *eval.Comparison, cal []calibration, skipped []string) {
	var names []string
	for _, m := range c.Models {
		names = append(names, m.Name)
	}
	fmt.Fprintf(w, "gated eval: %d photos of %d people from %s, each described by %s\n", c.Descriptors, c.People, src, strings.Join(names, ", "))
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
	fmt.Fprintln(w, "\nFMR / FNMR at fixed distance thresholds:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "model\t")
	for _, p := range m0.Curve {
		fmt.Fprintf(tw, "%.2f\t", p.Threshold)
	}
	fmt.Fprintln(tw)
	for _, m := range c.Models {
		fmt.Fprintf(tw, "%s\t", m.Name)
		for _, p := range m.Curve {
			fmt.Fprintf(tw, "%s / %s\t", pct(p.FMR), pct(p.FNMR))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if len(m0.Identification) > 0 {
		id0 := m0.Identification[0]
		fmt.Fprintf(w, "\n1:N identification: every %d. person enrolled with %d templates (%d residents, %d templates); probes: %d photos of residents, %d of strangers\n",
			c.Split.Every, c.Split.Templates, id0.Residents, id0.GalleryTemplates, id0.ResidentProbes, id0.StrangerProbes)
		fmt.Fprintln(w, "(threshold at each FMR above; margins 0, 5% and 10% of it)")
		for _, m := range c.Models {
			writeIdent(w, m.Identification, true, m.Name)
		}
	}
	if len(cal) == 0 {
		return
	}
	fmt.Fprintf(w, "\ncalibration: policy chosen from the enrolled gallery alone (target %.2g strangers accepted per attempt), checked on the people it never saw\n", cal[0].Decision.Target)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tmode\t1:N threshold\tmargin\tbound\tresidents in\tstrangers in\t1:1 threshold\tbound\tresidents in\tstrangers in (card)\t")
	for _, k := range cal {
		d := k.Decision
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.2g\t%s\t%d/%d\t%.3f\t%.2g\t%s\t%d/%d\t\n", k.Model, d.Mode,
			d.Identify.Policy.Threshold, d.Identify.Policy.MinMargin, d.Identify.Stranger,
			pct(float64(k.IdentCorrect)/float64(max(1, k.IdentResidentProbes))), k.StrangersIn, k.StrangerProbes,
			d.Verify.Policy.Threshold, d.Verify.Stranger,
			pct(float64(k.VerifyAccepted)/float64(max(1, k.VerifyResidentProbes))), k.VerifyStrangersIn, k.VerifyAttempts)
	}
	tw.Flush()
	for _, k := range cal {
		fmt.Fprintf(w, "  %s: %s\n", k.Model, k.Decision.Reason)
	}
}

func writeCompareJSON(w io.Writer, src string, c *eval.Comparison, cal []calibration, skipped []string) error {
	type model struct {
		Name          string         `json:"name"`
		GenuinePairs  int            `json:"genuine_pairs"`
		ImpostorPairs int            `json:"impostor_pairs"`
		Curve         []jsonPoint    `json:"curve"`
		DET           []jsonTarget   `json:"det"`
		Ident         []jsonIdentity `json:"identification"`
	}
	type cali struct {
		Model                string  `json:"model"`
		Mode                 string  `json:"mode"`
		Target               float64 `json:"target"`
		Residents            int     `json:"residents"`
		IdentThreshold       float32 `json:"identify_threshold"`
		IdentMargin          float32 `json:"identify_margin"`
		IdentBound           float64 `json:"identify_stranger_bound"`
		IdentResidentProbes  int     `json:"identify_resident_probes"`
		IdentCorrect         int     `json:"identify_correct"`
		StrangerProbes       int     `json:"stranger_probes"`
		StrangersIn          int     `json:"strangers_accepted"`
		VerifyThreshold      float32 `json:"verify_threshold"`
		VerifyBound          float64 `json:"verify_stranger_bound"`
		VerifyResidentProbes int     `json:"verify_resident_probes"`
		VerifyAccepted       int     `json:"verify_accepted"`
		VerifyAttempts       int     `json:"verify_stranger_attempts"`
		VerifyStrangersIn    int     `json:"verify_strangers_accepted"`
		Reason               string  `json:"reason"`
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
		Models      []model `json:"models"`
		Calibration []cali  `json:"calibration,omitempty"`
	}{Source: src, People: c.People, Descriptors: c.Descriptors, Skipped: skipped}
	out.Split.Every, out.Split.Templates = c.Split.Every, c.Split.Templates
	for _, m := range c.Models {
		jm := model{Name: m.Name, GenuinePairs: m.GenuinePairs, ImpostorPairs: m.Impostors}
		jm.Curve, jm.DET = jsonCurve(m.Curve, m.DET)
		jm.Ident, _ = jsonIdent(m.Identification)
		out.Models = append(out.Models, jm)
	}
	for _, k := range cal {
		d := k.Decision
		out.Calibration = append(out.Calibration, cali{
			Model: k.Model, Mode: d.Mode.String(), Target: d.Target, Residents: k.Residents,
			IdentThreshold: d.Identify.Policy.Threshold, IdentMargin: d.Identify.Policy.MinMargin, IdentBound: d.Identify.Stranger,
			IdentResidentProbes: k.IdentResidentProbes, IdentCorrect: k.IdentCorrect, StrangerProbes: k.StrangerProbes, StrangersIn: k.StrangersIn,
			VerifyThreshold: d.Verify.Policy.Threshold, VerifyBound: d.Verify.Stranger, VerifyResidentProbes: k.VerifyResidentProbes,
			VerifyAccepted: k.VerifyAccepted, VerifyAttempts: k.VerifyAttempts, VerifyStrangersIn: k.VerifyStrangersIn, Reason: d.Reason,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
