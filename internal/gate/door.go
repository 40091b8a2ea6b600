package gate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// The door's own inputs and alarms. The daemon reads the door contact, the
// exit button and the tamper switch a few times a second and hands the
// levels to DoorInputs; the gate decides what they mean, because only the
// gate knows whether it unlocked the door:
//
//   - the contact opening while the gate has not unlocked the door (no
//     pulse running, and none ended within DoorGrace) is "forced open";
//   - the door standing open for DoorConfig.HeldOpen or longer, whoever
//     opened it, is "held open";
//   - the tamper input active is "tamper";
//   - an input that cannot be read for DoorUnreadableAfter or longer is
//     "inputs-unreadable" (DoorUnreadable): the door is then unguarded
//     (no forced-open, held-open or tamper from that input), as when a
//     wire is cut, which is what a supervised line of an intrusion panel
//     reports as tamper;
//   - the exit button pressed opens the door like a grant (MethodExit,
//     audited as one).
//
// Each alarm is audited when it starts and when it ends (how long it
// lasted), logged as an error, listed by Alarms while it stands, sent to
// Subscribe's subscribers as a Decision with MethodDoor (Outcome
// AlarmRaised, then AlarmCleared), and holds DoorConfig.Buzzer on while
// any stands. Forced and held open end when the door is closed again,
// tamper when its input is back, inputs-unreadable when every input reads
// again. (If the alarm output is on the board that stopped answering, it
// cannot sound: the failure is logged once.) "Readers down" is sent to
// subscribers the same way but does not sound the buzzer (health.go says
// why).

// DoorConfig sets the door's alarms (Config.Door).
type DoorConfig struct {
	// HeldOpen is how long the door may stand open (default 30 s).
	HeldOpen time.Duration
	// Buzzer, when set, is on while a door alarm stands.
	Buzzer Buzzer
}

// Buzzer is an alarm output (a buzzer or siren relay).
type Buzzer interface {
	Sound(on bool) error
}

// DoorGrace is how long after the gate locked the door again the contact may
// still open without "forced open": the contact is read every 50 ms, and a
// strike lets go of a door pushed at the last moment.
const DoorGrace = time.Second

// Methods and outcomes of the door.
const (
	MethodExit Method = "exit" // the exit (request-to-exit) button
	MethodDoor Method = "door" // a door alarm, in the decision stream

	AlarmRaised  Outcome = "alarm"
	AlarmCleared Outcome = "alarm-cleared"
)

// Door alarm kinds, as in the audit detail "alarm=<kind>".
const (
	AlarmForcedOpen = "forced-open"
	AlarmHeldOpen   = "held-open"
	AlarmTamper     = "tamper"
	AlarmInputs     = "inputs-unreadable" // DoorUnreadable
)

// DoorUnreadableAfter is how long an input may fail to read before it is
// an alarm: a Modbus answer lost now and then is not one, a cut cable is.
const DoorUnreadableAfter = time.Second

// ReaderExit is the Reader of an exit button's decision.
const ReaderExit = "exit-button"

// DoorState is what the door's inputs read at one moment. An input that
// is not configured, or could not be read this time, has its Has* false.
type DoorState struct {
	HasContact, Closed bool // the door contact: Closed when the door is shut
	HasExit, Exit      bool // the exit button: Exit while pressed
	HasTamper, Tamper  bool // the tamper switch: Tamper while tampered with
}

// doorWatch is the door's state as the gate follows it.
type doorWatch struct {
	mu       sync.Mutex
	unlocked bool      // a pulse is running
	held     bool      // an unlock window holds the door unlocked (unlock.go)
	lockedAt time.Time // when the last pulse ended
	known    bool      // the contact has been read
	closed   bool
	openedAt time.Time
	exit     bool // the exit button was pressed at the last reading
	alarms   map[string]doorAlarm
	buzzing  bool
	buzzErr  string    // the alarm output's last error, logged once
	failing  time.Time // since when an input has not read (zero: all read)
	// restored: the alarms kept from before a restart were read
	// (doorstate.go); wasOpen: the door stood open then, since
	// wasOpenSince.
	restored     bool
	wasOpen      bool
	wasOpenSince time.Time
}

type doorAlarm struct {
	since    time.Time
	sentence string
}

