// Package kiosk is the resident screen at the gate: what the person in front
// of the camera sees (idle, granted, denied) and the two things residents
// do there themselves: enroll their face, after reading the notice and
// consenting as a separate step, and withdraw (opt out), which destroys
// their face data at once; and, where the daemon allows (Config.Passes),
// a visitor pass a resident issues for their guest, shown once (pass.go).
// Every step works from the keypad alone (PINs end with #): the screen
// only shows.
//
// It is bound to one reader (and that reader's keypad): the daemon gives it
// only that reader's events. Cards and PINs there are the gate's, as at any
// reader: a flow starts only when the door has just opened for a card
// there and 1#, 2# or 3# follows, and it is for that card's holder. Consent,
// a guardian's consent and the destruction of face data each take a card
// again, the number the screen shows, then the PIN; a PIN without the
// number right before it is the gate's. Slow steps (the PIN check, the
// camera, the store) run beside the caller, never on the loop that carries
// reader events.
//
// It owns the flows and the screen's state, in Chinese and English. While
// a resident's face is captured it shows them the camera's picture, as a
// mirror with a face guide, what to do and how far it is: it holds the
// latest small JPEG the Backend gives it in memory, and drops it when the
// capture ends. It never stores or logs an image, never sees a descriptor
// (the Backend captures and stores), never opens the door (the gate does),
// and serves its page and the picture only on the loopback listener the
// daemon gives it.
package kiosk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
)

// Resident is who a card and PIN proved to be.
type Resident struct {
	ID, Name   string
	Minor      bool
	GuardianID string // the guardian's resident ID, when registered
	HasFace    bool
}

// Guardian consents for a minor.
type Guardian struct {
	Name, Relation, ResidentID string
}

// Notice is the text a resident consents to.
type Notice struct {
	Version, Language, Text string
}

// Backend is what the kiosk needs of the daemon.
type Backend interface {
	// Identify checks a card and its PIN at the kiosk's reader (the gate's
	// check, under the gate's lock-out) and returns the holder. A wrong PIN
	// or unknown card is ErrNotIdentified; a card locked out, ErrLockedOut.
	Identify(ctx context.Context, card fallback.Card, pin string) (Resident, error)
	// Holder returns the resident a card is assigned to, without a PIN
	// (nothing is checked or shown: the kiosk uses it only to let a card
	// that is not a minor's registered guardian's end the guardian step
	// and go to the gate); ok is false for an unknown card or on an error.
	Holder(card fallback.Card) (residentID string, ok bool)
	Notice(lang string) (Notice, error)
	// Capture takes frames good camera frames of the resident, live (the
	// head-turn challenge, and presentation-attack detection where the
	// gate has it), reporting what the person should do and how far it
	// is through progress, and the camera's picture, as small JPEGs a few
	// times a second, through preview (neither may be kept past the
	// capture). A capture refused as not live is ErrNotLive; a gate whose
	// detector cannot run the challenge, ErrNoChallenge.
	Capture(ctx context.Context, residentID string, frames int, progress func(Progress), preview func(jpeg []byte)) ([][]float32, error)
	// Enroll stores the consent (at the device, to notice version in
	// language, with guardian for a minor) and the templates together.
	Enroll(ctx context.Context, residentID string, n Notice, g *Guardian, templates [][]float32) error
	// OptOut destroys the resident's face data and returns the receipt.
	// pending is true when the data is out of use (the face opens nothing)
	// but not yet gone from the disk (a full disk: the gate retries): the
	// screen must then not say "destroyed".
	OptOut(ctx context.Context, residentID string) (receipt string, pending bool, err error)
}

// Progress is where a capture is.
type Progress struct {
	Advice Advice // what to do about the latest frame
	Taken  int    // good pictures taken so far
	Want   int    // of how many
	// Turn is "left" or "right" once the person is asked to turn their
	// head to their own left or right; Turned counts the frames that did.
	Turn   string
	Turned int
}

// ErrNotLive is returned by Capture for a capture that did not show a live
// person (a photo or a screen, or no head turn when asked).
var ErrNotLive = errors.New("kiosk: no live face")

