package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/gated-dev/gated/internal/match"
)

// Mode is how the gate uses a face: "identify" (a face alone opens the
// door, 1:N) or "verify" (a face confirms the card just shown, 1:1).
type Mode string

// Modes Predict takes.
const (
	ModeIdentify Mode = "identify"
	ModeVerify   Mode = "verify"
	ModeOff      Mode = "off" // faces open nothing: every face is refused
)

// Outcomes of one probe at the gate.
const (
	Granted       = "granted"       // a resident let in as themselves
	Misidentified = "misidentified" // a resident let in as another resident
	Refused       = "refused"       // not let in by face
	Accepted      = "accepted"      // a stranger let in
	NoFace        = "no-face"       // the camera path found no face: no decision at all
)

// Count is a number of probes with the 95% Wilson score interval of its
// rate, scaled back to probes: a fresh set of as many probes would show
// between Low and High of them (Low <= N <= High).
type Count struct {
	N    int `json:"n"`
	Of   int `json:"of"`
	Low  int `json:"low"`
	High int `json:"high"`
}

// NewCount is n of of with its 95% interval.
func NewCount(n, of int) Count {
	lo, hi := Wilson(n, of, 1.959964)
	return Count{N: n, Of: of, Low: int(math.Floor(lo*float64(of) + 1e-9)), High: int(math.Ceil(hi*float64(of) - 1e-9))}
}

// Wilson is the Wilson score interval of the rate k/n at z standard
// errors; [0, 1] when n is 0.
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return max(0, c-h), min(1, c+h)
}

// ProbeOutcome is what the gate is predicted to do with one probe photo.
type ProbeOutcome struct {
	Photo    string `json:"photo"`
	Person   string `json:"person"`
	Resident bool   `json:"resident"`
	// Claimed is the resident whose card is shown with the face (verify).
	Claimed string `json:"claimed,omitempty"`
	Outcome string `json:"outcome"`
	// As is who the gate takes the face for (granted, misidentified,
	// accepted in identify mode).
	As       string  `json:"as,omitempty"`
	Distance float32 `json:"distance,omitempty"`
}

// Prediction is what the gate is predicted to do with every probe of a
// split at one policy.
type Prediction struct {
	Mode      Mode    `json:"mode"`
	Threshold float32 `json:"threshold"`
	Margin    float32 `json:"margin"`
	// Resident probes (residents' photos, enrolled or not).
	ResidentProbes int   `json:"resident_probes"`
	Granted        Count `json:"granted"`
	Misidentified  Count `json:"misidentified"`
	Refused        Count `json:"refused"`
	NoFace         Count `json:"no_face"`
	// Stranger probes.
	StrangerProbes   int            `json:"stranger_probes"`
	StrangersIn      Count          `json:"strangers_accepted"`
	StrangersRefused Count          `json:"strangers_refused"`
	StrangersNoFace  Count          `json:"strangers_no_face"`
	Probes           []ProbeOutcome `json:"probes"`
}

// Predict presents every probe of gg to the gate at policy p in mode m, as
// the daemon decides one visit (off: every face refused, p unused): identify, the gallery's nearest resident
// under the policy (match.Policy.Accept); verify, the distance to the
// claimed resident's templates under the threshold. In verify mode a
// resident shows their own card, and the k-th stranger probe (in gg's
// order) the card of the k-th resident modulo their number, in name order
// of the residents the split chose (enrolled or not).
func Predict(gg *GateGallery, m Mode, p match.Policy) (Prediction, error) {
	switch m {
	case ModeIdentify, ModeVerify:
		if err := p.Validate(); err != nil {
			return Prediction{}, fmt.Errorf("eval: predict: %w", err)
		}
	case ModeOff:
	default:
		return Prediction{}, fmt.Errorf("eval: predict: mode %q, want identify, verify or off", m)
	}
	pr := Prediction{Mode: m, Threshold: p.Threshold, Margin: p.MinMargin}
	var residents []string
	for _, q := range gg.Probes {
		if q.Enrolled {
			residents = append(residents, q.Label)
		}
	}
	for r := range gg.Templates {
		residents = append(residents, r)
	}
	residents = append(residents, gg.NotEnrolled...)
	slices.Sort(residents)
	residents = slices.Compact(residents)
	var granted, misid, refused, noFace, in, out, strNoFace int
	stranger := 0
	for _, q := range gg.Probes {
		o := ProbeOutcome{Photo: q.Photo, Person: q.Label, Resident: q.Enrolled}
		if m == ModeVerify {
			o.Claimed = q.Label
			if !q.Enrolled {
				if len(residents) > 0 {
					o.Claimed = residents[stranger%len(residents)]
				}
				stranger++
			}
		}
		switch {
		case q.Vector == nil:
			o.Outcome = NoFace
		case m == ModeOff:
			o.Outcome = Refused
		case m == ModeVerify:
			d, ok, err := gg.Gallery.Distance(o.Claimed, q.Vector)
			if err != nil {
				return Prediction{}, fmt.Errorf("eval: predict %s: %w", q.Photo, err)
			}
			if ok {
				o.Distance = d
			}
			switch {
			case !ok || d >= p.Threshold:
				o.Outcome = Refused
			case q.Enrolled:
				o.Outcome = Granted
			default:
				o.Outcome = Accepted
			}
		default:
			r, err := gg.Gallery.Lookup(q.Vector)
			if err != nil {
				return Prediction{}, fmt.Errorf("eval: predict %s: %w", q.Photo, err)
			}
			o.Distance = r.Distance
			switch {
			case !p.Accept(r):
				o.Outcome = Refused
			case !q.Enrolled:
				o.Outcome, o.As = Accepted, r.Resident
			case r.Resident == q.Label:
				o.Outcome, o.As = Granted, r.Resident
			default:
				o.Outcome, o.As = Misidentified, r.Resident
			}
		}
		if q.Enrolled {
			pr.ResidentProbes++
			switch o.Outcome {
			case Granted:
				granted++
			case Misidentified:
				misid++
			case Refused:
				refused++
			case NoFace:
				noFace++
			}
		} else {
			pr.StrangerProbes++
			switch o.Outcome {
			case Accepted:
				in++
			case Refused:
				out++
			case NoFace:
				strNoFace++
			}
		}
		pr.Probes = append(pr.Probes, o)
	}
	pr.Granted, pr.Misidentified = NewCount(granted, pr.ResidentProbes), NewCount(misid, pr.ResidentProbes)
	pr.Refused, pr.NoFace = NewCount(refused, pr.ResidentProbes), NewCount(noFace, pr.ResidentProbes)
	pr.StrangersIn, pr.StrangersRefused = NewCount(in, pr.StrangerProbes), NewCount(out, pr.StrangerProbes)
	pr.StrangersNoFace = NewCount(strNoFace, pr.StrangerProbes)
	return pr, nil
}
