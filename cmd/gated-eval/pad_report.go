package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gated-dev/gated/internal/liveness"
)

// padRow is one layer's figures on one family (and attack type, or "all").
type padRow struct {
	Layer    string `json:"layer"`
	Family   string `json:"family"`
	Attack   string `json:"attack"`
	Bonafide int    `json:"bonafide"`
	Attacks  int    `json:"attacks"`
	// EER, and the rates at BPCER 1%, 5%, 10% on this family's own bona
	// fide scores.
	EER     float64        `json:"eer"`
	AtBPCER []padAtTarget  `json:"at_bpcer"`
	AtOp    liveness.Rates `json:"at_operating_point"`
}

type padAtTarget struct {
	Target float64 `json:"target_bpcer"`
	liveness.Rates
}

type padNoFace struct {
	Family string `json:"family"`
	Class  string `json:"class"`
	NoFace int    `json:"no_face"`
	Of     int    `json:"of"`
}

type padTimes struct {
	Faces    int     `json:"faces"`
	DetectMS float64 `json:"detect_ms_mean"`
	NetMS    float64 `json:"net_ms_mean"`
	CuesMS   float64 `json:"cues_ms_mean"`
	PadMS    float64 `json:"pad_ms_mean"`
	PadP95MS float64 `json:"pad_ms_p95"`
}

type padReportT struct {
	Images      int                  `json:"images"`
	NoFace      []padNoFace          `json:"no_face"`
	Times       padTimes             `json:"times"`
	Method      string               `json:"method"`
	Rows        []padRow             `json:"rows"`
	Combination liveness.Combination `json:"combination"`
}

// The layers reported besides the fitted ones.
const (
	layerNet    = "net"     // fr_liveness, B,G,R, raw probability: nothing fitted
	layerNetRGB = "net-rgb" // the same fed R,G,B as the npm JavaScript does
	layerComb   = "combination"
	layerInSamp = "combination-in-sample"
)

var padTargets = []float64{0.01, 0.05, 0.10}

// trainFamily reports whether a family's images train the combination: the
// full-frame families, where the context the cues need exists.
func trainFamily(f string) bool { return f == "nuaa" || f == "cvz" }

