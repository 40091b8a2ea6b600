package calibrate

import (
	"fmt"
	"math"

	"github.com/gated-dev/gated/internal/match"
)

// Mode is how face recognition may be used at the gate.
type Mode int

const (
	// Off: face is not used; residents open with card or PIN.
	Off Mode = iota
	// Verify: a card names the resident and the face confirms the card
	// holder (1:1), in place of the PIN.
	Verify
	// Identify: the face alone identifies the resident (1:N); card and PIN
	// still work.
	Identify
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Verify:
		return "verify"
	case Identify:
		return "identify"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Option is the best policy found for one mode, whether or not it is good
// enough to offer.
type Option struct {
	Mode   Mode
	Policy match.Policy // for Verify, Threshold only
	// Stranger is the upper bound on the chance that one stranger's attempt
	// is accepted (for Verify: a stranger holding a resident's card).
	Stranger float64
	// Accept is the share of residents' attempts accepted as themselves;
	// Misidentified those taken for another resident (Identify only).
	Accept, Misidentified float64
	// AcceptLow and AcceptHigh bound Accept (Interval): what residents who
	// did not enroll here might see.
	AcceptLow, AcceptHigh float64
	// Measured is the number of residents Accept is measured on.
	Measured int
	// Meets says whether the option keeps the target and accepts at least
	// MinAccept even at the pessimistic end (AcceptLow), and misidentifies
	// at most MaxMisidentify.
	Meets bool
}

// Decision is what Choose decided, with the options it weighed.
type Decision struct {
	Mode   Mode
	Policy match.Policy // the policy of the chosen mode; zero when Off
	// Stranger, Accept and its bounds are the chosen option's figures (see
	// Option).
	Stranger, Accept      float64
	AcceptLow, AcceptHigh float64
	Target                float64
	Residents             int
	Identify, Verify      Option
	Reason                string // one line for status and report
	// Calibrated says the mode was chosen from the gallery (Decide with
	// Settings.Calibrate), not kept from a fixed policy.
	Calibrated bool
	// Estimate is what the choice rests on; nil when the gallery was too
	// small to estimate (Decide).
	Estimate *Estimate
}

// Choose picks how face may be used: Identify if a 1:N policy meets the
// target with acceptable resident figures, else Verify if a 1:1 threshold
// does, else Off.
func (e *Estimate) Choose() Decision {
	c := e.Config
	d := Decision{Target: c.Target, Residents: e.Residents}

	// Identify: the threshold is set by the stranger bound; the margin by
	// residents' figures.
	t := e.ThresholdFor(c.Target, e.Residents)
	d.Identify = Option{Mode: Identify, Misidentified: 1}
	for _, m := range c.Margins {
		p := match.Policy{Threshold: t, MinMargin: m}
		r := e.ResidentAccept(p)
		o := Option{Mode: Identify, Policy: p, Accept: r.Correct, AcceptLow: r.CorrectLow, AcceptHigh: r.CorrectHigh, Measured: r.Measured, Misidentified: r.Misidentified}
		o.live(c.BPCER)
		_, o.Stranger = e.StrangerAccept(p)
		o.Meets = t > 0 && o.Stranger <= c.Target && o.AcceptLow >= c.MinAccept && o.Misidentified <= c.MaxMisidentify
		if better(o, d.Identify, c.MaxMisidentify) {
			d.Identify = o
		}
	}

	tv := e.ThresholdFor(c.Target, 1)
	vi := e.VerifyInterval(tv)
	d.Verify = Option{Mode: Verify, Policy: match.Policy{Threshold: tv}, Accept: vi.Share, AcceptLow: vi.Low, AcceptHigh: vi.High, Measured: vi.Residents}
	d.Verify.live(c.BPCER)
	_, d.Verify.Stranger = e.PairFMR(tv)
	d.Verify.Meets = tv > 0 && d.Verify.Stranger <= c.Target && d.Verify.AcceptLow >= c.MinAccept

	chosen := func(o Option) {
		d.Mode, d.Policy, d.Stranger = o.Mode, o.Policy, o.Stranger
		d.Accept, d.AcceptLow, d.AcceptHigh = o.Accept, o.AcceptLow, o.AcceptHigh
	}
	switch {
	case d.Identify.Meets:
		chosen(d.Identify)
		d.Reason = fmt.Sprintf("face identifies alone: threshold %.3f, margin %.3f keep strangers under %.2g per attempt with %d residents; residents accepted %s",
			d.Policy.Threshold, d.Policy.MinMargin, d.Stranger, e.Residents, share(d.Identify))
	case d.Verify.Meets:
		chosen(d.Verify)
		d.Reason = fmt.Sprintf("face confirms the card holder only: with %d residents, face alone would accept %s of residents at the target %.2g (need %.0f%% at the low end); 1:1 at threshold %.3f accepts %s",
			e.Residents, share(d.Identify), c.Target, 100*c.MinAccept, d.Policy.Threshold, share(d.Verify))
	case vi.Probes == 0:
		d.Reason = "face not used: no resident has two captures far enough apart to show how often face would accept them " +
			"(templates taken in one visit are near-copies of each other): enroll residents again on another day, or from photos; card and PIN only"
	default:
		d.Reason = fmt.Sprintf("face not used: at the target %.2g even 1:1 verification accepts only %s of residents (need %.0f%% at the low end); card and PIN only",
			c.Target, share(d.Verify), 100*c.MinAccept)
		z := probit(c.Confidence)
		if need := int(math.Ceil(z * z * c.MinAccept / (1 - c.MinAccept))); vi.Residents < need {
			d.Reason += fmt.Sprintf(" (only %d residents have two or more captures to measure: even if face accepted all of them, at least %d are needed to show %.0f%%)",
				vi.Residents, need, 100*c.MinAccept)
		}
	}
	d.Reason += e.duplicateNote()
	return d
}

// duplicateNote tells staff of templates that show one face under two
// names; "" when there are none.
func (e *Estimate) duplicateNote() string {
	n := len(e.Duplicates)
	if n == 0 {
		return ""
	}
	x := e.Duplicates[0]
	return fmt.Sprintf("; %d pair(s) of templates show the same face under two names (first: %s and %s): one person enrolled twice, or a photo filed under the wrong resident? Check them (gated calibrate lists them)",
		n, x.A, x.B)
}

// live scales an option's resident acceptance by the share of live faces
// presentation-attack detection lets through (1 - bpcer): a resident it
// refuses is not let in by face either.
func (o *Option) live(bpcer float64) {
	f := 1 - bpcer
	o.Accept, o.AcceptLow, o.AcceptHigh = f*o.Accept, f*o.AcceptLow, f*o.AcceptHigh
}

// share writes an option's resident acceptance with its interval.
func share(o Option) string {
	return fmt.Sprintf("%.0f%% (%.0f-%.0f%%, measured on %d)", 100*o.Accept, 100*o.AcceptLow, 100*o.AcceptHigh, o.Measured)
}

// better orders Identify options: meeting everything first, then fewer
// misidentifications within the bound, then more residents accepted.
func better(a, b Option, maxMis float64) bool {
	if a.Meets != b.Meets {
		return a.Meets
	}
	aok, bok := a.Misidentified <= maxMis, b.Misidentified <= maxMis
	if aok != bok {
		return aok
	}
	if !aok && a.Misidentified != b.Misidentified {
		return a.Misidentified < b.Misidentified
	}
	return a.Accept > b.Accept
}

// Row is one line of the trade-off `gated calibrate` shows.
type Row struct {
	Policy match.Policy
	// PairFMR is F(t), point and upper bound.
	PairFMR, PairFMRUpper float64
	// Stranger is the stranger-accept rate per attempt at the gallery's
	// size: point estimate and upper bound.
	Stranger, StrangerUpper float64
	Residents
	// Verify is the share of residents accepted 1:1 at the threshold.
	Verify float64
}

// TradeOff evaluates each policy.
func (e *Estimate) TradeOff(policies []match.Policy) []Row {
	out := make([]Row, len(policies))
	for i, p := range policies {
		r := Row{Policy: p, Residents: e.ResidentAccept(p), Verify: e.VerifyAccept(p.Threshold)}
		r.PairFMR, r.PairFMRUpper = e.PairFMR(p.Threshold)
		r.Stranger, r.StrangerUpper = e.StrangerAccept(p)
		out[i] = r
	}
	return out
}

// TradeOffAt evaluates, for each stranger-accept target, the 1:N policy
// (no margin) whose upper bound meets it at the gallery's size: the table
// `gated calibrate` shows (default targets 1e-5, 1e-4, 1e-3, 1e-2, 1e-1).
func (e *Estimate) TradeOffAt(targets ...float64) []Row {
	if len(targets) == 0 {
		targets = []float64{1e-5, 1e-4, 1e-3, 1e-2, 1e-1}
	}
	ps := make([]match.Policy, len(targets))
	for i, t := range targets {
		ps[i] = match.Policy{Threshold: e.ThresholdFor(t, e.Residents)}
	}
	return e.TradeOff(ps)
}

// Seeded is the choice one seed of the bootstrap gives (Spread).
type Seeded struct {
	Seed uint64
	Mode Mode
	// Identify and Verify are the thresholds the two modes would use.
	Identify, Verify float32
	// AcceptLow is the chosen mode's pessimistic resident acceptance.
	AcceptLow float64
}

// Spread repeats the choice with the bootstrap drawn from other seeds
// (Seed+1 ... Seed+k), on the same scores: how firm the mode and
// thresholds are against the luck of the resampling. (A gallery large
// enough to be sampled, over MaxProbes templates, keeps its sample.) It takes
// about k times as long as the bootstrap in Fit.
func (e *Estimate) Spread(k int) []Seeded {
	out := make([]Seeded, 0, k)
	for i := range k {
		c := *e
		c.Config.Seed = e.Config.Seed + uint64(i) + 1
		if c.boot = c.bootstrap(c.Config.Seed); len(c.boot) < c.Config.Bootstrap/2 {
			continue
		}
		d := c.Choose()
		out = append(out, Seeded{Seed: c.Config.Seed, Mode: d.Mode, Identify: d.Identify.Policy.Threshold,
			Verify: d.Verify.Policy.Threshold, AcceptLow: d.AcceptLow})
	}
	return out
}