// doorSentences are the alarms as people read them.
var doorSentences = map[string]string{
	AlarmForcedOpen: "door forced open: the door opened without a grant or the exit button",
	AlarmHeldOpen:   "door held open for longer than %v: please close the door",
	AlarmTamper:     "tamper: the reader or controller enclosure is open, or its wiring was cut",
	AlarmInputs:     "the door's inputs cannot be read (cable cut, board unplugged or without power?): no forced-open, held-open or tamper alarm and no exit button from them until they read again",
}

// inputsSentence is the inputs-unreadable alarm naming the inputs.
func inputsSentence(names []string) string {
	return fmt.Sprintf("the door's %s cannot be read (cable cut, board unplugged or without power?): no forced-open, held-open or tamper alarm and no exit button from it until it reads again",
		strings.Join(names, ", "))
}

// openDoor runs one pulse, noting that the gate unlocked the door.
func (g *Gate) openDoor(ctx context.Context) error {
	g.dw.mu.Lock()
	g.dw.unlocked = true
	g.dw.mu.Unlock()
	defer func() {
		g.dw.mu.Lock()
		g.dw.unlocked, g.dw.lockedAt = false, g.cfg.Now()
		g.dw.mu.Unlock()
	}()
	return g.door.Open(ctx)
}

func (g *Gate) heldOpen() time.Duration {
	if g.cfg.Door.HeldOpen > 0 {
		return g.cfg.Door.HeldOpen
	}
	return 30 * time.Second
}

// DoorInputs takes a reading of the door's inputs (see DoorState): it
// raises and clears the door's alarms and opens the door when the exit
// button is pressed. The daemon calls it from one goroutine, a few times
// a second.
func (g *Gate) DoorInputs(s DoorState) {
	now := g.cfg.Now()
	w := &g.dw
	g.restoreDoor(now)
	w.mu.Lock()
	var raise, clear []string
	press := false
	if s.HasContact {
		switch {
		case !w.known:
			w.known, w.closed = true, s.Closed
			if !s.Closed {
				// Open at start: the held-open clock starts now, or when
				// the door was found open before a restart.
				w.openedAt = now
				if w.wasOpen {
					w.openedAt = w.wasOpenSince.Add(-g.heldOpen())
				}
			}
		case w.closed && !s.Closed:
			w.closed, w.openedAt = false, now
			if !w.unlocked && !w.held && now.Sub(w.lockedAt) > DoorGrace {
				raise = append(raise, AlarmForcedOpen)
			}
		case !w.closed && s.Closed:
			w.closed = true
			clear = append(clear, AlarmForcedOpen, AlarmHeldOpen)
		}
		if !w.closed && !w.held && now.Sub(w.openedAt) >= g.heldOpen() {
			raise = append(raise, AlarmHeldOpen)
		}
	}
	if s.HasExit {
		press = s.Exit && !w.exit
		w.exit = s.Exit
	}
	if s.HasTamper {
		if s.Tamper {
			raise = append(raise, AlarmTamper)
		} else {
			clear = append(clear, AlarmTamper)
		}
	}
	sentences := map[string]string{}
	for _, k := range raise {
		sentences[k] = doorSentences[k]
		if k == AlarmHeldOpen {
			sentences[k] = fmt.Sprintf(sentences[k], g.heldOpen())
		}
	}
	g.doorAlarmsChange(now, raise, sentences, clear) // unlocks w.mu
	if press {
		g.decide(Decision{Method: MethodExit, Outcome: Granted, Reader: ReaderExit})
	}
}

// DoorUnreadable takes the inputs whose last read failed (nil when every
// input read; the daemon calls it after each DoorInputs): an input that
// has not read for DoorUnreadableAfter raises the alarm inputs-unreadable
// (see above), one alarm however the set of failing inputs changes, which
// ends when every input reads again.
func (g *Gate) DoorUnreadable(inputs []string) {
	now := g.cfg.Now()
	w := &g.dw
	g.restoreDoor(now)
	w.mu.Lock()
	_, standing := w.alarms[AlarmInputs]
	var raise, clear []string
	var sentences map[string]string
	switch {
	case len(inputs) == 0:
		w.failing = time.Time{}
		clear = []string{AlarmInputs}
	case standing:
	case w.failing.IsZero():
		w.failing = now
	case now.Sub(w.failing) >= DoorUnreadableAfter:
		raise, sentences = []string{AlarmInputs}, map[string]string{AlarmInputs: inputsSentence(inputs)}
	}
	g.doorAlarmsChange(now, raise, sentences, clear) // unlocks w.mu
}