// ErrNoChallenge is returned by Capture when the gate cannot run the
// head-turn challenge (its face detector gives no head pose): residents
// cannot enroll themselves there.
var ErrNoChallenge = errors.New("kiosk: enrollment at the gate needs the yunet face detector")

// Advice is something the person in front of the camera can do about a
// capture (recognizer.Problem is one), in their language ("zh", "en").
type Advice interface {
	Advice(lang string) string
}

// ErrNotIdentified is returned by Identify for a wrong card or PIN.
var ErrNotIdentified = errors.New("kiosk: card and PIN do not match")

// ErrLockedOut is returned by Identify after too many wrong PINs.
var ErrLockedOut = errors.New("kiosk: too many wrong PINs")

// State names a screen.
type State string

// Screens.
const (
	Idle          State = "idle"
	Granted       State = "granted"
	Denied        State = "denied"
	EnrollCard    State = "enroll-card"    // how to start an enrollment
	ReadNotice    State = "notice"         // read and consent (card, number #, PIN #) or refuse (0#)
	GuardianCard  State = "guardian-card"  // a guardian consents (card, number #, PIN #)
	Capture       State = "capture"        // look at the camera
	Enrolled      State = "enrolled"       // done
	Declined      State = "declined"       // refused: nothing stored
	OptOutCard    State = "optout-card"    // how to start a withdrawal
	OptOutConfirm State = "optout-confirm" // card, number #, PIN # destroys; 0# cancels
	OptedOut      State = "optout-done"    // receipt shown
	OptOutPending State = "optout-pending" // receipt shown; out of use, not yet gone from disk
	Problem       State = "problem"        // something went wrong; back to idle
)

// Screen is what the page shows. Texts are in the screen's language.
type Screen struct {
	State   State  `json:"state"`
	Lang    string `json:"lang"` // "zh" or "en"
	Title   string `json:"title"`
	Body    string `json:"body,omitempty"`
	Notice  string `json:"notice,omitempty"`
	Keys    string `json:"keys,omitempty"` // what the keypad does now
	Digits  int    `json:"digits,omitempty"`
	Receipt string `json:"receipt,omitempty"`
	// Code is the one-time number a resident types before their PIN to
	// consent or to confirm a destruction.
	Code string `json:"code,omitempty"`
	// Live is set while the camera's picture is shown (GET /frame), with
	// Progress (how far the capture is) and Turn ("left" or "right" while
	// the head-turn is asked).
	Live     bool   `json:"live,omitempty"`
	Progress string `json:"progress,omitempty"`
	Turn     string `json:"turn,omitempty"`
	// Pass is a visitor pass's code as the visitor types it ("# code #"),
	// shown once; QR is set when its QR code is shown too (GET /pass.png).
	Pass string `json:"pass,omitempty"`
	QR   bool   `json:"qr,omitempty"`
	Seq  uint64 `json:"seq"`
}

// Config sets the kiosk's timing.
type Config struct {
	Frames  int           // good frames per enrollment (default 3)
	Timeout time.Duration // an unfinished step ends (default 60 s)
	// FaceMode is how the gate uses faces at first (SetFaceMode changes
	// it): what the idle screen asks of people depends on it.
	FaceMode calibrate.Mode
	Show     time.Duration // a result stays on screen (default 5 s)
	// PINTimeout is how long the gate waits for a PIN after a card
	// (access.pin_timeout, default 20 s): the prompt for it lasts as long.
	PINTimeout time.Duration
	// Reader is the kiosk's reader: the gate's decisions at other readers
	// are not shown, and only a door opened for a card here starts a flow.
	Reader string
	Log    *slog.Logger
	Now    func() time.Time
	Passes Passes // visitor passes residents issue (3#, pass.go); nil: not offered
}

// Kiosk runs the resident screen.
type Kiosk struct {
	cfg Config
	be  Backend
	log *slog.Logger

	mu      sync.Mutex
	screen  Screen
	flow    *flow
	until   time.Time // when the current screen falls back to idle
	subs    map[chan Screen]struct{}
	changed chan struct{}
	mode    calibrate.Mode
	ctx     context.Context // Run's: slow steps end with it

	resultAt time.Time // when a flow's result was shown

	frame  []byte // the camera's latest picture, while a capture shows it
	passQR []byte // the PNG of a pass's QR code, while it shows (pass.go)

	doorAlarms map[string]bool // held or forced open, standing (door.go)

	lastCard fallback.Card // the last card shown at the reader while no flow was open
	lastAt   time.Time     // when
	granted  grant         // the gate opened the door for lastCard
}

