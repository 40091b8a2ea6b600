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
	var ended func()
	if raise {
		ended = g.padAlarmEnd(now) // the last one's, if its timer has not run yet
		g.padUntil, g.padRaised = now.Add(padAlarm), now
		if g.padTimer != nil {
			g.padTimer.Stop()
		}
		g.padTimer = time.AfterFunc(padAlarm+time.Second, g.EndPADAlarm)
	}
	n := len(g.padSeen)
	g.mu.Unlock()
	if ended != nil {
		ended()
	}
	if raise {
		g.saveGateAlarms()
		msg := padSentence(n)
		g.log.Error("gate: ALARM: "+msg, "alarm", AlarmPresentation)
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: string(AlarmRaised), Detail: store.Detail("alarm=" + AlarmPresentation + ": " + msg)})
		// To `gated watch` too, like the door's alarms (the kiosk screen
		// shows only held and forced open).
		g.send(Decision{Time: now, Method: MethodDoor, Outcome: AlarmRaised, Reader: AlarmPresentation, Reason: msg})
	}
	d := g.decide(Decision{Method: method, Outcome: Denied, Reason: ReasonPresentation,
		pad: fmt.Sprintf("presentation attack suspected layer=%s score=%.3f", layer, score)})
	return &d
}

// EndPADAlarm ends the presentation-attack alarm once its time is up:
// audited with how long it stood, and sent to subscribers, so that the
// report and `gated watch` see it end as `gated status` does. A timer
// calls it; it does nothing before the time is up or when none stands.
func (g *Gate) EndPADAlarm() {
	g.mu.Lock()
	ended := g.padAlarmEnd(g.cfg.Now())
	g.mu.Unlock()
	if ended != nil {
		ended()
		g.saveGateAlarms()
	}
}

// padAlarmEnd clears a PAD alarm whose time is up and returns what records
// its end (to be called with g.mu released), or nil. g.mu held.
func (g *Gate) padAlarmEnd(now time.Time) func() {
	if g.padRaised.IsZero() || now.Before(g.padUntil) {
		return nil
	}
	lasted := g.padUntil.Sub(g.padRaised).Round(time.Second)
	g.padRaised = time.Time{}
	msg := padSentence(padLimit)
	return func() {
		g.log.Warn("gate: alarm ended", "alarm", AlarmPresentation, "lasted", lasted)
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: string(AlarmCleared),
			Detail: store.Detail(fmt.Sprintf("alarm=%s lasted=%v: %s", AlarmPresentation, lasted, msg))})
		g.send(Decision{Time: now, Method: MethodDoor, Outcome: AlarmCleared, Reader: AlarmPresentation,
			Reason: fmt.Sprintf("ended after %v: %s", lasted, msg)})
	}
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