// restoreDoor closes the alarms kept from before a restart, once, before
// the first reading changes them (doorstate.go).
func (g *Gate) restoreDoor(now time.Time) {
	w := &g.dw
	w.mu.Lock()
	done := w.restored
	w.restored = true
	w.mu.Unlock()
	if done {
		return
	}
	wasOpen, since := g.restoredDoorAlarms(now)
	w.mu.Lock()
	w.wasOpen, w.wasOpenSince = wasOpen, since
	w.mu.Unlock()
}

// doorAlarmsChange raises the alarms of raise that do not stand (with
// their sentences) and ends those of clear that do: kept in the store,
// audited, sent; then switches the alarm output to whether any stands.
// Called with g.dw.mu held; it unlocks it.
func (g *Gate) doorAlarmsChange(now time.Time, raise []string, sentences map[string]string, clear []string) {
	w := &g.dw
	if w.alarms == nil {
		w.alarms = map[string]doorAlarm{}
	}
	type change struct {
		kind  string
		a     doorAlarm
		ended bool
	}
	var changes []change
	for _, k := range raise {
		if _, ok := w.alarms[k]; ok {
			continue
		}
		a := doorAlarm{since: now, sentence: sentences[k]}
		w.alarms[k] = a
		changes = append(changes, change{k, a, false})
	}
	for _, k := range clear {
		if a, ok := w.alarms[k]; ok {
			delete(w.alarms, k)
			changes = append(changes, change{k, a, true})
		}
	}
	buzz := len(w.alarms) > 0
	sound := g.cfg.Door.Buzzer != nil && buzz != w.buzzing
	var keep map[string]doorAlarm
	if len(changes) > 0 {
		keep = maps.Clone(w.alarms)
	}
	w.mu.Unlock()

	if len(changes) > 0 {
		g.saveDoorAlarms(keep)
	}
	for _, c := range changes {
		g.doorAlarm(c.kind, c.a, c.ended, now)
	}
	if !sound {
		return
	}
	// Tried again at the next reading while it fails; logged once per
	// error, not 20 times a second (a board without power that also
	// carries the alarm output).
	err := g.cfg.Door.Buzzer.Sound(buzz)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.buzzing, w.buzzErr = buzz, ""
	case err.Error() != w.buzzErr:
		w.buzzErr = err.Error()
		g.log.Error("gate: alarm output", "on", buzz, "err", err)
	}
}

// doorAlarm records an alarm's start or end: log, audit, subscribers.
func (g *Gate) doorAlarm(kind string, a doorAlarm, ended bool, now time.Time) {
	d := Decision{Time: now, Method: MethodDoor, Outcome: AlarmRaised, Reader: kind, Reason: a.sentence}
	detail := "alarm=" + kind + ": " + a.sentence
	if ended {
		d.Outcome = AlarmCleared
		lasted := now.Sub(a.since).Round(100 * time.Millisecond)
		d.Reason = fmt.Sprintf("ended after %v: %s", lasted, a.sentence)
		detail = fmt.Sprintf("alarm=%s lasted=%v: %s", kind, lasted, a.sentence)
		g.log.Warn("gate: door alarm ended", "alarm", kind, "lasted", lasted)
	} else {
		g.log.Error("gate: ALARM: "+a.sentence, "alarm", kind)
	}
	g.audit(store.Event{Kind: store.KindAdmin, Actor: "door", Outcome: string(d.Outcome), Detail: store.Detail(detail)})
	g.send(d)
}

// DoorAlarms returns the door alarms standing now, one sentence each
// (Alarms includes them).
func (g *Gate) DoorAlarms() []string {
	g.dw.mu.Lock()
	defer g.dw.mu.Unlock()
	var out []string
	for _, a := range g.dw.alarms {
		out = append(out, a.sentence)
	}
	slices.Sort(out)
	return out
}