func padReport(samples []*padSample, use []string, lambda float64) (*padReportT, error) {
	rep := &padReportT{Images: len(samples)}
	// No-face rates, separately: those images never reach PAD.
	nf := map[[2]string]*padNoFace{}
	var found []*padSample
	var pad []float64
	for _, s := range samples {
		cl := "bonafide"
		if !s.live {
			cl = "attack"
		}
		k := [2]string{s.family, cl}
		if nf[k] == nil {
			nf[k] = &padNoFace{Family: s.family, Class: cl}
		}
		nf[k].Of++
		if !s.m.Found {
			nf[k].NoFace++
			continue
		}
		found = append(found, s)
		rep.Times.Faces++
		rep.Times.DetectMS += s.m.DetectMS
		rep.Times.NetMS += s.m.NetMS
		rep.Times.CuesMS += s.m.CuesMS
		pad = append(pad, s.m.NetMS+s.m.CuesMS)
	}
	for _, v := range nf {
		rep.NoFace = append(rep.NoFace, *v)
	}
	sort.Slice(rep.NoFace, func(i, j int) bool {
		return rep.NoFace[i].Family+rep.NoFace[i].Class < rep.NoFace[j].Family+rep.NoFace[j].Class
	})
	if n := float64(rep.Times.Faces); n > 0 {
		rep.Times.DetectMS /= n
		rep.Times.NetMS /= n
		rep.Times.CuesMS /= n
		rep.Times.PadMS = rep.Times.NetMS + rep.Times.CuesMS
		slices.Sort(pad)
		rep.Times.PadP95MS = pad[int(0.95*float64(len(pad)-1))]
	}

	var train []*padSample
	for _, s := range found {
		s.cvScore[layerNet] = s.m.Frame.Net
		s.cvScore[layerNetRGB] = s.m.NetRGB
		if trainFamily(s.family) {
			train = append(train, s)
		}
	}
	if len(train) < 2 {
		return nil, fmt.Errorf("pad: %d nuaa__ or cvz- images with a face: too few to fit the combination", len(train))
	}
	layers := []string{layerNet, layerNetRGB}
	fits := map[string][]string{layerComb: use}
	for _, u := range liveness.Names {
		if u != "net" {
			fits["cue-"+u] = []string{u}
		}
	}
	fitNames := make([]string, 0, len(fits))
	for k := range fits {
		fitNames = append(fitNames, k)
	}
	sort.Strings(fitNames)
	for _, layer := range fitNames {
		if err := crossValidate(train, found, layer, fits[layer], lambda); err != nil {
			return nil, err
		}
		layers = append(layers, layer)
	}
	full, err := fitOn(train, use, lambda)
	if err != nil {
		return nil, err
	}
	for _, s := range found {
		p, err := full.Score(s.m.Frame)
		if err != nil {
			return nil, err
		}
		s.cvScore[layerInSamp] = p
	}
	layers = append(layers, layerInSamp)

	// The operating point: BPCER 5% on the pooled out-of-fold combination
	// scores of the training families' bona fide.
	var tb []float64
	for _, s := range train {
		if s.live {
			tb = append(tb, s.cvScore[layerComb])
		}
	}
	full.Threshold = liveness.AtBPCER(tb, nil, 0.05).Threshold
	rep.Combination = full
	rep.Method = fmt.Sprintf("%s: logistic regression (L2 %.3g on standardised features) over %s, fitted on the nuaa__ and cvz- images with a face; "+
		"cue-* and combination figures are out-of-fold: leave-one-group-out over %d groups (nuaa__ subjects; cvz- source repositories, each one camera, room and set of people), "+
		"so a fold never trains on the person or the room it is scored on; pyis- and other images are scored by the model fitted on all training groups (never trained on). "+
		"combination-in-sample is the same rule fitted and scored on all images, to show the overfitting gap. "+
		"at_operating_point: the combination threshold %.4f set at BPCER 5%% of the pooled out-of-fold nuaa__+cvz- bona fide scores, applied to every layer's own scores only for the combination rows",
		layerComb, lambda, strings.Join(use, ","), countGroups(train), full.Threshold)

	families := []string{"all-full-frame", "nuaa", "cvz", "pyis", "other"}
	for _, layer := range layers {
		for _, fam := range families {
			var in []*padSample
			for _, s := range found {
				if s.family == fam || (fam == "all-full-frame" && trainFamily(s.family)) {
					in = append(in, s)
				}
			}
			if len(in) == 0 {
				continue
			}
			types := []string{"all"}
			for _, s := range in {
				if !s.live && !slices.Contains(types, s.attack) {
					types = append(types, s.attack)
				}
			}
			sort.Strings(types[1:])
			for _, at := range types {
				var b, a []float64
				for _, s := range in {
					switch {
					case s.live:
						b = append(b, s.cvScore[layer])
					case at == "all" || s.attack == at:
						a = append(a, s.cvScore[layer])
					}
				}
				if len(b) == 0 || len(a) == 0 {
					continue // no rates to give
				}
				row := padRow{Layer: layer, Family: fam, Attack: at, Bonafide: len(b), Attacks: len(a)}
				row.EER, _ = liveness.EER(b, a)
				for _, t := range padTargets {
					row.AtBPCER = append(row.AtBPCER, padAtTarget{t, liveness.AtBPCER(b, a, t)})
				}
				thr := full.Threshold
				if layer != layerComb && layer != layerInSamp {
					thr = math.NaN()
				}
				if !math.IsNaN(thr) {
					row.AtOp = liveness.At(b, a, thr)
				} else {
					row.AtOp = liveness.Rates{Threshold: math.Inf(1)}
				}
				rep.Rows = append(rep.Rows, row)
			}
		}
	}
	// JSON has no infinities.
	for i := range rep.Rows {
		if math.IsInf(rep.Rows[i].AtOp.Threshold, 0) {
			rep.Rows[i].AtOp = liveness.Rates{Threshold: -1, APCER: -1, BPCER: -1}
		}
	}
	return rep, nil
}

