package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
)

// The daemon-faithful mode (--enroll gate): every photo goes through the
// gate's own code, with the face model and detector the daemon would open
// (facemodel.Open, as face.model, face.detector and face.max_side say):
// an enroll photo through staff enrollment's quality gate
// (recognizer.PhotoAssess, as gated face enroll --photo), a probe through the live camera path (the
// largest face, recognizer.LiveFace, no quality gate).

// gateConfig is what the daemon-faithful mode needs besides the photos.
type gateConfig struct {
	dir, detector         string // as face.detector
	maxSide               int    // as face.max_side
	customPath, customSHA string
	jobs                  int
}

// measured is one photo's quality measurements (of its largest face) and
// the gate's verdict on it, for the threshold study (--quality).
type measured struct {
	Photo      string  `json:"photo"`
	Person     string  `json:"person"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	Faces      int     `json:"faces"`
	Verdict    string  `json:"verdict"` // "" when enrollable
	FaceSide   int     `json:"face_side,omitempty"`
	Edge       int     `json:"edge,omitempty"`
	Yaw        float64 `json:"yaw,omitempty"`
	Brightness float64 `json:"brightness,omitempty"`
	Sharpness  float64 `json:"sharpness,omitempty"`
	// Genuine is the median distance from the photo's live face to the
	// same person's other photos (NaN-free: 0 when there are none).
	Genuine float32 `json:"genuine_median,omitempty"`
}

// gatePhotos runs every photo of DIR/<person>/ through each gate model as
// the daemon would, and returns, per model, the photos as eval sees them
// and their measurements.
func gatePhotos(e *env, dir string, names []string, gc gateConfig) (map[string][]eval.Photo, map[string][]measured, recognizer.Detector, error) {
	items, err := listPhotos(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	det, err := facemodel.ResolveDetector(gc.detector, gc.dir)
	if err != nil {
		return nil, nil, 0, usageError{err.Error()}
	}
	open := func() ([]*facemodel.Source, error) {
		var srcs []*facemodel.Source
		for _, n := range names {
			s, err := facemodel.Open(facemodel.Config{Name: n, Dir: gc.dir, Detector: gc.detector, CustomSHA256: gc.customSHA, CustomPath: gc.customPath,
				Options: recognizer.Options{MaxSide: gc.maxSide}})
			if err != nil {
				for _, o := range srcs {
					o.Close()
				}
				return nil, err
			}
			srcs = append(srcs, s)
		}
		return srcs, nil
	}
	jobs := max(1, min(gc.jobs, len(items)))
	workers := make([][]*facemodel.Source, jobs)
	for i := range workers {
		if workers[i], err = open(); err != nil {
			return nil, nil, 0, err
		}
		defer func(ss []*facemodel.Source) {
			for _, s := range ss {
				s.Close()
			}
		}(workers[i])
	}
	e.log.Info("running photos through the gate's enrollment and camera paths", "photos", len(items), "models", strings.Join(names, ","), "detector", det, "jobs", jobs)
	photos := make([][]eval.Photo, len(items)) // [item][model]
	meas := make([][]measured, len(items))
	err = parallel(e.ctx, len(items), len(workers), func(w, i int) {
		photos[i], meas[i] = gatePhoto(items[i], dir, workers[w])
	})
	if err != nil {
		return nil, nil, 0, err
	}
	outP, outM := map[string][]eval.Photo{}, map[string][]measured{}
	for j, n := range names {
		for i := range items {
			outP[n] = append(outP[n], photos[i][j])
			outM[n] = append(outM[n], meas[i][j])
		}
		genuineMedians(outP[n], outM[n])
	}
	return outP, outM, det, nil
}

type photoItem struct{ person, path string }

// listPhotos lists DIR/<person>/*.{jpg,jpeg,png}.
func listPhotos(dir string) ([]photoItem, error) {
	var items []photoItem
	people, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range people {
		if !p.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			switch strings.ToLower(filepath.Ext(f.Name())) {
			case ".jpg", ".jpeg", ".png":
				items = append(items, photoItem{p.Name(), filepath.Join(dir, p.Name(), f.Name())})
			}
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no photos in per-person sub-folders", dir)
	}
	return items, nil
}

// gatePhoto is one photo through each model: decoded once, as both the
// staff photo path and the folder camera decode (recognizer.DecodeImage).
func gatePhoto(it photoItem, dir string, srcs []*facemodel.Source) ([]eval.Photo, []measured) {
	rel, _ := filepath.Rel(dir, it.path)
	rel = filepath.ToSlash(rel)
	ps, ms := make([]eval.Photo, len(srcs)), make([]measured, len(srcs))
	fail := func(msg string) ([]eval.Photo, []measured) {
		for j := range srcs {
			ps[j] = eval.Photo{Person: it.person, Name: rel, Refused: msg}
			ms[j] = measured{Photo: rel, Person: it.person, Verdict: msg}
		}
		return ps, ms
	}
	b, err := os.ReadFile(it.path)
	if err != nil {
		return fail("unreadable: " + err.Error())
	}
	m, err := recognizer.DecodeImage(b)
	if err != nil {
		return fail("not an image the gate takes: " + err.Error())
	}
	defer m.Close()
	for j, s := range srcs {
		p := eval.Photo{Person: it.person, Name: rel}
		me := measured{Photo: rel, Person: it.person, Width: m.Cols(), Height: m.Rows()}
		faces, err := s.Faces(m)
		if err != nil {
			p.Refused, me.Verdict = "detector failed: "+err.Error(), "detector failed: "+err.Error()
			ps[j], ms[j] = p, me
			continue
		}
		me.Faces = len(faces)
		a := recognizer.PhotoAssess(m, faces)
		if a.Problem == recognizer.Good {
			p.Template = a.Face.Descriptor
		} else {
			p.Refused, me.Verdict = a.Problem.Advice("en"), a.Problem.Advice("en")
		}
		if f := recognizer.LiveFace(faces); f != nil {
			p.Live = f.Descriptor
			q := recognizer.Measure(m, *f)
			me.FaceSide, me.Edge, me.Yaw, me.Brightness, me.Sharpness = q.FaceSide, q.Edge, q.Yaw, q.Brightness, q.Sharpness
		}
		ps[j], ms[j] = p, me
	}
	return ps, ms
}

// genuineMedians sets each measured photo's median distance to the same
// person's other photos (live faces).
func genuineMedians(ps []eval.Photo, ms []measured) {
	for i, p := range ps {
		if p.Live == nil {
			continue
		}
		var ds []float32
		for j, q := range ps {
			if j != i && q.Person == p.Person && q.Live != nil {
				ds = append(ds, match.Distance(p.Live, q.Live))
			}
		}
		if len(ds) > 0 {
			slices.Sort(ds)
			ms[i].Genuine = ds[len(ds)/2]
		}
	}
}

// gateModel is one model's figures in the daemon-faithful mode.
type gateModel struct {
	Name      string `json:"name"`
	Photos    int    `json:"photos"`
	LiveFaces int    `json:"live_faces"` // photos in which the camera path finds a face
	// Enrollment through the quality gate, of every photo (as if each were
	// tried) and of the split's enroll photos.
	Enrollable     int            `json:"enrollable"`
	RefusedReasons map[string]int `json:"refused_reasons"`
	Tried          int            `json:"enroll_tried"`
	Refused        int            `json:"enroll_refused"`
	SplitReasons   map[string]int `json:"enroll_refused_reasons"`
	Residents      int            `json:"residents"`
	Enrolled       int            `json:"residents_enrolled"`
	OneTemplate    int            `json:"residents_one_template"`
	NotEnrolled    []string       `json:"residents_not_enrolled"`
	Templates      int            `json:"templates"`
	ResidentProbes int            `json:"resident_probes"`
	ResidentNoFace int            `json:"resident_probes_no_face"`
	StrangerProbes int            `json:"stranger_probes"`
	StrangerNoFace int            `json:"stranger_probes_no_face"`
	// 1:N on the probes the camera sees a face in; thresholds at each
	// target FMR of the live faces' pairs unless --threshold says.
	Policy      string           `json:"policy"`
	Ident       []jsonIdentity   `json:"identification"`
	Calibration *jsonCalibration `json:"calibration,omitempty"`
	Prediction  *eval.Prediction `json:"prediction,omitempty"`
	Quality     *qualityStudy    `json:"quality,omitempty"`
	Measured    []measured       `json:"photos_measured,omitempty"`
	ident       []eval.PolicyResult
	cal         *calibration
}

// predictConfig is --predict's policy: Mode "auto" takes what
// calibration chooses for the gallery (face.calibrate = true).
type predictConfig struct {
	on        bool
	mode      string
	threshold float32
	margin    eval.Margin
	target    float64
	frames    int // face.frames: calibrate.Config.Fuse
}

// gateFigures measures one model's photos through the gate under split sp.
func gateFigures(name string, photos []eval.Photo, ms []measured, sp eval.PhotoSplit, pl plan, targets []float64, target float64, pc predictConfig, quality bool) (*gateModel, error) {
	gm := &gateModel{Name: name, Photos: len(photos), RefusedReasons: map[string]int{}}
	live := &eval.Set{}
	dim := 0
	for _, p := range photos {
		if p.Live != nil {
			gm.LiveFaces++
			live.Add(p.Person, p.Live)
			dim = len(p.Live)
		}
		if p.Template != nil {
			gm.Enrollable++
		} else {
			gm.RefusedReasons[p.Refused]++
		}
	}
	if dim == 0 {
		return nil, fmt.Errorf("%s: the gate finds no face in any photo", name)
	}
	gg, err := sp.EnrollThroughGate(photos, dim)
	if err != nil {
		return nil, err
	}
	gm.Tried, gm.Refused, gm.SplitReasons = gg.Tried, gg.Refused, gg.Reasons
	gm.Residents, gm.Enrolled, gm.OneTemplate, gm.NotEnrolled = gg.Residents, gg.Enrolled, gg.OneTemplate, gg.NotEnrolled
	_, gm.Templates = gg.Gallery.Len()
	for _, p := range gg.Probes {
		switch {
		case p.Enrolled:
			gm.ResidentProbes++
			if p.Vector == nil {
				gm.ResidentNoFace++
			}
		default:
			gm.StrangerProbes++
			if p.Vector == nil {
				gm.StrangerNoFace++
			}
		}
	}

	ts := pl.thresholds
	if ts == nil {
		pairs := eval.AllPairs(live)
		for _, t := range targets {
			ts = append(ts, pairs.AtFMR(t).Threshold)
		}
	}
	margins := pl.margins
	if margins == nil {
		margins = eval.DefaultMargins()
	}
	gm.Policy = pl.note(eval.DefaultMargins()) + "; thresholds at target FMR are of the live faces' pairs"
	seen := gg.Seen()
	for _, t := range ts {
		for _, m := range margins {
			p := match.Policy{Threshold: t, MinMargin: m.At(t)}
			id, err := eval.Identify(gg.Gallery, seen, p)
			if err != nil {
				return nil, err
			}
			gm.ident = append(gm.ident, eval.PolicyResult{Policy: p, Identification: id})
		}
	}
	gm.Ident, _ = jsonIdent(gm.ident)

	tm := calibrate.Templates(gg.Templates)
	d := calibrate.Decide(tm, calibrate.Settings{Calibrate: true, Target: target, Config: calibrate.Config{MinResidents: minResidents, Fuse: pc.frames}})
	c := calibration{Model: name, Target: target, Decision: d, Residents: len(tm)}
	if d.Estimate == nil {
		c.TooSmall = d.Reason
	} else if c, err = heldOut(c, gg.Gallery, seen); err != nil {
		return nil, err
	}
	gm.cal = &c
	jc := calibrationJSON(c)
	gm.Calibration = &jc

	if pc.on {
		mode, pol := eval.Mode(pc.mode), match.Policy{Threshold: pc.threshold, MinMargin: pc.margin.At(pc.threshold)}
		if pc.mode == "auto" {
			switch d.Mode {
			case calibrate.Identify:
				mode = eval.ModeIdentify
			case calibrate.Verify:
				mode = eval.ModeVerify
			default:
				mode = eval.ModeOff
			}
			pol = d.Policy
		}
		pr, err := eval.Predict(gg, mode, pol)
		if err != nil {
			return nil, err
		}
		gm.Prediction = &pr
	}
	if quality {
		q := studyQuality(ms)
		gm.Quality, gm.Measured = &q, ms
	}
	return gm, nil
}

// qualityStudy is how the photos' measurements spread, how many each
// threshold of the quality gate refuses on its own, and whether refused
// photos recognise worse (median genuine distance of their live faces).
type qualityStudy struct {
	Thresholds       recognizer.Quality        `json:"thresholds"`
	Quantiles        map[string][5]float64     `json:"quantiles"` // 5%, 25%, 50%, 75%, 95% of each measurement, photos with a face
	Below            map[string]int            `json:"refused_by_threshold_alone"`
	GenuineByVerdict map[string]genuineSummary `json:"genuine_by_verdict"`
}

type genuineSummary struct {
	Photos int     `json:"photos"`
	Median float32 `json:"median"`
}

// gateQuality is the quality gate's thresholds as staff photo enrollment
// (gated face enroll --photo, what gated-eval enrolls) applies them.
func gateQuality() recognizer.Quality { return recognizer.PhotoQuality.Defaults() }

func studyQuality(ms []measured) qualityStudy {
	q := gateQuality()
	st := qualityStudy{Thresholds: q, Quantiles: map[string][5]float64{}, Below: map[string]int{}, GenuineByVerdict: map[string]genuineSummary{}}
	vals := map[string][]float64{}
	gen := map[string][]float32{}
	for _, m := range ms {
		if m.FaceSide == 0 {
			continue
		}
		vals["face_side"] = append(vals["face_side"], float64(m.FaceSide))
		vals["edge"] = append(vals["edge"], float64(m.Edge))
		vals["abs_yaw"] = append(vals["abs_yaw"], math.Abs(m.Yaw))
		vals["brightness"] = append(vals["brightness"], m.Brightness)
		vals["sharpness"] = append(vals["sharpness"], m.Sharpness)
		if m.FaceSide < q.MinFaceSide {
			st.Below["face_side"]++
		}
		if m.Edge < 0 {
			st.Below["edge"]++
		}
		if math.Abs(m.Yaw) > q.MaxYaw {
			st.Below["yaw"]++
		}
		if m.Brightness < q.MinBrightness {
			st.Below["too_dark"]++
		}
		if m.Brightness > q.MaxBrightness {
			st.Below["too_bright"]++
		}
		if m.Sharpness < q.MinSharpness {
			st.Below["sharpness"]++
		}
		if m.Genuine > 0 {
			v := m.Verdict
			if v == "" {
				v = "enrollable"
			}
			gen[v] = append(gen[v], m.Genuine)
		}
	}
	for k, v := range vals {
		sort.Float64s(v)
		var qs [5]float64
		for i, f := range []float64{0.05, 0.25, 0.5, 0.75, 0.95} {
			qs[i] = v[min(len(v)-1, int(f*float64(len(v))))]
		}
		st.Quantiles[k] = qs
	}
	for k, v := range gen {
		slices.Sort(v)
		st.GenuineByVerdict[k] = genuineSummary{Photos: len(v), Median: v[len(v)/2]}
	}
	return st
}
