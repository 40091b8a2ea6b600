// Package kiosk is the resident screen at the gate: what the person in front
// of the camera sees (idle, granted, denied) and the two things residents
// do there themselves: enroll their face, after reading the notice and
// consenting as a separate step, and withdraw (opt out), which destroys
// their face data at once. Every step works from the keypad alone (PINs
// end with #): the screen only shows.
//
// It is bound to one reader (and that reader's keypad): the daemon gives it
// only that reader's events, and it takes only those that belong to a flow
// (the menu codes when idle; in a flow, the card or PIN the step waits
// for). Everything else goes on to the gate. Who a flow is for is who showed
// card and PIN at its reader during that flow; consent and the destruction
// of face data are each confirmed with the same person's PIN again. Slow
// steps (the PIN check, the camera, the store) run beside the caller, never
// on the loop that carries reader events.
//
// It owns the flows and the screen's state, in Chinese and English. It
// never sees an image or a descriptor (the Backend captures and stores),
// never opens the door (the gate does), and serves its page only on the
// loopback listener the daemon gives it.
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
	Notice(lang string) (Notice, error)
	// Capture takes frames good camera frames, reporting quality advice
	// (what the person should do) as it comes.
	Capture(ctx context.Context, frames int, tips func(Advice)) ([][]float32, error)
	// Enroll stores the consent (at the device, to notice version in
	// language, with guardian for a minor) and the templates together.
	Enroll(ctx context.Context, residentID string, n Notice, g *Guardian, templates [][]float32) error
	// OptOut destroys the resident's face data and returns the receipt.
	OptOut(ctx context.Context, residentID string) (receipt string, err error)
}

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
	EnrollCard    State = "enroll-card"    // show your card
	EnrollPIN     State = "enroll-pin"     // enter your PIN
	ReadNotice    State = "notice"         // read and consent (code + PIN #) or refuse (0#)
	GuardianCard  State = "guardian-card"  // a guardian shows their card
	GuardianPIN   State = "guardian-pin"   // and enters their PIN
	Capture       State = "capture"        // look at the camera
	Enrolled      State = "enrolled"       // done
	Declined      State = "declined"       // refused: nothing stored
	OptOutCard    State = "optout-card"    // show your card
	OptOutPIN     State = "optout-pin"     // enter your PIN
	OptOutConfirm State = "optout-confirm" // code + PIN # destroys, 0# cancels
	OptedOut      State = "optout-done"    // receipt shown
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
	Log      *slog.Logger
	Now      func() time.Time
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

	lastCard fallback.Card // the last card shown at the reader while no flow was open
	lastAt   time.Time     // when; zero once a flow took it or a PIN answered it
}

// flow is an enrollment or opt-out in progress.
type flow struct {
	optOut   bool
	card     fallback.Card
	resident Resident
	notice   Notice
	gcard    fallback.Card
	guardian *Guardian
	code     string             // the number shown for consent or destruction, typed before the PIN
	again    time.Time          // when the card was shown again at the consent or confirm step
	busy     bool               // a slow step (PIN check, store) is running
	cancel   context.CancelFunc // of a capture in progress
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
		if k.screen.State != Idle && !k.until.IsZero() && k.cfg.Now().After(k.until) {
			k.toIdle()
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
	b := k.screen.Body
	return b == k.text(k.screen.Lang, "enter-pin") || b == k.text(k.screen.Lang, "enter-pin-verify")
}

// Screen returns the current screen.
func (k *Kiosk) Screen() Screen {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.screen
}

// Subscribe returns a channel of screens (the current one first) and a
// function to stop.
func (k *Kiosk) Subscribe() (<-chan Screen, func()) {
	ch := make(chan Screen, 16)
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
	k.until = time.Time{}
	if stay > 0 {
		k.until = k.cfg.Now().Add(stay)
	}
	for ch := range k.subs {
		select {
		case ch <- s:
		default:
		}
	}
}

// toIdle ends any flow; k.mu held.
func (k *Kiosk) toIdle() {
	if k.flow != nil && k.flow.cancel != nil {
		k.flow.cancel()
	}
	k.flow = nil
	k.show(Idle, nil, 0)
}

// Decision shows an access decision of the gate on the idle screen. While a
// resident is in an enrollment or opt-out, decisions are not shown.
func (k *Kiosk) Decision(d gate.Decision) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.flow != nil {
		return
	}
	switch d.Outcome {
	case gate.Granted:
		k.show(Granted, func(s *Screen) { s.Body = k.text(s.Lang, "welcome", d.Name) }, k.cfg.Show)
	case gate.Denied, gate.LockedOut:
		k.show(Denied, func(s *Screen) { s.Body = k.reason(s.Lang, d) }, k.cfg.Show)
	case gate.NeedPIN:
		key := "enter-pin"
		if k.mode == calibrate.Verify {
			key = "enter-pin-verify" // the holder's face may stand for the PIN
		}
		k.show(Idle, func(s *Screen) { s.Body = k.text(s.Lang, key); s.Keys = k.text(s.Lang, "keys-pin") }, k.cfg.Timeout)
	}
}

