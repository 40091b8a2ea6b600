package records

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/store"
)

// What the tally reads in an entry. The audit log has no alarm or pass
// fields: these are the strings the gate writes (Outcome "alarm" and
// "alarm-cleared" today), kept here in one place so that a new event
// needs only a line.
var (
	// alarmStarts and alarmEnds are the outcomes that raise and end an
	// alarm, of any kind.
	alarmStarts = []string{"alarm", "alarm-start", "alarm-started", "alarm-raised", "raised"}
	alarmEnds   = []string{"alarm-cleared", "alarm-end", "alarm-ended", "cleared", "ended"}
	// alarmKind is a kind whose entries are all alarms: Outcome "start" or
	// "end" then say which.
	alarmKind = "alarm"
)

// What the tally reads of visitor passes and unlock windows: the strings
// the store and the gate write (internal/store/visitors.go: "pass issued:
// ..." and "pass revoked", subject the pass; internal/gate/gate.go: a
// decision about a pass carries pass=<id>; internal/gate/unlock.go: actor
// "schedule", outcome "unlocked" at a window's start and "locked" at its
// end, with lasted=<duration> unless a restart ended it).
const (
	passIssued    = "pass issued"
	passRevoked   = "pass revoked"
	kioskIssuer   = "@kiosk" // the end of the actor of a pass a resident issued at the kiosk
	unlockActor   = "schedule"
	unlockStarted = "unlocked"
	unlockEnded   = "locked"
)

// maxAlarms bounds the alarms a period lists (the newest); maxReasons the
// distinct refusal reasons it counts.
const (
	maxAlarms  = 500
	maxReasons = 200
)

// Tally counts the entries of a period as they stream past.
type Tally struct {
	a       api.Activity
	counts  map[[2]string]int
	methods map[[2]string]int
	reasons map[[3]string]int
	open    []int         // indexes into a.Alarms of alarms not yet ended
	held    time.Duration // the unlock windows' Held
}

// NewTally starts the activity of a period.
func NewTally() *Tally {
	return &Tally{counts: map[[2]string]int{}, methods: map[[2]string]int{}, reasons: map[[3]string]int{}}
}

// Add counts one record.
func (t *Tally) Add(r store.AuditRecord) {
	t.a.Entries++
	if r.Damaged != "" {
		t.counts[[2]string{"(damaged)", ""}]++
		return
	}
	kind, out := string(r.Kind), r.Outcome
	t.counts[[2]string{kind, out}]++
	t.decision(r)
	t.pass(r)
	t.unlock(r)
	if reason := reasonKind(Field(r.Detail, "reason")); reason != "" {
		k := [3]string{kind, out, reason}
		if _, ok := t.reasons[k]; ok || len(t.reasons) < maxReasons {
			t.reasons[k]++
		} else {
			t.reasons[[3]string{kind, out, "(other reasons)"}]++
		}
	}
	switch {
	case r.Actor == systemActor && out == "started":
		// The daemon started: its own alarms of the run before (store
		// damaged, models missing), which it raises again if their cause
		// remains, ended with that run.
		t.restart(r)
	case slices.Contains(alarmStarts, out), kind == alarmKind && (out == "start" || out == "started"):
		t.a.Alarms = append(t.a.Alarms, api.Alarm{Name: alarmName(r), Actor: r.Actor, Start: r.Time, StartSeq: r.Seq})
		t.open = append(t.open, len(t.a.Alarms)-1)
		t.trim()
	case slices.Contains(alarmEnds, out), kind == alarmKind && (out == "end" || out == "stopped"):
		t.end(r)
	}
}

// decision counts a gate decision by method and outcome: an access entry
// with a method=. The entry that counts refusals not recorded one by one
// (internal/gate/flood.go: "method=card front refusals=41 ...") counts as
// that many refusals of its method. An access entry without a method (a
// card and PIN checked at the kiosk, a door that failed) is no decision
// at the gate; it stays in Counts.
func (t *Tally) decision(r store.AuditRecord) {
	if r.Kind != store.KindAccess {
		return
	}
	method, _, _ := strings.Cut(Field(r.Detail, "method"), " ")
	if method == "" {
		return
	}
	n := 1
	if s, _, _ := strings.Cut(Field(r.Detail, "refusals"), " "); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	t.methods[[2]string{method, r.Outcome}] += n
}