// grant is the gate opening the door for a card at the kiosk's reader.
type grant struct {
	card     fallback.Card
	resident string
	at       time.Time
}

// flow is an enrollment or opt-out in progress.
type flow struct {
	optOut     bool
	pass       bool          // a visitor pass (pass.go)
	card       fallback.Card // the card the door opened for before the flow began
	residentID string        // its holder, as the gate said
	resident   Resident      // once their card and PIN confirmed it
	notice     Notice
	guardian   *Guardian
	code       string        // the number shown at the deciding step
	shown      fallback.Card // the card shown at the deciding step
	stage      int           // how far the deciding step is (stageCard)
	stageAt    time.Time     // when it got there
	busy       bool          // a slow step (PIN check, store) is running
	// final is set once the flow's outcome is being stored (the face and
	// consent, or a destruction): it can no longer be cancelled, and its
	// result is shown.
	final  bool
	cancel context.CancelFunc
}

// New returns a kiosk showing the idle screen in Chinese.
func New(cfg Config, be Backend) *Kiosk {
	if cfg.Frames <= 0 {
		cfg.Frames = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Show <= 0 {
		cfg.Show = 5 * time.Second
	}
	if cfg.PINTimeout <= 0 {
		cfg.PINTimeout = 20 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &Kiosk{cfg: cfg, be: be, log: cfg.Log, subs: map[chan Screen]struct{}{}, changed: make(chan struct{}, 1), mode: cfg.FaceMode, ctx: context.Background()}
	k.screen = k.render(Idle, "zh")
	return k
}

// Run returns the screen to idle when a step times out or a result has been
// shown long enough, until ctx ends.
func (k *Kiosk) Run(ctx context.Context) error {
	k.mu.Lock()
	k.ctx = ctx
	k.mu.Unlock()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		k.mu.Lock()
		if !k.until.IsZero() && k.cfg.Now().After(k.until) {
			k.toIdle() // a step, a result, or the PIN prompt after a card
		}
		k.mu.Unlock()
	}
}

// SetFaceMode tells the kiosk how the gate now uses faces (the daemon's
// calibration decides): the idle screen asks for a face only where one
// opens the door, and says a card comes first where a face confirms it.
func (k *Kiosk) SetFaceMode(m calibrate.Mode) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if m == k.mode {
		return
	}
	idle := k.flow == nil && k.screen.State == Idle && k.screen.Body == k.text(k.screen.Lang, modeKey("idle", k.mode))
	k.mode = m
	if idle {
		k.show(Idle, nil, 0)
	}
}

// modeKey names the variant of a text for a face mode.
func modeKey(key string, m calibrate.Mode) string {
	switch m {
	case calibrate.Verify:
		return key + "-verify"
	case calibrate.Off:
		return key + "-off"
	}
	return key
}

// awaitingPIN reports whether the idle screen asks for a PIN after a card;
// k.mu held.
func (k *Kiosk) awaitingPIN() bool {
	b, l := k.screen.Body, k.screen.Lang
	return b == k.text(l, "enter-pin") || b == k.text(l, "enter-pin-verify") || b == k.text(l, "face-unconfirmed")
}

// Screen returns the current screen.
func (k *Kiosk) Screen() Screen {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.screen
}

// Subscribe returns a channel of screens (the current one first) and a
// function to stop. A slow reader misses screens but never the newest: the
// channel holds one screen, replaced by each newer one.
func (k *Kiosk) Subscribe() (<-chan Screen, func()) {
	ch := make(chan Screen, 1)
	k.mu.Lock()
	k.subs[ch] = struct{}{}
	ch <- k.screen
	k.mu.Unlock()
	return ch, func() {
		k.mu.Lock()
		delete(k.subs, ch)
		k.mu.Unlock()
	}
}