// Event takes an event of the kiosk's own reader or keypad (the daemon
// gives it no other) and reports whether the kiosk used it; if not, the
// gate must have it. It never blocks on slow work. When idle it takes only
// the menu codes 1#, 2# and 9# (PINs have 4 digits or more). In a flow it
// takes what the step waits for: a card at a card step; a PIN at a PIN,
// consent or confirm step; 0# to cancel. A card the flow is not waiting for
// goes to the gate, and ends a flow that waits for a PIN (someone else is
// at the reader: their PIN must not be mistaken for the resident's).
func (k *Kiosk) Event(ctx context.Context, ev fallback.Event) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ev.Kind == fallback.KindKey {
		if k.flow != nil || k.awaitingPIN() {
			cur := k.screen
			k.show(cur.State, func(s *Screen) {
				*s = cur // the same screen, with the digits typed so far
				s.Digits = ev.Digits
			}, k.stayFor(cur.State))
		}
		return false
	}
	if k.flow == nil {
		return k.idle(ev)
	}
	return k.step(ev)
}

// cardFirst is how long after a card a menu code may start a flow with it.
const cardFirst = 20 * time.Second

// idle takes an event while no flow is open; k.mu held. Cards and PINs
// are the gate's; the kiosk remembers the card, so that 1# or 2# right
// after it starts a flow for that card (a flow belongs to the card shown
// just before it: no one can open a flow that swallows the next
// resident's card). 9# switches the language.
func (k *Kiosk) idle(ev fallback.Event) bool {
	now := k.cfg.Now()
	if ev.Kind == fallback.KindCard {
		k.lastCard, k.lastAt = ev.Card, now
		return false
	}
	if ev.Kind != fallback.KindPIN {
		return false
	}
	code := ev.PIN.Reveal()
	switch code {
	case "1", "2":
		optOut := code == "2"
		if k.lastAt.IsZero() || now.Sub(k.lastAt) > cardFirst || now.Before(k.lastAt) {
			key := map[bool]string{false: "enroll-first", true: "optout-first"}[optOut]
			k.show(map[bool]State{false: EnrollCard, true: OptOutCard}[optOut], func(s *Screen) { s.Body = k.text(s.Lang, key) }, k.cfg.Show)
			return true
		}
		k.flow = &flow{optOut: optOut, card: k.lastCard}
		k.lastAt = time.Time{}
		k.show(map[bool]State{false: EnrollPIN, true: OptOutPIN}[optOut], nil, k.cfg.Timeout)
	case "9":
		lang := "en"
		if k.screen.Lang == "en" {
			lang = "zh"
		}
		k.screen.Lang = lang
		k.show(Idle, nil, 0)
	default:
		k.lastAt = time.Time{} // a PIN answered the card: it is the gate's
		return false
	}
	return true
}

// Press takes a touch on the screen: the menu codes only (0, 1, 2, 9),
// never a PIN.
func (k *Kiosk) Press(ctx context.Context, code string) {
	if len(code) != 1 || !strings.Contains("0129", code) {
		return
	}
	k.Event(ctx, fallback.Event{Reader: "screen", Kind: fallback.KindPIN, PIN: fallback.NewSecret(code), Time: k.cfg.Now()})
}

