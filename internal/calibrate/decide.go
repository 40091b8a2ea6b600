package calibrate

import (
	"errors"
	"fmt"

	"github.com/gated-dev/gated/internal/match"
)

// Settings say how a gate may choose its face mode: from its own gallery
// (Calibrate), or from a fixed policy that the gallery can still overrule.
type Settings struct {
	// Calibrate lets Decide choose the mode and policy for Target from the
	// gallery (face.calibrate = true).
	Calibrate bool
	// Target is the largest acceptable chance that one stranger's attempt is
	// let in (face.target).
	Target float64
	// Fixed is the configured policy (face.threshold, face.margin), used
	// when Calibrate is false.
	Fixed match.Policy
	// CardAlone says a card alone opens the gate (access.card = "card"):
	// a face confirming a card adds nothing, so Verify becomes Off.
	CardAlone bool
	// Unguarded, when set, says why no presentation-attack detection good
	// enough is enabled (face.liveness, face.pad_max_apcer): a photo or a
	// screen could then stand in for a face, so face may neither identify
	// alone nor replace a PIN, and in "card" mode confirming a card adds
	// nothing: the mode is Off, and the reason says what the gallery would
	// allow with it.
	Unguarded string
	// Warning, when set, is said with any mode but Off: the configuration
	// accepts faces that presentation-attack detection would not vouch for.
	Warning string
	// Config tunes the estimate (zero: defaults); its Target is Target.
	Config Config
}

// Decide estimates from the gallery and decides how faces may be used:
//
//   - calibrated: Identify where a 1:N policy keeps a stranger's chance
//     under the target with most residents recognised, Verify where only
//     1:1 does, Off otherwise, and Off with too few residents to estimate;
//   - fixed: the configured policy, but Identify is refused (Verify, or
//     Off) as soon as the gallery is large enough to show it misses the
//     target; with too few residents to tell, Identify at the configured
//     policy, said plainly in the reason.
//
// The result's Estimate is nil when the gallery was too small or the fit
// failed. Decide never returns an error: a failure is Off with a reason.
func Decide(t Templates, s Settings) Decision {
	cfg := s.Config
	cfg.Target = s.Target
	d := Decision{Target: s.Target, Residents: len(t), Calibrated: s.Calibrate}
	if !s.Calibrate {
		if err := s.Fixed.Validate(); err != nil {
			d.Reason = "face not used: the configured policy is invalid: " + err.Error()
			return d
		}
	}
	est, err := Fit(t, cfg)
	switch {
	case err != nil && !errors.Is(err, ErrTooFew):
		d.Reason = "calibration failed: " + err.Error()
	case errors.Is(err, ErrTooFew) && s.Calibrate:
		d.Reason = fmt.Sprintf("face not used yet: %d residents enrolled, at least %d are needed to show that a stranger's chance stays under %.2g (card and PIN work)",
			len(t), cfg.withDefaults().MinResidents, s.Target)
	case errors.Is(err, ErrTooFew):
		d.Mode, d.Policy = Identify, s.Fixed
		d.Reason = fmt.Sprintf("NOT CALIBRATED: %d residents is too few to estimate; identification at the configured threshold %.2f (face.calibrate = false)",
			len(t), s.Fixed.Threshold)
	case s.Calibrate:
		d = est.Choose()
		d.Calibrated = true
	default:
		d = est.checkFixed(s.Fixed)
	}
	if est != nil && err == nil {
		d.Estimate = est
	}
	if s.CardAlone && d.Mode == Verify {
		d.Reason += " (but a card alone opens this gate, so face is not used)"
		d.Mode, d.Policy = Off, match.Policy{}
	}
	if s.Warning != "" && s.Unguarded == "" && d.Mode != Off {
		d.Reason += "; WARNING: " + s.Warning
	}
	if s.Unguarded != "" && d.Mode != Off {
		d.Reason = fmt.Sprintf("face not used: %s; with presentation-attack detection good enough, this gallery would allow %s (%s)", s.Unguarded, d.Mode, d.Reason)
		d.Mode, d.Policy = Off, match.Policy{}
	}
	return d
}

// checkFixed keeps a configured policy only as far as the gallery allows:
// Identify if its stranger bound meets the target, else Verify if 1:1 at
// its threshold does, else Off.
func (e *Estimate) checkFixed(p match.Policy) Decision {
	c := e.Config
	d := Decision{Target: c.Target, Residents: e.Residents}
	_, d.Stranger = e.StrangerAccept(p)
	switch {
	case e.CheckIdentify(p) == nil:
		d.Mode, d.Policy = Identify, p
		r := e.ResidentAccept(p)
		f := 1 - c.BPCER
		d.Accept, d.AcceptLow, d.AcceptHigh = f*r.Correct, f*r.CorrectLow, f*r.CorrectHigh
		d.Reason = fmt.Sprintf("identify at the configured threshold %.2f: a stranger's chance up to %.2g per attempt, within the target %.2g",
			p.Threshold, d.Stranger, c.Target)
	case e.CheckVerify(p.Threshold) == nil:
		d.Mode, d.Policy = Verify, p
		_, d.Stranger = e.PairFMR(p.Threshold)
		iv := e.VerifyInterval(p.Threshold)
		f := 1 - c.BPCER
		d.Accept, d.AcceptLow, d.AcceptHigh = f*iv.Share, f*iv.Low, f*iv.High
		d.Reason = fmt.Sprintf("identification REFUSED (the configured threshold %.2f would let a stranger in with probability up to %.2g per attempt, target %.2g): face confirms a card instead",
			p.Threshold, d.Stranger, c.Target)
	default:
		d.Reason = fmt.Sprintf("face REFUSED: the configured threshold %.2f misses the target %.2g even with a card", p.Threshold, c.Target)
	}
	d.Reason += e.duplicateNote()
	return d
}