// pass counts what happened to visitor passes.
func (t *Tally) pass(r store.AuditRecord) {
	p := &t.a.Passes
	switch {
	case r.Kind == store.KindAccess && Field(r.Detail, "pass") != "":
		if r.Outcome == "granted" {
			p.Granted++
		} else {
			p.Refused++
		}
	case r.Kind != store.KindAdmin || r.Outcome != "ok":
	case strings.HasPrefix(r.Detail, passIssued):
		p.Issued++
		if strings.HasSuffix(r.Actor, kioskIssuer) {
			p.IssuedAtKiosk++
		}
	case r.Detail == passRevoked:
		p.Revoked++
	}
}

// unlock counts the scheduled unlock windows' starts and ends.
func (t *Tally) unlock(r store.AuditRecord) {
	if r.Kind != store.KindAdmin || r.Actor != unlockActor {
		return
	}
	u := &t.a.Unlocks
	switch r.Outcome {
	case unlockStarted:
		u.Opened++
		u.HeldAtEnd = true
	case unlockEnded:
		u.Ended++
		u.HeldAtEnd = false
		// "unlock profile=market lasted=2h0m0s: door locked: ..."
		lasted, _, _ := strings.Cut(Field(r.Detail, "lasted"), ":")
		if d, err := time.ParseDuration(strings.TrimSpace(lasted)); err == nil && d >= 0 {
			t.held += d
		} else {
			u.EndedByRestart++
		}
	}
}

// end closes the alarm r ends: the open one of the same actor and name,
// else, for an end that names its alarm differently, the newest open one
// of the same actor that it ends: for the gate's "a fallback reader is up
// again", "all fallback readers down" (endsOf; never another alarm of the
// gate's, such as the presentation-attack alarm, which has no end of its
// own); for other ends, the newest open one of the same actor. Else the
// alarm began before the period.
func (t *Tally) end(r store.AuditRecord) {
	name := alarmName(r)
	prefix, known := endsOf[name]
	pick := -1
	for i := len(t.open) - 1; i >= 0; i-- {
		al := t.a.Alarms[t.open[i]]
		if al.Actor != r.Actor {
			continue
		}
		if al.Name == name {
			pick = i
			break
		}
		if pick < 0 && !explicitName(r) && (!known || strings.HasPrefix(al.Name, prefix)) {
			pick = i
		}
	}
	if pick < 0 {
		t.a.Alarms = append(t.a.Alarms, api.Alarm{Name: name, Actor: r.Actor, End: r.Time, EndSeq: r.Seq})
		t.trim()
		return
	}
	al := &t.a.Alarms[t.open[pick]]
	al.End, al.EndSeq = r.Time, r.Seq
	t.open = slices.Delete(t.open, pick, pick+1)
}

// systemActor is the daemon's own actor (internal/daemon): "started" at
// each start, and the alarms of the daemon itself.
const systemActor = "system"

// restart ends every open alarm of the daemon's own at its next start r.
func (t *Tally) restart(r store.AuditRecord) {
	t.open = slices.DeleteFunc(t.open, func(i int) bool {
		al := &t.a.Alarms[i]
		if al.Actor != systemActor {
			return false
		}
		al.End, al.EndSeq = r.Time, r.Seq
		return true
	})
}

// endsOf maps an end that does not name its alarm to the beginning of the
// name (the detail) of the alarm it ends: internal/gate/health.go's.
var endsOf = map[string]string{"a fallback reader is up again": "all fallback readers down"}

// trim keeps the newest maxAlarms alarms.
func (t *Tally) trim() {
	if len(t.a.Alarms) <= maxAlarms {
		return
	}
	t.a.Alarms = t.a.Alarms[1:]
	t.a.AlarmsLeftOut++
	t.open = slices.DeleteFunc(t.open, func(i int) bool { return i == 0 })
	for j := range t.open {
		t.open[j]--
	}
}