// show sets the screen; k.mu held. stay is how long before it falls back
// to idle (0: never, for idle itself).
func (k *Kiosk) show(st State, extra func(*Screen), stay time.Duration) {
	s := k.render(st, k.screen.Lang)
	if extra != nil {
		extra(&s)
	}
	s.Seq = k.screen.Seq + 1
	k.screen = s
	if !s.Live {
		k.frame = nil // the picture goes with the capture screen
	}
	if s.Pass == "" {
		k.passQR = nil // the QR code goes with the pass's screen
	}
	k.until = time.Time{}
	if stay > 0 {
		k.until = k.cfg.Now().Add(stay)
	}
	for ch := range k.subs {
		select {
		case <-ch: // an older screen the page has not taken: drop it
		default:
		}
		select {
		case ch <- s:
		default:
		}
	}
}

// toIdle ends any flow and shows the idle screen, or the door screen
// while the door stands open (door.go); k.mu held.
func (k *Kiosk) toIdle() {
	if k.flow != nil && k.flow.cancel != nil {
		k.flow.cancel()
	}
	k.flow = nil
	k.showIdle()
}

// Decision shows an access decision of the gate on the idle screen. While a
// resident is in an enrollment or opt-out, decisions are not shown. A door
// opened for the last card shown at the kiosk's reader lets 1#, 2# or 3# start
// a flow for that card's holder (idle).
func (k *Kiosk) Decision(d gate.Decision) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.doorDecision(d) { // door.go
		return
	}
	if k.flow != nil || (d.Reader != "" && k.cfg.Reader != "" && d.Reader != k.cfg.Reader) {
		return
	}
	now := k.cfg.Now()
	byCard := d.Method == gate.MethodCard || d.Method == gate.MethodCardPIN || d.Method == gate.MethodCardFace
	if d.Outcome == gate.Granted && byCard && d.Resident != "" && !k.lastAt.IsZero() && now.Sub(k.lastAt) <= window+k.cfg.Timeout {
		// The card was shown before its grant (the PIN may take up to
		// the gate's PIN timeout); a later card would have reset lastAt.
		k.granted = grant{card: k.lastCard, resident: d.Resident, at: now}
	}
	if st := k.screen.State; (st == Enrolled || st == OptedOut || st == OptOutPending) && now.Sub(k.resultAt) < resultHold {
		// A flow's result stays up a moment: the new face opens the door
		// at once, and "welcome" would hide "enrolled".
		return
	}
	switch d.Outcome {
	case gate.Granted:
		k.show(Granted, func(s *Screen) {
			s.Body = k.text(s.Lang, "welcome", d.Name)
			if byCard {
				s.Keys = k.text(s.Lang, "granted-keys")
			}
		}, k.cfg.Show)
	case gate.Denied, gate.LockedOut:
		if d.Reason == gate.ReasonFaceNotConfirmed {
			// The card still waits for its PIN: the screen asks for it
			// as long as after the card.
			k.show(Denied, func(s *Screen) { s.Body = k.text(s.Lang, "face-unconfirmed"); s.Keys = k.text(s.Lang, "keys-pin") }, k.cfg.PINTimeout)
			return
		}
		k.show(Denied, func(s *Screen) { s.Body = k.reason(s.Lang, d) }, k.cfg.Show)
	case gate.NeedPIN:
		key := "enter-pin"
		if k.mode == calibrate.Verify {
			key = "enter-pin-verify" // the holder's face may stand for the PIN
		}
		k.show(Idle, func(s *Screen) { s.Body = k.text(s.Lang, key); s.Keys = k.text(s.Lang, "keys-pin") }, k.cfg.PINTimeout)
	}
}

// Event takes an event of the kiosk's own reader or keypad (the daemon
// gives it no other) and reports whether the kiosk used it; if not, the
// gate must have it. It never blocks on slow work. Cards always go to the
// gate too (false), and so does every PIN but the one that completes a
// deciding step (step); codes shorter than a PIN (1#, 2#, 3#, 9#, 0#, the
// number shown) are the kiosk's.
func (k *Kiosk) Event(ctx context.Context, ev fallback.Event) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ev.Kind == fallback.KindKey {
		if k.flow != nil || k.awaitingPIN() {
			k.update(func(s *Screen) { s.Digits = ev.Digits }) // the digits typed so far
		}
		return false
	}
	if ev.Kind == fallback.KindPIN && k.screen.Digits != 0 {
		k.update(func(s *Screen) { s.Digits = 0 }) // the entry is done
	}
	if k.flow == nil {
		return k.idle(ev)
	}
	return k.step(ev)
}

