package gate

import (
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/store"
)

// Liveness is presentation-attack detection (PAD): it judges the frames of
// one face that would open the door, live person or photo/screen.
// liveness.Combination is one.
type Liveness interface {
	Decide(frames []liveness.Frame) (liveness.Verdict, error)
}

// ReasonPresentation is what a face PAD refuses is told: nothing about
// why, only what to do.
const ReasonPresentation = "please use your card or PIN"

// Repeated refused presentations raise an alarm: padLimit within
// padWindow, standing for padAlarm.
const (
	padLimit  = 3
	padWindow = 10 * time.Minute
	padAlarm  = 30 * time.Minute
)

// WantsLiveness reports whether a face's PAD figures can matter now: the
// gate has PAD and faces may open the door (not Off, where a face is only
// told to use card or PIN). The camera loop skips the 7-8 ms a face takes
// otherwise.
func (g *Gate) WantsLiveness() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg.Liveness != nil && g.mode != calibrate.Off
}

// padVerdict judges the track's frames, when the gate has PAD: whether
// they are live, and the fused score. A frame the camera could not judge
// (no liveness figures) makes the whole window not live: PAD fails
// closed. g.mu held.
func (g *Gate) padVerdict() (live bool, score float64) {
	if g.cfg.Liveness == nil {
		return true, 0
	}
	frames := make([]liveness.Frame, 0, len(g.track.pad))
	for _, f := range g.track.pad {
		if f == nil {
			return false, 0
		}
		frames = append(frames, *f)
	}
	v, err := g.cfg.Liveness.Decide(frames)
	if err != nil {
		return false, 0
	}
	return v.Live, v.Score
}

// refusePresentation is the decision on a face PAD refused: denied, told
// to use card or PIN, audited as a suspected presentation attack with the
// layer and score (never an image), and counted towards the alarm, once for
// the track: the face decides nothing more until it leaves the camera.
// g.mu held; it is released before the decision is recorded.
func (g *Gate) refusePresentation(method Method, layer string, score float64) *Decision {
	g.track.restart()
	g.track.refused = true
	g.told = true
	now := g.cfg.Now()
	i := 0
	for i < len(g.padSeen) && now.Sub(g.padSeen[i]) >= padWindow {
		i++
	}
	g.padSeen = append(g.padSeen[i:], now)
	raise := len(g.padSeen) >= padLimit && !now.Before(g.padUntil)
	if raise {
		g.padUntil = now.Add(padAlarm)
	}
	n := len(g.padSeen)
	g.mu.Unlock()
	if raise {
		msg := padSentence(n)
		g.log.Error("gate: ALARM: " + msg)
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm", Detail: store.Detail(msg)})
		// To `gated watch` too, like the door's alarms (the kiosk screen
		// shows only held and forced open).
		a := Decision{Time: now, Method: MethodDoor, Outcome: AlarmRaised, Reader: AlarmPresentation, Reason: msg}
		g.mu.Lock()
		for ch := range g.subs {
			select {
			case ch <- a:
			default:
			}
		}
		g.mu.Unlock()
	}
	d := g.decide(Decision{Method: method, Outcome: Denied, Reason: ReasonPresentation,
		pad: fmt.Sprintf("presentation attack suspected layer=%s score=%.3f", layer, score)})
	return &d
}

// AlarmPresentation is the Reader of the alarm raised by repeated faces
// refused as photos or screens, in the decision stream.
const AlarmPresentation = "presentation-attack"

func padSentence(n int) string {
	return fmt.Sprintf("%d faces refused as photos or screens within %s: someone may be trying to get in with a picture", n, padWindow)
}

// padAlarms lists the PAD alarm if it stands. g.mu held.
func (g *Gate) padAlarms() []string {
	if g.cfg.Now().Before(g.padUntil) {
		return []string{padSentence(max(len(g.padSeen), padLimit))}
	}
	return nil
}