// alarmName is the first word of the alarm= field of the detail, else the subject, else the
// detail.
func alarmName(r store.AuditRecord) string {
	// "alarm=forced-open: door forced open ..." and "alarm=forced-open
	// lasted=4s: ..." (the door's) both name forced-open.
	if n, _, _ := strings.Cut(Field(r.Detail, "alarm"), " "); strings.TrimRight(n, ":;,.") != "" {
		return strings.TrimRight(n, ":;,.")
	}
	if r.Subject != "" {
		return r.Subject
	}
	return r.Detail
}

func explicitName(r store.AuditRecord) bool { return Field(r.Detail, "alarm") != "" || r.Subject != "" }

// Activity is the period's activity: counts sorted by kind then outcome,
// reasons by count, alarms in the order they started (or ended, when they
// began before the period), with the chain's check of the period.
func (t *Tally) Activity(r store.AuditRange) api.Activity {
	a := t.a
	a.From, a.To = r.From, r.To
	a.Verified, a.Problem = r.OK(), r.Problem
	a.Counts = []api.KindOutcome{}
	for k, n := range t.counts {
		a.Counts = append(a.Counts, api.KindOutcome{Kind: k[0], Outcome: k[1], Count: n})
	}
	slices.SortFunc(a.Counts, func(x, y api.KindOutcome) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Outcome, y.Outcome))
	})
	a.Decisions = []api.MethodOutcome{}
	for k, n := range t.methods {
		a.Decisions = append(a.Decisions, api.MethodOutcome{Method: k[0], Outcome: k[1], Count: n})
	}
	slices.SortFunc(a.Decisions, func(x, y api.MethodOutcome) int {
		return cmp.Or(cmp.Compare(x.Method, y.Method), cmp.Compare(x.Outcome, y.Outcome))
	})
	a.Unlocks.Held = api.Duration{Duration: t.held}
	a.Reasons = []api.ReasonCount{}
	for k, n := range t.reasons {
		a.Reasons = append(a.Reasons, api.ReasonCount{Kind: k[0], Outcome: k[1], Reason: k[2], Count: n})
	}
	slices.SortFunc(a.Reasons, func(x, y api.ReasonCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Reason, y.Reason), cmp.Compare(x.Outcome, y.Outcome))
	})
	if a.Alarms == nil {
		a.Alarms = []api.Alarm{}
	}
	return a
}

// Field is the value of key=value in an audit detail ("reader=front
// reason=wrong PIN"): up to the next " word=" (so a reason may hold
// spaces), or "" when the detail has no such key.
func Field(detail, key string) string {
	for i := 0; i < len(detail); {
		j := strings.Index(detail[i:], key+"=")
		if j < 0 {
			return ""
		}
		j += i
		if j > 0 && detail[j-1] != ' ' {
			i = j + 1
			continue
		}
		v := detail[j+len(key)+1:]
		if end := nextField(v); end >= 0 {
			v = v[:end]
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// nextField is where the next " word=" begins in s, or -1.
func nextField(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			continue
		}
		w := s[i+1:]
		n := 0
		for n < len(w) && (w[n] >= 'a' && w[n] <= 'z' || w[n] == '_' || w[n] == '.' || w[n] == '-' || w[n] >= '0' && w[n] <= '9') {
			n++
		}
		if n > 0 && n < len(w) && w[n] == '=' {
			return i
		}
	}
	return -1
}

// reasonKind is a refusal reason without the parts that vary from one
// refusal to the next: the wait of a lock-out ("too many wrong PINs: try
// again in 14m31s" is "too many wrong PINs: try again in ..."), so that
// a guesser hammering a locked keypad counts as one reason, not hundreds
// that push the others out of the bounded list.
func reasonKind(reason string) string {
	const wait = "try again in "
	if i := strings.Index(reason, wait); i >= 0 {
		return reason[:i+len(wait)] + "..."
	}
	return reason
}