func countGroups(s []*padSample) int {
	g := map[string]bool{}
	for _, x := range s {
		g[x.family+"/"+x.group] = true
	}
	return len(g)
}

func fitOn(train []*padSample, use []string, lambda float64) (liveness.Combination, error) {
	fr := make([]liveness.Frame, len(train))
	y := make([]bool, len(train))
	for i, s := range train {
		fr[i], y[i] = s.m.Frame, s.live
	}
	return liveness.Fit(fr, y, use, lambda)
}

// crossValidate gives every training sample its out-of-fold score under
// layer (leave one group out) and every other found sample the score of
// the rule fitted on all training samples.
func crossValidate(train, found []*padSample, layer string, use []string, lambda float64) error {
	groups := map[string][]*padSample{}
	for _, s := range train {
		k := s.family + "/" + s.group
		groups[k] = append(groups[k], s)
	}
	for g, held := range groups {
		var rest []*padSample
		for _, s := range train {
			if s.family+"/"+s.group != g {
				rest = append(rest, s)
			}
		}
		c, err := fitOn(rest, use, lambda)
		if err != nil {
			return fmt.Errorf("%s without %s: %w", layer, g, err)
		}
		for _, s := range held {
			if s.cvScore[layer], err = c.Score(s.m.Frame); err != nil {
				return err
			}
		}
	}
	c, err := fitOn(train, use, lambda)
	if err != nil {
		return err
	}
	for _, s := range found {
		if trainFamily(s.family) {
			continue
		}
		if s.cvScore[layer], err = c.Score(s.m.Frame); err != nil {
			return err
		}
	}
	return nil
}

func writePadText(e *env, r *padReportT) {
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "PAD on %d images\n", r.Images)
	fmt.Fprintf(w, "no face found (never reach PAD):\n")
	for _, n := range r.NoFace {
		fmt.Fprintf(w, "  %s\t%s\t%d of %d\t%s\n", n.Family, n.Class, n.NoFace, n.Of, pct(float64(n.NoFace)/float64(max(1, n.Of))))
	}
	fmt.Fprintf(w, "time per face (ms): detector %.2f, network %.2f, cues %.2f, PAD %.2f (p95 %.2f) over %d faces\n",
		r.Times.DetectMS, r.Times.NetMS, r.Times.CuesMS, r.Times.PadMS, r.Times.PadP95MS, r.Times.Faces)
	fmt.Fprintf(w, "%s\n\n", r.Method)
	fmt.Fprintf(w, "layer\tfamily\tattack\tbonafide\tattacks\tEER\tAPCER@BPCER1%%\tAPCER@BPCER5%%\tAPCER@BPCER10%%\tAPCER@op\tBPCER@op\n")
	for _, row := range r.Rows {
		op1, op2 := "-", "-"
		if row.AtOp.APCER >= 0 {
			op1, op2 = pct(row.AtOp.APCER), pct(row.AtOp.BPCER)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Layer, row.Family, row.Attack, row.Bonafide, row.Attacks,
			pct(row.EER), pct(row.AtBPCER[0].APCER), pct(row.AtBPCER[1].APCER), pct(row.AtBPCER[2].APCER), op1, op2)
	}
	c := r.Combination
	fmt.Fprintf(w, "\ncombination (fitted on all nuaa__+cvz-): use %v mean %.4g std %.4g w %.4g b %.4g threshold %.4f\n", c.Use, c.Mean, c.Std, c.W, c.B, c.Threshold)
	w.Flush()
}
