// Package gate makes the gate's access decisions: it turns faces seen by the
// camera and cards and PINs from the readers into "open" or "not open", opens
// the door, and records every decision in the audit log.
//
// It owns the decision rules: a face opens the door only when the fused
// descriptor of several frames of one tracked face (Config.Frames; frames
// of two people are never fused) is accepted as a resident; a face that
// does not open it is told why and what to do instead (an unknown face, a
// face that is not the holder of the card shown, any face while faces are
// not used), once a visit and not once a frame (in Verify mode a face
// before any card decides nothing: the screen asks for the card first);
// card and PIN work the same for every resident, enrolled in face
// recognition or not; a disabled resident is never let in. It never sees
// an image, never stores a descriptor (it holds the last Frames of the face
// in view, in memory, and forgets them when the face leaves), and never
// talks to a device: the daemon feeds it observations and events and gives
// it a door.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

// Store is what the gate needs of the store: cards, residents and PINs to
// decide, the audit log to record, and lock-out counts that outlive a
// restart.
type Store interface {
	LookupCard(number string) (residentID string, err error)
	Resident(id string) (store.Resident, error)
	VerifyPIN(residentID, pin string) (bool, error)
	AppendAudit(ev store.Event) (store.AuditEntry, error)
	Counters
	ScheduleStore
}

// Door is the lock the gate opens.
type Door interface {
	// Open unlocks for the configured pulse and returns once locked again.
	Open(ctx context.Context) error
}

// Gallery is the matcher: 1:N for identification, 1:1 for verification.
type Gallery interface {
	Lookup(q []float32) (match.Result, error)
	Distance(resident string, q []float32) (float32, bool, error)
}

// Config sets the decision rules.
type Config struct {
	// Face enables decisions by face; card and PIN are always on.
	Face bool
	// Mode is how faces are used at first (SetFace changes it; Off is the
	// zero value); Policy accepts a face as a resident (threshold and
	// margin; Verify uses the threshold only).
	Mode   calibrate.Mode
	Policy match.Policy
	// Frames is how many frames of one face are fused (their descriptors'
	// mean, match.Fuse) into the probe a decision is made on (default 3):
	// the first decision waits for that many, later ones slide over the
	// last that many. The face is followed from frame to frame by its box;
	// a face elsewhere, or whose descriptor jumps by the threshold or
	// more, is another person and starts again.
	Frames int
	// Cooldown is how long after a face opened the door the same resident's
	// face does not open it again (default 5 s): they are walking through.
	Cooldown time.Duration
	// Liveness is presentation-attack detection: a face that would open the
	// door (alone, or confirming a card) must also be judged live on the
	// frames that recognised it, else it is refused (ReasonPresentation),
	// audited as a suspected attack with LivenessLayer and the score, and
	// repeated refusals raise an alarm. nil: no PAD (then calibration keeps
	// faces off unless face.pad_max_apcer accepts unguarded faces).
	Liveness      Liveness
	LivenessLayer string
	// Challenge is the head-turn challenge (Identify mode): a face the gate
	// would let in is first asked to turn its head to its left or right,
	// at random (Turn, TurnPrompt), and let in only when its pose
	// (Observation.Pose) follows within ChallengeTime (default 5 s) on
	// frames that are still the resident's; else refused as a suspected
	// presentation attack. A flat photo, moved or tilted, keeps its pose.
	Challenge     bool
	ChallengeTime time.Duration
	// Turn picks the way to turn (default: crypto/rand); tests set it.
	Turn func() liveness.Turn
	// CardNeedsPIN asks for a PIN after every card; otherwise a valid card
	// alone opens the door.
	CardNeedsPIN bool
	// PINs pair with the card shown before them: within CardTimeout
	// (default 20 s), on the same reader or the card reader a keypad is bound
	// to (Bind: keypad reader -> card reader), with Lockout after failures.
	CardTimeout time.Duration
	Bind        map[string]string
	Lockout     LockoutPolicy
	Door        DoorConfig // the door's alarms and exit button (door.go)
	Passes      Passes     // visitor passes (codes and QR payloads); nil: refused
	Now         func() time.Time
	Log         *slog.Logger

	// Schedule holds the time profiles and groups residents may be
	// assigned (nil: none; validity dates still hold), AntiPassback the
	// entry and exit readers (schedule.go).
	Schedule     *schedule.Set
	AntiPassback AntiPassback
	// Unlock names a profile of Schedule during which the door is held
	// unlocked (a scheduled unlock window, unlock.go); "" is off, the
	// default. The door must then be a Holder.
	Unlock string
}

// Method is how a person asked to be let in.
type Method string

// Methods.
const (
	MethodFace     Method = "face"
	MethodCard     Method = "card"
	MethodCardPIN  Method = "card+pin"
	MethodCardFace Method = "card+face" // Verify mode: the face confirmed the card's holder
)

// Outcome of a decision.
type Outcome string

