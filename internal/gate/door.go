package gate

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
//   - the exit button pressed opens the door like a grant (MethodExit,
//     audited as one).
//
// Each alarm is audited when it starts and when it ends (how long it
// lasted), logged as an error, listed by Alarms while it stands, sent to
// Subscribe's subscribers as a Decision with MethodDoor (Outcome
// AlarmRaised, then AlarmCleared), and holds DoorConfig.Buzzer on while
// any stands. Forced and held open end when the door is closed again,
// tamper when its input is back.

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
)

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
	if !w.restored {
		w.restored = true
		w.wasOpen, w.wasOpenSince = g.restoredDoorAlarms(now)
	}
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
		sentence := doorSentences[k]
		if k == AlarmHeldOpen {
			sentence = fmt.Sprintf(sentence, g.heldOpen())
		}
		a := doorAlarm{since: now, sentence: sentence}
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
	if sound {
		if err := g.cfg.Door.Buzzer.Sound(buzz); err != nil {
			g.log.Error("gate: alarm output", "on", buzz, "err", err) // tried again at the next reading
		} else {
			w.mu.Lock()
			w.buzzing = buzz
			w.mu.Unlock()
		}
	}
	if press {
		g.decide(Decision{Method: MethodExit, Outcome: Granted, Reader: ReaderExit})
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
	g.mu.Lock()
	for ch := range g.subs {
		select {
		case ch <- d:
		default:
		}
	}
	g.mu.Unlock()
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