func (k *Kiosk) stayFor(st State) time.Duration {
	if st == Idle {
		return 0
	}
	return k.cfg.Timeout
}

// minPIN is the shortest PIN the store accepts: anything shorter is a code.
const minPIN = 4

// waitsFor says what a flow's state takes: a card, a PIN, or neither. At
// the consent and confirm steps the resident's card comes again first,
// then the number shown and the PIN.
func (f *flow) waitsFor(st State, now time.Time) fallback.EventKind {
	switch st {
	case GuardianCard:
		return fallback.KindCard
	case ReadNotice, OptOutConfirm:
		if f.again.IsZero() || now.Sub(f.again) > cardFirst {
			return fallback.KindCard
		}
		return fallback.KindPIN
	case EnrollPIN, OptOutPIN, GuardianPIN:
		return fallback.KindPIN
	}
	return 0
}

// step advances a flow and reports whether it used the event; k.mu held.
func (k *Kiosk) step(ev fallback.Event) bool {
	f, st := k.flow, k.screen.State
	confirming := st == ReadNotice || st == OptOutConfirm
	if ev.Kind == fallback.KindCard {
		switch {
		case confirming && ev.Card == f.card:
			// The resident's own card again: now the number and the PIN.
			f.again = k.cfg.Now()
			key := map[State]string{ReadNotice: "notice-keys-card", OptOutConfirm: "optout-keys-card"}[st]
			cur := k.screen
			k.show(st, func(s *Screen) {
				*s = cur
				s.Keys = k.text(s.Lang, key, f.code)
			}, k.stayFor(st))
			return true
		case st == GuardianCard && !f.busy:
			f.gcard = ev.Card
			k.show(GuardianPIN, nil, k.cfg.Timeout)
			return true
		case f.waitsFor(st, k.cfg.Now()) != 0:
			// Someone else is at the reader: their card is the gate's, and
			// their PIN must not be taken for the resident's.
			k.log.Info("kiosk: another card at the kiosk's reader; the flow ends and the gate takes the card")
			k.toIdle()
		}
		return false // during the camera step too: the gate's
	}
	if ev.Kind != fallback.KindPIN {
		return false
	}
	code := ev.PIN.Reveal()
	if code == "0" {
		if st == ReadNotice {
			return k.decline()
		}
		k.toIdle() // 0# cancels any step
		return true
	}
	want := f.waitsFor(st, k.cfg.Now())
	switch {
	case f.busy:
		return true // a PIN while the last one is checked: ignored
	case confirming && want != fallback.KindPIN:
		return true // before the card again: neither consent nor the gate's
	case want != fallback.KindPIN:
		return false // not for this step (a PIN at a card step, anything during the camera step): the gate's
	case len(code) < minPIN:
		return true // a menu code where a PIN is due (a habit from the old screens): not a PIN, not a guess
	}
	switch st {
	case ReadNotice:
		return k.consent(f, code)
	case OptOutConfirm:
		return k.confirmOptOut(f, code)
	case EnrollPIN, OptOutPIN, GuardianPIN:
		card := f.card
		if st == GuardianPIN {
			card = f.gcard
		}
		k.identify(f, st, card, code, func(who Resident) { k.identified(st, who) })
	}
	return true
}

// decline ends an enrollment whose resident refused; nothing is stored.
func (k *Kiosk) decline() bool {
	k.log.Info("kiosk: consent refused; nothing stored", "resident", k.flow.resident.ID)
	k.flow = nil
	k.show(Declined, nil, k.cfg.Show*2)
	return true
}

// consent takes the number shown and the PIN, after the card again; k.mu
// held.
func (k *Kiosk) consent(f *flow, typed string) bool {
	pin, ok := f.confirmation(typed)
	if !ok {
		return true // not the number on the screen: not consent (a PIN typed again, thinking of the door)
	}
	k.identify(f, ReadNotice, f.card, pin, func(who Resident) {
		if who.ID != f.resident.ID {
			k.problem(ErrNotIdentified)
			return
		}
		if f.resident.Minor {
			k.show(GuardianCard, nil, k.cfg.Timeout)
			return
		}
		k.capture()
	})
	return true
}