// resultHold is how long a flow's result (enrolled, a receipt) is not
// replaced by the gate's decisions.
const resultHold = 2 * time.Second

// window is how long after the door opened for a card a menu code may
// start a flow for it, and how long each later part of a confirmation
// (the card again, the number, the PIN) waits for the next.
const window = 20 * time.Second

// idle takes an event while no flow is open; k.mu held. Cards and PINs
// are always the gate's: a resident's card and PIN are never swallowed.
// The kiosk remembers the last card shown, and the gate's decision tells
// it when the door opened for that card (Decision); 1#, 2# or 3# within
// window of that starts a flow for it. 9# switches the language.
func (k *Kiosk) idle(ev fallback.Event) bool {
	now := k.cfg.Now()
	if ev.Kind == fallback.KindCard {
		k.lastCard, k.lastAt = ev.Card, now
		k.granted = grant{} // a grant before this card was someone else's
		return false
	}
	if ev.Kind != fallback.KindPIN {
		return false
	}
	switch code := ev.PIN.Reveal(); code {
	case "1", "2":
		optOut := code == "2"
		g := k.granted
		if g.at.IsZero() || now.Sub(g.at) > window || now.Before(g.at) {
			key := map[bool]string{false: "enroll-first", true: "optout-first"}[optOut]
			k.show(map[bool]State{false: EnrollCard, true: OptOutCard}[optOut], func(s *Screen) { s.Body = k.text(s.Lang, key) }, k.cfg.Show)
			return true
		}
		k.granted = grant{}
		k.start(&flow{optOut: optOut, card: g.card, residentID: g.resident})
	case "3":
		return k.idlePass(now) // a visitor pass (pass.go)
	case "9":
		lang := "en"
		if k.screen.Lang == "en" {
			lang = "zh"
		}
		k.screen.Lang = lang
		k.showIdle()
	default:
		// Other codes are nobody's: never a PIN (PINs have minPIN digits
		// or more), so the gate does not count them as a wrong one.
		return len(code) < minPIN
	}
	return true
}

// start opens a flow at its deciding step; k.mu held. Nothing about the
// resident is shown before their card and PIN confirm it: whoever typed
// the code learns nothing.
func (k *Kiosk) start(f *flow) {
	f.code = newCode()
	k.flow = f
	if f.pass {
		k.startPass(f)
		return
	}
	if f.optOut {
		k.show(OptOutConfirm, func(s *Screen) {
			s.Code = f.code
			s.Keys = k.text(s.Lang, "optout-keys", f.code)
		}, k.cfg.Timeout)
		return
	}
	n, err := k.be.Notice(k.screen.Lang)
	if err != nil {
		k.problem(err)
		return
	}
	f.notice = n
	k.show(ReadNotice, func(s *Screen) {
		s.Notice, s.Code = n.Text, f.code
		s.Keys = k.text(s.Lang, "notice-keys", f.code)
	}, k.cfg.Timeout*3)
}

// Press takes a touch on the screen: the menu codes only (0, 1, 2, 3, 9),
// never a PIN.
func (k *Kiosk) Press(ctx context.Context, code string) {
	if len(code) != 1 || !strings.Contains("01239", code) {
		return
	}
	k.Event(ctx, fallback.Event{Reader: "screen", Kind: fallback.KindPIN, PIN: fallback.NewSecret(code), Time: k.cfg.Now()})
}

// minPIN is the shortest PIN the store accepts: anything shorter is a code.
const minPIN = 4

// update shows the current screen again with a change, keeping its
// deadline: no event extends a step; k.mu held.
func (k *Kiosk) update(change func(*Screen)) {
	cur, until := k.screen, k.until
	k.show(cur.State, func(s *Screen) {
		*s = cur
		change(s)
	}, 0)
	k.until = until
}

