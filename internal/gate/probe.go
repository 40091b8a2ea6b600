package gate

import (
	"fmt"
	"slices"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/store"
)

// A card read again at the same reader within repeatWindow is the same
// presentation (readers repeat a card held in front of them): it decides
// nothing again.
const repeatWindow = time.Second

// seenCard is the last card read at a reader.
type seenCard struct {
	key string
	at  time.Time
}

// repeated reports whether ev repeats the card last read at the reader,
// by the times the reader read them (an event without one repeats
// nothing). A PIN in between ends the presentation (presented).
func (g *Gate) repeated(reader string, ev fallback.Event) bool {
	now := ev.Time
	if now.IsZero() {
		return false
	}
	key := ev.Card.Key()
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.lastCard[reader]
	g.lastCard[reader] = seenCard{key: key, at: now}
	return ok && last.key == key && !now.Before(last.at) && now.Sub(last.at) < repeatWindow
}

// Someone showing probeLimit different unknown cards at one reader within
// probeWindow is probably trying card numbers: the gate raises an alarm for
// probeAlarm (answering every card as usual: no one is locked out by it).
// One unknown card read over and over (left on a reader) is one card.
const (
	probeLimit  = 20
	probeWindow = time.Minute
	probeAlarm  = 10 * time.Minute
)

// maxProbeSeen bounds the unknown cards remembered per reader.
const maxProbeSeen = 256

type probeState struct {
	seen  []probeCard // unknown cards within the window, oldest first
	until time.Time   // the alarm stands until then
}

type probeCard struct {
	key string
	at  time.Time
}

// probe counts an unknown card at a reader and raises the alarm at the
// limit.
func (g *Gate) probe(reader, key string) {
	now := g.cfg.Now()
	g.mu.Lock()
	p := g.probes[reader]
	if p == nil {
		p = &probeState{}
		g.probes[reader] = p
	}
	i := 0
	for i < len(p.seen) && now.Sub(p.seen[i].at) >= probeWindow {
		i++
	}
	p.seen = p.seen[i:]
	distinct := map[string]bool{key: true}
	for j := len(p.seen) - 1; j >= 0; j-- {
		if p.seen[j].key == key {
			p.seen = append(p.seen[:j], p.seen[j+1:]...) // keep its latest sighting only
			continue
		}
		distinct[p.seen[j].key] = true
	}
	p.seen = append(p.seen, probeCard{key, now})
	if len(p.seen) > maxProbeSeen { // enough to know; bounded, whatever the flood
		p.seen = p.seen[len(p.seen)-maxProbeSeen:]
	}
	n := len(distinct)
	raise := n >= probeLimit && !now.Before(p.until)
	if raise {
		p.until = now.Add(probeAlarm)
	}
	g.mu.Unlock()
	if raise {
		msg := probeSentence(reader, n)
		g.log.Error("gate: ALARM: " + msg)
		g.audit(store.Event{Kind: store.KindAdmin, Actor: "gate", Outcome: "alarm", Detail: store.Detail(msg)})
	}
}

// presented ends the card presentation at a reader: a PIN was typed for
// it, so the same card read next is a new attempt.
func (g *Gate) presented(reader string) {
	g.mu.Lock()
	delete(g.lastCard, reader)
	g.mu.Unlock()
}

func probeSentence(reader string, n int) string {
	return fmt.Sprintf("%d different unknown cards at reader %s within a minute: someone may be trying card numbers", n, reader)
}

// Alarms lists the gate's standing alarms about people at the readers
// (the readers' own health is Alarm's).
func (g *Gate) Alarms() []string {
	now := g.cfg.Now()
	// The unlock window's lock comes first: CheckUnlock takes g.mu under it.
	out := g.unlockAlarms()
	g.mu.Lock()
	defer g.mu.Unlock()
	for reader, p := range g.probes {
		if now.Before(p.until) {
			out = append(out, probeSentence(reader, max(len(p.seen), probeLimit)))
		}
	}
	out = append(out, g.padAlarms()...)
	out = append(out, g.DoorAlarms()...)
	out = append(out, g.clockAlarms(now)...)
	slices.Sort(out)
	return out
}