// confirmOptOut takes the number shown and the PIN, after the card again;
// k.mu held.
func (k *Kiosk) confirmOptOut(f *flow, typed string) bool {
	pin, ok := f.confirmation(typed)
	if !ok {
		return true
	}
	k.identify(f, OptOutConfirm, f.card, pin, func(who Resident) {
		if who.ID != f.resident.ID {
			k.problem(ErrNotIdentified)
			return
		}
		k.optOut(f)
	})
	return true
}

// confirmation splits what was typed at a consent or confirmation step
// into the number shown and the PIN; ok is false when it does not start
// with the number, or no PIN follows it.
func (f *flow) confirmation(typed string) (pin string, ok bool) {
	pin, ok = strings.CutPrefix(typed, f.code)
	return pin, ok && f.code != "" && len(pin) >= minPIN
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
	f.busy = true
	id, ctx := f.resident.ID, k.ctx
	go func() {
		receipt, err := k.be.OptOut(ctx, id)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow == f {
			k.flow = nil
		}
		if err != nil {
			k.problem(err)
			return
		}
		k.show(OptedOut, func(s *Screen) {
			s.Receipt = receipt
			s.Body = k.text(s.Lang, "optout-done", receipt)
		}, 4*k.cfg.Show)
	}()
}

// identified continues after a card and PIN proved who is there; k.mu held.
func (k *Kiosk) identified(st State, who Resident) {
	f := k.flow
	switch st {
	case EnrollPIN:
		f.resident = who
		if who.HasFace {
			k.flow = nil
			k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "already") }, 2*k.cfg.Show)
			return
		}
		n, err := k.be.Notice(k.screen.Lang)
		if err != nil {
			k.problem(err)
			return
		}
		f.notice, f.code = n, newCode()
		k.show(ReadNotice, func(s *Screen) {
			s.Notice, s.Code = n.Text, f.code
			s.Keys = k.text(s.Lang, "notice-keys", f.code)
		}, k.cfg.Timeout*3)
	case GuardianPIN:
		if who.ID == f.resident.ID || who.Minor || (f.resident.GuardianID != "" && who.ID != f.resident.GuardianID) {
			k.flow = nil
			k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "not-guardian") }, 2*k.cfg.Show)
			return
		}
		f.guardian = &Guardian{Name: who.Name, Relation: "guardian (card and PIN at the gate)", ResidentID: who.ID}
		k.capture()
	case OptOutPIN:
		f.resident = who
		if !who.HasFace {
			k.flow = nil
			k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "no-face") }, 2*k.cfg.Show)
			return
		}
		f.code = newCode()
		k.show(OptOutConfirm, func(s *Screen) {
			s.Code = f.code
			s.Keys = k.text(s.Lang, "optout-keys", f.code)
		}, k.cfg.Timeout)
	}
}

// capture starts the camera step in the background; k.mu held.
func (k *Kiosk) capture() {
	f := k.flow
	ctx, cancel := context.WithTimeout(k.ctx, k.cfg.Timeout)
	f.cancel = cancel
	k.show(Capture, func(s *Screen) { s.Body = k.text(s.Lang, "look") }, k.cfg.Timeout+5*time.Second)
	go func() {
		defer cancel()
		tips := func(p Advice) {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.flow == f && k.screen.State == Capture {
				k.show(Capture, func(s *Screen) { s.Body = p.Advice(s.Lang) }, k.cfg.Timeout+5*time.Second)
			}
		}
		vecs, err := k.be.Capture(ctx, k.cfg.Frames, tips)
		k.mu.Lock()
		cancelled := k.flow != f
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
		k.show(Enrolled, func(s *Screen) { s.Body = k.text(s.Lang, modeKey("enrolled", k.mode), f.resident.Name) }, 2*k.cfg.Show)
	}()
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
	case d.Method == gate.MethodFace:
		return k.text(lang, "face-unknown")
	case d.Reason == "wrong PIN":
		return k.text(lang, "wrong-pin")
	case d.Reason == "unknown card":
		return k.text(lang, "unknown-card")
	}
	return k.text(lang, "denied") + fmt.Sprintf(" (%s)", d.Reason)
}