// step advances a flow and reports whether it used the event; k.mu held.
//
// The deciding steps (consent, the confirmation of a destruction, a
// guardian's consent) take a card, then, within window, one keypad entry:
// the number shown followed by the PIN, and #. A card is also the gate's,
// as always; an entry is the kiosk's only when it starts with the number,
// and the number (three digits, new for every step) is in no habit. So a
// resident who shows their card and types their PIN out of habit is let
// in and consents to nothing, whatever the screen shows; and nobody at
// another keypad can put a key between the number and the PIN, which are
// one entry from one keypad.
func (k *Kiosk) step(ev fallback.Event) bool {
	f, st := k.flow, k.screen.State
	if st == PassChoose || st == PassShown {
		return k.passStep(ev)
	}
	deciding := st == ReadNotice || st == OptOutConfirm || st == GuardianCard || st == PassConfirm
	now := k.cfg.Now()
	if ev.Kind == fallback.KindCard {
		if !deciding || f.busy || f.final {
			return false // during the camera step, a check or the save: the gate's
		}
		switch {
		case st == GuardianCard && ev.Card != f.card && k.isGuardians(f, ev.Card):
			f.shown, f.stage, f.stageAt = ev.Card, stageCard, now
			k.update(func(s *Screen) { s.Keys = k.text(s.Lang, keysFor(st, stageCard), f.code) })
		case st != GuardianCard && ev.Card == f.card:
			f.shown, f.stage, f.stageAt = ev.Card, stageCard, now
			k.update(func(s *Screen) { s.Keys = k.text(s.Lang, keysFor(st, stageCard), f.code) })
		default:
			// Someone else at the reader (at the guardian step: anyone
			// but the registered guardian, the minor included): the flow
			// ends and the gate takes the card.
			k.log.Info("kiosk: another card at the kiosk's reader; the flow ends and the gate takes the card")
			k.toIdle()
		}
		return false
	}
	if ev.Kind != fallback.KindPIN {
		return false
	}
	code := ev.PIN.Reveal()
	if code == "0" {
		switch {
		case f.final:
			return true // being stored: too late to cancel, its result is shown
		case st == ReadNotice:
			return k.decline()
		}
		k.toIdle() // 0# cancels any other step
		return true
	}
	if !deciding {
		return false // during the camera step: the gate's
	}
	fresh := f.stage == stageCard && !now.Before(f.stageAt) && now.Sub(f.stageAt) <= window
	n := len(f.code)
	switch {
	case f.busy || f.final:
		return len(code) < minPIN // a check is running: codes are ignored, PINs are the gate's
	case len(code) < minPIN:
		return true // a code is never a PIN, so never the gate's
	case !fresh || len(code) < n+minPIN || code[:n] != f.code:
		// Not the number and a PIN right after the card: the gate's (a
		// PIN for the card it follows), and that card's part here is over.
		if f.stage != stageNone {
			f.stage = stageNone
			k.update(func(s *Screen) { s.Keys = k.text(s.Lang, keysFor(st, stageNone), f.code) })
		}
		return false
	}
	f.stage = stageNone
	card := f.shown
	k.identify(f, st, card, code[n:], func(who Resident) {
		switch st {
		case ReadNotice:
			k.consented(f, who)
		case OptOutConfirm:
			k.confirmed(f, who)
		case GuardianCard:
			k.guardianConsented(f, who)
		case PassConfirm:
			k.passIdentified(f, who)
		}
	})
	return true
}

// isGuardians reports whether card is assigned to the registered guardian
// of the minor in flow f; k.mu held.
func (k *Kiosk) isGuardians(f *flow, card fallback.Card) bool {
	if f.resident.GuardianID == "" {
		return false
	}
	id, ok := k.be.Holder(card)
	return ok && id == f.resident.GuardianID
}

// stages of a deciding step.
const (
	stageNone = iota
	stageCard // the card was shown
)

// keysFor names the keypad line of a deciding step at a stage.
func keysFor(st State, stage int) string {
	key := map[State]string{ReadNotice: "notice-keys", OptOutConfirm: "optout-keys", GuardianCard: "guardian-keys", PassConfirm: "pass-keys"}[st]
	if stage == stageCard {
		return key + "-card"
	}
	return key
}