// Outcomes.
const (
	Granted   Outcome = "granted"
	Denied    Outcome = "denied"
	NeedPIN   Outcome = "need-pin"   // card accepted so far; enter the PIN
	LockedOut Outcome = "locked-out" // too many wrong PINs; wait
)

// Decision is one access decision, as shown to the person at the gate and
// recorded in the audit log.
type Decision struct {
	Time     time.Time
	Method   Method
	Outcome  Outcome
	Resident string // resident ID, when known
	Name     string // resident's display name, when known
	Reader   string // the reader, for card and PIN
	Pass     string // the visitor pass, for visitor codes and QR (no person)
	Reason   string // why, for denials; what to do next
	// Face decisions: distance to the resident (for an unknown face, to the
	// nearest one) and margin to the runner-up; 0 when no face was
	// compared.
	Distance, Margin float32
	Wait             time.Duration // LockedOut: until the next attempt

	measured bool   // a face was compared: the audit records Distance
	pad      string // PAD refused the face: the layer and score, for the audit
}

// Gate makes decisions. Create it with New, run it with Run.
type Gate struct {
	cfg     Config
	st      Store
	door    Door
	gallery Gallery
	log     *slog.Logger

	pairing *fallback.Pairing
	lockout *lockout
	opens   chan struct{} // door requests, coalesced while a pulse runs

	sched atomic.Pointer[schedule.Set] // replaces cfg.Schedule once set (compound.go)

	mu        sync.Mutex
	track     track                // the face in view and its last frames
	lastFrame time.Time            // of the last observation
	told      bool                 // the face in view was told why it does not open the door
	cooldown  map[string]time.Time // resident -> until when their face is ignored
	stats     Stats
	subs      map[chan Decision]struct{}
	alarm     bool
	readers   []fallback.Health
	mode      calibrate.Mode
	policy    match.Policy
	padSeen   []time.Time             // faces PAD refused lately, oldest first
	padUntil  time.Time               // the PAD alarm stands until then
	padRaised time.Time               // when the standing PAD alarm was raised (zero: none to end)
	padTimer  *time.Timer             // ends it (EndPADAlarm) when its time is up
	stateMu   sync.Mutex              // serialises saveGateAlarms (alarmstate.go)
	pending   *pendingCard            // Verify mode: a card waiting for its holder's face
	challenge *challenge              // Identify mode: a face asked to turn its head
	floods    map[string]*floodWindow // refusals naming nobody, by method and reader (flood.go)
	lastCard  map[string]seenCard     // reader -> the last card read there
	probes    map[string]*probeState  // reader -> unknown cards lately
	dw        doorWatch               // the door's inputs and alarms (door.go)
	pbMu      sync.Mutex              // anti-passback: one read-and-write of the state at a time
	holder    Holder                  // the door, when an unlock window is configured
	ul        unlockState             // the scheduled unlock window (unlock.go)

	alarmSince time.Time // when every fallback reader went down (alarm, health.go)
}

// pendingCard is a card shown in Verify mode, waiting for the face of its
// holder (or for the PIN, which still works).
type pendingCard struct {
	resident, name, reader string
	card                   fallback.Card
	until                  time.Time
	told                   bool // the face was told the PIN is needed
}