// decline ends an enrollment whose resident refused; nothing is stored.
func (k *Kiosk) decline() bool {
	k.log.Info("kiosk: consent refused; nothing stored", "resident", k.flow.resident.ID)
	k.flow = nil
	k.show(Declined, nil, k.cfg.Show*2)
	return true
}

// consented continues an enrollment after the resident's card and PIN at
// the notice; k.mu held. The card and PIN must be those of the resident
// the door opened for when the flow began.
func (k *Kiosk) consented(f *flow, who Resident) {
	switch {
	case who.ID != f.residentID:
		k.problem(ErrNotIdentified)
	case who.HasFace:
		k.flow = nil
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "already") }, 2*k.cfg.Show)
	case who.Minor && who.GuardianID == "":
		// Only a guardian the property office registered may consent for
		// a child here: anyone else at the reader is a bystander.
		k.flow = nil
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "no-guardian") }, 2*k.cfg.Show)
	case who.Minor:
		f.resident, f.code = who, newCode()
		k.show(GuardianCard, func(s *Screen) {
			s.Code = f.code
			s.Keys = k.text(s.Lang, "guardian-keys", f.code)
		}, k.cfg.Timeout)
	default:
		f.resident = who
		k.capture()
	}
}

// confirmed destroys the resident's face data after their card and PIN at
// the confirmation; k.mu held.
func (k *Kiosk) confirmed(f *flow, who Resident) {
	switch {
	case who.ID != f.residentID:
		k.problem(ErrNotIdentified)
	case !who.HasFace:
		k.flow = nil
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "no-face") }, 2*k.cfg.Show)
	default:
		f.resident = who
		k.optOut(f)
	}
}

// guardianConsented continues a minor's enrollment after a guardian's card
// and PIN; k.mu held.
func (k *Kiosk) guardianConsented(f *flow, who Resident) {
	if who.ID == f.resident.ID || who.Minor || f.resident.GuardianID == "" || who.ID != f.resident.GuardianID {
		k.flow = nil
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "not-guardian") }, 2*k.cfg.Show)
		return
	}
	f.guardian = &Guardian{Name: who.Name, Relation: "guardian (card and PIN at the gate)", ResidentID: who.ID}
	k.log.Info("kiosk: guardian identified by card and PIN", "minor", f.resident.ID, "guardian", who.ID)
	k.capture()
}

// newCode returns a number of three digits for a confirmation, new for
// every step, so that no habit can type it.
func newCode() string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("kiosk: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return fmt.Sprintf("%03d", int(binary.BigEndian.Uint16(b[:]))%1000)
}

// identify checks a card and PIN beside the caller, then, if the flow is
// still at step st, calls then with k.mu held; k.mu held.
func (k *Kiosk) identify(f *flow, st State, card fallback.Card, pin string, then func(Resident)) {
	f.busy = true
	ctx := k.ctx
	go func() {
		who, err := k.be.Identify(ctx, card, pin)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow != f || k.screen.State != st {
			return // timed out or cancelled meanwhile
		}
		f.busy = false
		if err != nil {
			k.problem(err)
			return
		}
		then(who)
	}()
}

// optOut destroys the resident's face data beside the caller; k.mu held.
func (k *Kiosk) optOut(f *flow) {
	f.busy, f.final = true, true
	id, ctx := f.resident.ID, k.ctx
	k.show(OptOutConfirm, func(s *Screen) {
		s.Body, s.Keys, s.Code = k.text(s.Lang, "destroying"), "", ""
	}, 0)
	go func() {
		receipt, pending, err := k.be.OptOut(ctx, id)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow != f && k.flow != nil {
			// The screen went on to another flow meanwhile (its step
			// timed out): the destruction is done and audited; its
			// receipt is not shown over someone else's step.
			k.log.Info("kiosk: face data destroyed after the screen moved on", "resident", id, "pending", pending, "err", err)
			return
		}
		k.flow = nil
		if err != nil {
			k.problem(err)
			return
		}
		k.resultAt = k.cfg.Now()
		st, key := OptedOut, "optout-done"
		if pending {
			// Honest: the face opens nothing now, but its bytes are still
			// on the disk until the gate's retry succeeds.
			st, key = OptOutPending, "optout-pending"
		}
		k.show(st, func(s *Screen) {
			s.Receipt = receipt
			s.Body = k.text(s.Lang, key, receipt)
		}, 4*k.cfg.Show)
	}()
}

// capture starts the camera step in the background; k.mu held. While it
// runs the screen shows the camera's picture (Frame), what to do and how
// far it is; the picture is dropped when it ends.
func (k *Kiosk) capture() {
	f := k.flow
	ctx, cancel := context.WithTimeout(k.ctx, k.cfg.Timeout)
	f.cancel = cancel
	stay := k.cfg.Timeout + 5*time.Second
	k.show(Capture, func(s *Screen) {
		s.Body, s.Live, s.Progress = k.text(s.Lang, "look"), true, k.text(s.Lang, "progress", 0, k.cfg.Frames)
	}, stay)
	go func() {
		defer cancel()
		progress := func(p Progress) {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.flow != f || k.screen.State != Capture || f.final {
				return
			}
			k.show(Capture, func(s *Screen) {
				s.Live, s.Progress = true, k.text(s.Lang, "progress", p.Taken, p.Want)
				if p.Advice != nil {
					s.Body = p.Advice.Advice(s.Lang)
				}
				if p.Turn != "" {
					s.Body, s.Turn, s.Progress = k.text(s.Lang, "turn-"+p.Turn), p.Turn, k.text(s.Lang, "progress-turn")
				}
			}, stay)
		}
		preview := func(jpeg []byte) {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.flow == f && k.screen.State == Capture && k.screen.Live {
				k.frame = jpeg
			}
		}
		vecs, err := k.be.Capture(ctx, f.resident.ID, k.cfg.Frames, progress, preview)
		k.mu.Lock()
		cancelled := k.flow != f
		if !cancelled {
			k.frame = nil
		}
		if err == nil && !cancelled {
			f.final = true // from here 0# cannot cancel: the save is shown
			k.show(Capture, func(s *Screen) { s.Body = k.text(s.Lang, "saving") }, 0)
		}
		k.mu.Unlock()
		if err == nil && !cancelled {
			err = k.be.Enroll(ctx, f.resident.ID, f.notice, f.guardian, vecs)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow != f {
			return
		}
		k.flow = nil
		if err != nil {
			k.problem(err)
			return
		}
		k.log.Info("kiosk: face enrolled at the gate", "resident", f.resident.ID, "templates", len(vecs))
		k.resultAt = k.cfg.Now()
		k.show(Enrolled, func(s *Screen) { s.Body = k.text(s.Lang, modeKey("enrolled", k.mode), f.resident.Name) }, 2*k.cfg.Show)
	}()
}

// Frame returns the camera's latest picture (a small JPEG) while a capture
// shows it, else nil. The caller must not keep it.
func (k *Kiosk) Frame() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.flow == nil || k.screen.State != Capture || !k.screen.Live {
		return nil
	}
	return k.frame
}

// problem shows an error in words a resident understands; k.mu held.
func (k *Kiosk) problem(err error) {
	k.flow = nil
	key := "problem"
	switch {
	case errors.Is(err, ErrNotIdentified):
		key = "not-identified"
	case errors.Is(err, ErrLockedOut):
		key = "locked-out"
	case errors.Is(err, ErrNotLive):
		key = "not-live"
	case errors.Is(err, ErrNoChallenge):
		key = "no-challenge"
	case errors.Is(err, context.DeadlineExceeded):
		key = "capture-timeout"
	}
	k.log.Warn("kiosk: step failed", "err", err)
	k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, key) }, 2*k.cfg.Show)
}

func (k *Kiosk) reason(lang string, d gate.Decision) string {
	switch {
	case d.Outcome == gate.LockedOut:
		return k.text(lang, "locked-out")
	case d.Reason == gate.ReasonFaceOff:
		return k.text(lang, "face-off")
	case d.Method == gate.MethodFace:
		return k.text(lang, "face-unknown")
	case d.Reason == "wrong PIN":
		return k.text(lang, "wrong-pin")
	case d.Reason == "unknown card":
		return k.text(lang, "unknown-card")
	}
	return k.text(lang, "denied") + fmt.Sprintf(" (%s)", d.Reason)
}