// SetFace changes how faces are used, and the policy (the daemon calls it
// when its calibration changes). It is safe to call at any time.
func (g *Gate) SetFace(mode calibrate.Mode, p match.Policy) error {
	if mode != calibrate.Off {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("gate: %w", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if mode == g.mode && p == g.policy {
		// Unchanged: a face being matched, or a card waiting for its
		// holder's face, carries on.
		return nil
	}
	g.log.Info("gate: face mode", "mode", mode.String(), "threshold", p.Threshold, "margin", p.MinMargin)
	g.mode, g.policy = mode, p
	g.track.restart()
	g.told, g.pending, g.challenge = false, nil, nil
	return nil
}

// WantsFace reports whether a camera frame could lead to a decision now:
// always when identifying, and when faces are off at a gate that has face
// recognition (a face is told to use card or PIN); in verify mode only
// while a card waits for its holder's face. The camera loop skips the
// recognizer (tens of milliseconds a frame) when it would be thrown away.
func (g *Gate) WantsFace() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.mode {
	case calibrate.Identify:
		return true
	case calibrate.Verify:
		return g.pending != nil && !g.cfg.Now().After(g.pending.until)
	}
	return g.cfg.Face
}

// FaceMode returns how faces are used now, and the policy.
func (g *Gate) FaceMode() (calibrate.Mode, match.Policy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mode, g.policy
}

// Stats counts decisions since start.
type Stats struct {
	Granted, Denied map[Method]int
	Last            *Decision
}

// New returns a gate. gallery may be nil when face is off.
func New(cfg Config, st Store, door Door, gallery Gallery) (*Gate, error) {
	if st == nil || door == nil {
		return nil, errors.New("gate: a store and a door are required")
	}
	if !cfg.Face {
		cfg.Mode = calibrate.Off
	}
	if cfg.Face {
		if gallery == nil {
			return nil, errors.New("gate: face decisions need a gallery")
		}
		if err := cfg.Policy.Validate(); err != nil && cfg.Mode != calibrate.Off {
			return nil, fmt.Errorf("gate: %w", err)
		}
	}
	if cfg.Frames <= 0 {
		cfg.Frames = 3
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 5 * time.Second
	}
	if cfg.ChallengeTime <= 0 {
		cfg.ChallengeTime = challengeTime
	}
	if cfg.Turn == nil {
		cfg.Turn = randomTurn
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{
		cfg: cfg, st: st, door: door, gallery: gallery, log: cfg.Log,
		mode: cfg.Mode, policy: cfg.Policy,
		opens:    make(chan struct{}, 1),
		cooldown: map[string]time.Time{},
		stats:    Stats{Granted: map[Method]int{}, Denied: map[Method]int{}},
		subs:     map[chan Decision]struct{}{},
		lastCard: map[string]seenCard{},
		probes:   map[string]*probeState{},
	}
	g.pairing = fallback.NewPairing(fallback.PairingConfig{CardTimeout: cfg.CardTimeout, Bind: cfg.Bind, Now: cfg.Now})
	g.lockout = newLockout(cfg.Lockout, st, cfg.Now, cfg.Log)
	if err := g.newUnlock(); err != nil {
		return nil, err
	}
	g.endAlarmsOfLastRun()
	return g, nil
}

// Run opens the door when decisions ask for it, and keeps the unlock
// window (unlock.go), until ctx is done; a window holding the door then
// ends with the door locked.
func (g *Gate) Run(ctx context.Context) error {
	tick, stop := g.unlockTicker()
	defer stop()
	defer g.unlockStop()
	g.CheckUnlock(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			g.CheckUnlock(ctx)
		case <-g.opens:
			if err := g.openDoor(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("gate: door", "err", err)
				g.audit(store.Event{Kind: store.KindAccess, Actor: "gate", Outcome: "door-error", Detail: store.Detail(err.Error())})
			}
		}
	}
}

// Subscribe returns a channel that receives every decision (dropped when
// the subscriber falls behind), and a function to stop.
func (g *Gate) Subscribe() (<-chan Decision, func()) {
	ch := make(chan Decision, 32)
	g.mu.Lock()
	g.subs[ch] = struct{}{}
	g.mu.Unlock()
	return ch, func() {
		g.mu.Lock()
		delete(g.subs, ch)
		g.mu.Unlock()
	}
}

// Stats returns the decision counts and the last decision.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Stats{Granted: map[Method]int{}, Denied: map[Method]int{}, Last: g.stats.Last}
	for k, v := range g.stats.Granted {
		s.Granted[k] = v
	}
	for k, v := range g.stats.Denied {
		s.Denied[k] = v
	}
	return s
}

// decide records a final decision: audit, door, subscribers. Called with
// g.mu not held.
func (g *Gate) decide(d Decision) Decision {
	d = g.passback(d)
	d.Time = g.cfg.Now()
	detail := "method=" + string(d.Method)
	if d.Reader != "" {
		detail += " reader=" + d.Reader
	}
	// A face's distance, never the face: no image or descriptor reaches
	// the audit log.
	switch {
	case d.measured && d.Method == MethodFace:
		detail += fmt.Sprintf(" distance=%.3f margin=%.3f", d.Distance, d.Margin)
	case d.measured:
		detail += fmt.Sprintf(" distance=%.3f", d.Distance)
	}
	if d.pad != "" {
		detail += " " + d.pad
	}
	subject := d.Resident
	if d.Pass != "" {
		subject = d.Pass // a visitor: the pass, never a person
		detail += " pass=" + d.Pass
	}
	if d.Reason != "" {
		detail += " reason=" + d.Reason
	}
	// Decision, then the door, then the audit entry: the fsync of the
	// entry does not delay the person at the gate.
	if d.Outcome == Granted {
		select {
		case g.opens <- struct{}{}:
		default: // a pulse is already queued
		}
	}
	if d.Outcome != NeedPIN && d.Outcome != Turn { // prompts, not decisions
		quiet, earlier := g.quietRefusal(d)
		if earlier != nil {
			g.audit(*earlier)
		}
		if !quiet {
			g.audit(store.Event{Kind: store.KindAccess, Actor: "gate", Subject: subject, Outcome: string(d.Outcome), Detail: store.Detail(detail)})
		}
	}
	g.log.Info("gate: decision", "method", d.Method, "outcome", d.Outcome, "resident", d.Resident, "reader", d.Reader, "reason", d.Reason)
	g.mu.Lock()
	switch d.Outcome {
	case Granted:
		g.stats.Granted[d.Method]++
	case Denied, LockedOut:
		g.stats.Denied[d.Method]++
	}
	last := d
	g.stats.Last = &last
	for ch := range g.subs {
		select {
		case ch <- d:
		default:
		}
	}
	g.mu.Unlock()
	return d
}

func (g *Gate) audit(ev store.Event) {
	if _, err := g.st.AppendAudit(ev); err != nil {
		g.log.Error("gate: audit", "err", err)
	}
}
