package kiosk

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
)

// backend stands in for the daemon's (store, gate, camera), which the
// end-to-end tests in cmd/gated drive for real: here it records what the
// flows ask for.
type backend struct {
	mu        sync.Mutex
	residents map[string]Resident // card key -> holder
	pins      map[string]string   // card key -> PIN
	checks    int                 // Identify calls
	enrolled  map[string]int      // resident -> templates
	guardians map[string]string   // resident -> guardian's resident ID
	optedOut  []string
	capture   chan [][]float32
	// progress and preview are the running capture's (the camera's side).
	progress func(Progress)
	preview  func([]byte)
	// hold, when set, keeps Enroll and OptOut waiting until it is closed
	// (a slow store).
	hold chan struct{}
	// diskFull makes OptOut report the destruction pending (out of use,
	// not yet gone from the disk).
	diskFull bool
}

func newBackend() *backend {
	return &backend{
		residents: map[string]Resident{
			"1001": {ID: "r-victim", Name: "Victim"},
			"2002": {ID: "r-attacker", Name: "Attacker"},
			"3003": {ID: "r-faced", Name: "Faced", HasFace: true},
			"4004": {ID: "r-minor", Name: "Minor", Minor: true},
			"5005": {ID: "r-parent", Name: "Parent"},
			"6006": {ID: "r-bystander", Name: "Bystander"},
		},
		pins:      map[string]string{"1001": "5678", "2002": "1111", "3003": "2222", "4004": "4444", "5005": "5555", "6006": "9753"},
		enrolled:  map[string]int{},
		guardians: map[string]string{},
		capture:   make(chan [][]float32, 1),
	}
}

func (b *backend) Identify(_ context.Context, card fallback.Card, pin string) (Resident, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checks++
	r, ok := b.residents[card.Key()]
	if !ok || b.pins[card.Key()] != pin {
		return Resident{}, ErrNotIdentified
	}
	return r, nil
}

func (b *backend) Holder(card fallback.Card) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.residents[card.Key()]
	return r.ID, ok
}

func (b *backend) Notice(lang string) (Notice, error) {
	return Notice{Version: "1", Language: lang, Text: "notice"}, nil
}

func (b *backend) Capture(ctx context.Context, _ string, frames int, progress func(Progress), preview func([]byte)) ([][]float32, error) {
	b.mu.Lock()
	b.progress, b.preview = progress, preview
	b.mu.Unlock()
	select {
	case v := <-b.capture:
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *backend) Enroll(_ context.Context, id string, _ Notice, g *Guardian, vecs [][]float32) error {
	b.wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enrolled[id] = len(vecs)
	if g != nil {
		b.guardians[id] = g.ResidentID
	}
	return nil
}

func (b *backend) wait() {
	b.mu.Lock()
	h := b.hold
	b.mu.Unlock()
	if h != nil {
		<-h
	}
}

func (b *backend) OptOut(_ context.Context, id string) (string, bool, error) {
	b.wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.optedOut = append(b.optedOut, id)
	return "d-0123456789abcdef", b.diskFull, nil
}

func cardAt(n string) fallback.Event {
	return fallback.Event{Reader: "front", Kind: fallback.KindCard, Card: fallback.Card{Number: n}}
}

func (b *backend) checked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checks
}

func pinAt(p string) fallback.Event {
	return fallback.Event{Reader: "front-keypad", Kind: fallback.KindPIN, PIN: fallback.NewSecret(p)}
}

// send gives the kiosk an event and checks whether it kept it.
func send(t *testing.T, k *Kiosk, ev fallback.Event, kept bool) {
	t.Helper()
	if got := k.Event(context.Background(), ev); got != kept {
		t.Fatalf("Event(%v) kept = %v, want %v (screen %s)", ev, got, kept, k.Screen().State)
	}
}

// waitFor waits up to 5 s for the screen to be as ok says.
func waitFor(t *testing.T, k *Kiosk, ok func(Screen) bool, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(k.Screen()) {
		if time.Now().After(deadline) {
			s := k.Screen()
			t.Fatalf("screen %s %q, want %s", s.State, s.Body, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitState(t *testing.T, k *Kiosk, want State) {
	t.Helper()
	waitFor(t, k, func(s Screen) bool { return s.State == want }, string(want))
}

func waitBody(t *testing.T, k *Kiosk, want string) {
	t.Helper()
	waitFor(t, k, func(s Screen) bool { return s.Body == want }, want)
}

// clock is a settable time for the kiosk.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newKiosk(be Backend) (*Kiosk, *clock) {
	c := &clock{now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	return New(Config{Reader: "front", Now: c.Now}, be), c
}

// enter is a resident using the gate at the kiosk's reader as always:
// their card and PIN go to the gate, which opens the door.
func enter(t *testing.T, k *Kiosk, be *backend, card, pin string) {
	t.Helper()
	send(t, k, cardAt(card), false)
	send(t, k, pinAt(pin), false)
	k.Decision(gate.Decision{Outcome: gate.Granted, Method: gate.MethodCardPIN, Reader: "front", Resident: be.residents[card].ID, Name: be.residents[card].Name})
}

// begin is a resident opening a flow: the door opens for their card, then
// 1# (enroll) or 2# (withdraw).
func begin(t *testing.T, k *Kiosk, be *backend, card, pin, code string) {
	t.Helper()
	enter(t, k, be, card, pin)
	send(t, k, pinAt(code), true)
}

// decide is a deciding step: the card again (the gate's too), then the
// number shown followed by the PIN, and # (the kiosk's).
func decide(t *testing.T, k *Kiosk, card, pin string) {
	t.Helper()
	send(t, k, cardAt(card), false)
	send(t, k, pinAt(k.Screen().Code+pin), true)
}

func TestFlowsStartOnlyAfterTheDoorOpened(t *testing.T) {
	be := newBackend()
	k, clk := newKiosk(be)
	// 1# with no card: a hint, no flow.
	send(t, k, pinAt("1"), true)
	if k.Screen().State != EnrollCard || k.flow != nil {
		t.Fatalf("1# without a card: screen %s; want the hint and no flow", k.Screen().State)
	}
	// A card, then 1# before its PIN (the red team's bystander typing 1#
	// while a resident is at the keypad): no flow, and the PIN is the
	// gate's, which opens the door.
	send(t, k, cardAt("1001"), false)
	send(t, k, pinAt("1"), true)
	send(t, k, pinAt("5678"), false)
	if k.flow != nil || be.checked() != 0 {
		t.Fatalf("1# between a card and its PIN opened a flow (checks %d)", be.checked())
	}
	// The door opened for one card, then another card: the grant was the
	// first card's, and 1# opens nothing.
	enter(t, k, be, "1001", "5678")
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt("1"), true)
	if k.flow != nil {
		t.Fatalf("1# after another card opened a flow for the first")
	}
	// Too late after the door opened.
	enter(t, k, be, "1001", "5678")
	clk.add(window + time.Second)
	send(t, k, pinAt("2"), true)
	if k.flow != nil {
		t.Fatalf("2# %v after the door opened started a flow", window+time.Second)
	}
	// A door opened at another reader starts nothing here.
	send(t, k, cardAt("1001"), false)
	k.Decision(gate.Decision{Outcome: gate.Granted, Method: gate.MethodCardPIN, Reader: "back", Resident: "r-victim"})
	send(t, k, pinAt("1"), true)
	if k.flow != nil {
		t.Fatalf("a grant at another reader started a flow here")
	}
	// A face grant is not a card's.
	send(t, k, cardAt("1001"), false)
	k.Decision(gate.Decision{Outcome: gate.Granted, Method: gate.MethodFace, Resident: "r-victim"})
	send(t, k, pinAt("1"), true)
	if k.flow != nil {
		t.Fatalf("a face grant started a flow for the last card")
	}
	// In time: the notice, with a number, and nothing about the resident.
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	s := k.Screen()
	if len(s.Code) != 3 || !strings.Contains(s.Keys, s.Code) || strings.Contains(s.Keys+s.Body+s.Notice, "Victim") {
		t.Fatalf("notice screen %+v: want a three-digit number on it and no name", s)
	}
	if be.checked() != 0 {
		t.Errorf("starting a flow checked %d PINs", be.checked())
	}
}

func TestEnrollmentNeedsTheCardTheNumberAndThePIN(t *testing.T) {
	be := newBackend()
	k, clk := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	code := k.Screen().Code
	// Typing keeps the number on the screen.
	k.Event(context.Background(), fallback.Event{Reader: "front-keypad", Kind: fallback.KindKey, Digits: 2})
	if s := k.Screen(); s.Code != code || s.Digits != 2 || s.Notice == "" {
		t.Fatalf("after a key press the notice screen is %+v; want the same number and notice, 2 digits", s)
	}
	// The number and the PIN without the card (the red team's attacker,
	// who watched the PIN, after the resident walked away): the number is
	// ignored and the PIN is the gate's.
	send(t, k, pinAt(code), true)
	send(t, k, pinAt("5678"), false)
	send(t, k, pinAt(code+"5678"), false)
	if k.Screen().State != ReadNotice || be.checked() != 0 {
		t.Fatalf("without the card: screen %s, %d checks; want the notice still and none", k.Screen().State, be.checked())
	}
	// The resident's habit: card and PIN. Both are the gate's (the door
	// opens), and nothing is consented.
	send(t, k, cardAt("1001"), false)
	send(t, k, pinAt("5678"), false)
	// ... and then the number and the PIN typed by someone else: the card's
	// part was over when its PIN went to the gate.
	send(t, k, pinAt(code), true)
	send(t, k, pinAt("5678"), false)
	if k.Screen().State != ReadNotice || be.checked() != 0 {
		t.Fatalf("the resident's habit consented: screen %s, %d checks", k.Screen().State, be.checked())
	}
	// The card, then a wrong number: nothing; the number too late: nothing.
	send(t, k, cardAt("1001"), false)
	send(t, k, pinAt("999"), true)
	if code != "999" {
		send(t, k, pinAt("5678"), false)
	}
	send(t, k, cardAt("1001"), false)
	clk.add(window + time.Second)
	send(t, k, pinAt(code), true)
	send(t, k, pinAt("5678"), false)
	if k.Screen().State != ReadNotice || be.checked() != 0 {
		t.Fatalf("a wrong or late number: screen %s, %d checks", k.Screen().State, be.checked())
	}
	// The card, the number and someone else's PIN: checked, and refused.
	decide(t, k, "1001", "1111")
	waitState(t, k, Problem)
	if len(be.enrolled) != 0 || k.flow != nil {
		t.Fatalf("enrolled without the resident's own PIN: %v", be.enrolled)
	}
	// Another resident's card and PIN at the notice: their card ends the
	// flow (they are at the reader now), and they are let in by the gate.
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	decide2 := func() { send(t, k, cardAt("2002"), false) }
	decide2()
	if k.flow != nil {
		t.Fatalf("another card at the notice did not end the flow")
	}
	send(t, k, pinAt("1111"), false)
	// The whole way.
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "1001", "5678")
	waitState(t, k, Capture)
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitState(t, k, Enrolled)
	if be.enrolled["r-victim"] != 3 {
		t.Errorf("enrolled = %v, want 3 templates for r-victim", be.enrolled)
	}
}

// The red team's hijack: the door opens for the victim, the attacker types
// 1# and owns a flow for the victim's card, and so tries to consent.
func TestAFlowForSomeoneElseGoesNowhere(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1") // the victim's card and PIN, the attacker's 1#
	waitState(t, k, ReadNotice)
	// The attacker's own card, number and PIN: their card ends the flow.
	code := k.Screen().Code
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt(code+"1111"), false)
	if k.flow != nil || be.checked() != 0 || len(be.enrolled) != 0 {
		t.Fatalf("the attacker's card in the victim's flow: flow %v, %d checks, enrolled %v", k.flow, be.checked(), be.enrolled)
	}
	// The same for a withdrawal.
	begin(t, k, be, "3003", "2222", "2")
	waitState(t, k, OptOutConfirm)
	send(t, k, pinAt(k.Screen().Code+"2222"), false) // the number and the watched PIN, without the card
	if len(be.optedOut) != 0 || be.checked() != 0 {
		t.Fatalf("destroyed without the card: %v (%d checks)", be.optedOut, be.checked())
	}
}

func TestOptOutNeedsTheCardTheNumberAndThePIN(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "3003", "2222", "2")
	waitState(t, k, OptOutConfirm)
	send(t, k, pinAt("1"), true) // the old confirmation code destroys nothing
	time.Sleep(20 * time.Millisecond)
	if len(be.optedOut) != 0 || k.Screen().State != OptOutConfirm {
		t.Fatalf("destroyed without the card, number and PIN: %v (screen %s)", be.optedOut, k.Screen().State)
	}
	decide(t, k, "3003", "2222")
	waitState(t, k, OptedOut)
	if len(be.optedOut) != 1 || be.optedOut[0] != "r-faced" || k.Screen().Receipt == "" {
		t.Errorf("opted out %v, receipt %q; want r-faced and a receipt", be.optedOut, k.Screen().Receipt)
	}
	// A resident with no face data is told so, after their card and PIN.
	begin(t, k, be, "1001", "5678", "2")
	waitState(t, k, OptOutConfirm)
	decide(t, k, "1001", "5678")
	waitState(t, k, Problem)
	if b := k.Screen().Body; b != texts["no-face"][0] {
		t.Errorf("withdrawal with no face data: %q", b)
	}
}

// The red team's guardian by habit (rounds 3 and 4): at the guardian step
// only the registered guardian's card counts; anyone else's card, the
// minor's included, ends the flow and is the gate's with its PIN, whatever
// number someone else types in between. A minor with no registered
// guardian cannot be enrolled here at all.
func TestGuardianIsTheRegisteredOneOnly(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "4004", "4444", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "4004", "4444")
	waitState(t, k, Problem)
	if b := k.Screen().Body; b != texts["no-guardian"][0] || k.flow != nil {
		t.Fatalf("a minor with no registered guardian: %q (flow %v), want no-guardian and no flow", b, k.flow)
	}
	be.mu.Lock()
	r := be.residents["4004"]
	r.GuardianID = "r-parent"
	be.residents["4004"] = r
	be.mu.Unlock()
	toGuardian := func() {
		t.Helper()
		begin(t, k, be, "4004", "4444", "1")
		waitState(t, k, ReadNotice)
		decide(t, k, "4004", "4444")
		waitState(t, k, GuardianCard)
		if s := k.Screen(); len(s.Code) != 3 || !strings.Contains(s.Keys, s.Code) {
			t.Fatalf("guardian screen %+v: want its own number", s)
		}
	}
	for _, other := range []string{"6006", "4004", "1001"} { // a bystander, the minor, another resident
		toGuardian()
		checks, code := be.checked(), k.Screen().Code
		send(t, k, cardAt(other), false) // the gate's, as always
		send(t, k, pinAt(code), true)    // the minor types the number meanwhile
		send(t, k, pinAt("9753"), false) // the card's PIN: the gate's
		if k.flow != nil || be.checked() != checks || k.Screen().State != Idle {
			t.Fatalf("card %s at the guardian step: flow %v, %d checks, screen %s; want the flow ended and nothing checked", other, k.flow, be.checked()-checks, k.Screen().State)
		}
	}
	// The guardian's habitual PIN without the number is the gate's too.
	toGuardian()
	send(t, k, cardAt("5005"), false)
	send(t, k, pinAt(k.Screen().Code), true) // the number alone is no consent
	send(t, k, pinAt("5555"), false)
	if k.Screen().State != GuardianCard || len(be.guardians) != 0 {
		t.Fatalf("the guardian's PIN without the number: screen %s, guardians %v", k.Screen().State, be.guardians)
	}
	decide(t, k, "5005", "5555")
	waitState(t, k, Capture)
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitState(t, k, Enrolled)
	if be.guardians["r-minor"] != "r-parent" {
		t.Errorf("guardian recorded %q, want r-parent", be.guardians["r-minor"])
	}
}

// Cards and PINs during the camera step are the gate's; 0# cancels.
func TestTheCameraStepLetsTheGateWork(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "1001", "5678")
	waitState(t, k, Capture)
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt("1111"), false)
	send(t, k, pinAt("0"), true)
	waitState(t, k, Idle)
	if len(be.enrolled) != 0 {
		t.Errorf("enrolled after a cancel: %v", be.enrolled)
	}
}

func TestDeclineStoresNothing(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	send(t, k, pinAt("0"), true)
	waitState(t, k, Declined)
	if len(be.enrolled) != 0 || be.checked() != 0 {
		t.Errorf("declined: enrolled %v after %d PIN checks; want nothing", be.enrolled, be.checked())
	}
}

// No event extends a step: the notice ends at its deadline however many
// keys are pressed, and so does the idle screen's "enter your PIN".
func TestStepsEndOnTime(t *testing.T) {
	be := newBackend()
	k, clk := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	k.mu.Lock()
	until := k.until
	k.mu.Unlock()
	clk.add(time.Minute)
	send(t, k, cardAt("1001"), false)
	k.Event(context.Background(), fallback.Event{Kind: fallback.KindKey, Digits: 1})
	k.mu.Lock()
	after := k.until
	k.mu.Unlock()
	if !after.Equal(until) {
		t.Errorf("events moved the notice's deadline from %v to %v", until, after)
	}
	k.mu.Lock()
	k.toIdle()
	k.mu.Unlock()
	k.Decision(gate.Decision{Outcome: gate.NeedPIN, Method: gate.MethodCardPIN, Reader: "front"})
	k.Event(context.Background(), fallback.Event{Kind: fallback.KindKey, Digits: 1})
	k.mu.Lock()
	until = k.until
	k.mu.Unlock()
	if until.IsZero() {
		t.Errorf("a key press made the PIN prompt stay for ever")
	}
}

// The kiosk never blocks its caller on a slow PIN check, and a PIN typed
// while one is checked is the gate's.
func TestEventDoesNotWaitForSlowSteps(t *testing.T) {
	be := &slowBackend{backend: newBackend(), release: make(chan struct{})}
	k, _ := newKiosk(be)
	begin(t, k, be.backend, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	began := time.Now()
	decide(t, k, "1001", "5678")
	send(t, k, pinAt("5678"), false) // while the first is checked: the gate's
	if d := time.Since(began); d > time.Second {
		t.Fatalf("Event blocked %v behind the PIN check", d)
	}
	close(be.release)
	waitState(t, k, Capture)
	if be.checked() != 1 {
		t.Errorf("%d PIN checks, want 1", be.checked())
	}
}

type slowBackend struct {
	*backend
	release chan struct{}
}

func (b *slowBackend) Identify(ctx context.Context, c fallback.Card, pin string) (Resident, error) {
	<-b.release
	return b.backend.Identify(ctx, c, pin)
}

func TestScreenPressesAreCodesOnly(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	enter(t, k, be, "3003", "2222")
	k.Press(context.Background(), "2")
	waitState(t, k, OptOutConfirm)
	send(t, k, cardAt("3003"), false)
	k.Press(context.Background(), k.Screen().Code) // the number: not a screen code
	k.Press(context.Background(), "2222")          // a PIN from the screen: ignored
	time.Sleep(20 * time.Millisecond)
	if be.checked() != 0 || k.Screen().State != OptOutConfirm {
		t.Errorf("a PIN pressed on the screen was checked (%d) or moved the flow (%s)", be.checked(), k.Screen().State)
	}
	k.Press(context.Background(), "0")
	waitState(t, k, Idle)
}

// Red team round 4, F5: 0# while the face and consent are being saved
// cancels nothing that is not undone: it is ignored, and "enrolled" is
// shown once the save is done.
func TestCancelDuringTheSaveIsIgnored(t *testing.T) {
	be := newBackend()
	be.hold = make(chan struct{})
	k, _ := newKiosk(be)
	begin(t, k, be, "1001", "5678", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "1001", "5678")
	waitState(t, k, Capture)
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitBody(t, k, texts["saving"][0])
	send(t, k, pinAt("0"), true)
	if k.Screen().State != Capture {
		t.Fatalf("0# during the save: screen %s", k.Screen().State)
	}
	close(be.hold)
	waitState(t, k, Enrolled)
	if be.enrolled["r-victim"] != 3 {
		t.Errorf("enrolled %v", be.enrolled)
	}
}

// Red team round 4, F6: 0# during a destruction is ignored (it cannot be
// undone); and a receipt never lands on another resident's flow.
func TestDestructionIsFinal(t *testing.T) {
	be := newBackend()
	be.hold = make(chan struct{})
	k, clk := newKiosk(be)
	begin(t, k, be, "3003", "2222", "2")
	waitState(t, k, OptOutConfirm)
	decide(t, k, "3003", "2222")
	waitBody(t, k, texts["destroying"][0])
	send(t, k, pinAt("0"), true)
	send(t, k, cardAt("1001"), false) // someone else's card: the gate's, the destruction goes on
	if k.Screen().Body != texts["destroying"][0] || k.flow == nil {
		t.Fatalf("0# or a card during the destruction: screen %q, flow %v", k.Screen().Body, k.flow)
	}
	close(be.hold)
	waitState(t, k, OptedOut)

	// The screen moved on (the step timed out) and a new flow began
	// before the destruction ended: its receipt is not shown over it.
	be.hold = make(chan struct{})
	be.mu.Lock()
	r := be.residents["1001"]
	r.HasFace = true
	be.residents["1001"] = r
	be.mu.Unlock()
	begin(t, k, be, "1001", "5678", "2")
	waitState(t, k, OptOutConfirm)
	decide(t, k, "1001", "5678")
	waitBody(t, k, texts["destroying"][0])
	k.mu.Lock()
	k.toIdle()
	k.mu.Unlock()
	clk.add(time.Second)
	begin(t, k, be, "2002", "1111", "1")
	waitState(t, k, ReadNotice)
	close(be.hold)
	time.Sleep(50 * time.Millisecond)
	if s := k.Screen(); s.State != ReadNotice || k.flow == nil {
		t.Errorf("the earlier destruction's receipt replaced the new flow: screen %s", s.State)
	}
}

// Red team round 4, F2: the PIN prompt after a card clears when the gate
// stops waiting for the PIN.
func TestPINPromptClears(t *testing.T) {
	be := newBackend()
	k, clk := newKiosk(be)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	send(t, k, cardAt("1001"), false)
	k.Decision(gate.Decision{Method: gate.MethodCardPIN, Reader: "front", Outcome: gate.NeedPIN})
	if b := k.Screen().Body; b != texts["enter-pin"][0] {
		t.Fatalf("after a card: %q", b)
	}
	clk.add(k.cfg.PINTimeout + time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for k.Screen().Body == texts["enter-pin"][0] {
		if time.Now().After(deadline) {
			t.Fatalf("the PIN prompt is still shown after the gate's PIN timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Red team round 4, F3: a page that reads slowly misses screens but always
// gets the newest.
func TestSlowPageGetsTheNewestScreen(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	ch, stop := k.Subscribe()
	defer stop()
	begin(t, k, be, "1001", "5678", "2")
	waitState(t, k, OptOutConfirm)
	for range 100 {
		k.Event(context.Background(), fallback.Event{Reader: "front-keypad", Kind: fallback.KindKey, Digits: 1})
	}
	send(t, k, pinAt("0"), true)
	var last Screen
	for {
		select {
		case last = <-ch:
			continue
		default:
		}
		break
	}
	if last.State != Idle || last.Seq != k.Screen().Seq {
		t.Errorf("the page's last screen is %s (seq %d), the kiosk's %s (seq %d)", last.State, last.Seq, k.Screen().State, k.Screen().Seq)
	}
}

// TestOptOutPendingIsNotCalledDestroyed (issue 12: "destroyed" means gone
// from disk): when the file rewrite could not finish (a full disk), the
// screen shows the receipt but says the data is out of use and not yet
// wiped, never "destroyed".
func TestOptOutPendingIsNotCalledDestroyed(t *testing.T) {
	be := newBackend()
	be.diskFull = true
	k, _ := newKiosk(be)
	begin(t, k, be, "3003", "2222", "2")
	waitState(t, k, OptOutConfirm)
	decide(t, k, "3003", "2222")
	waitState(t, k, OptOutPending)
	s := k.Screen()
	if s.Receipt == "" || !strings.Contains(s.Body, s.Receipt) || !strings.Contains(s.Body, "retry") && !strings.Contains(s.Body, "重试") {
		t.Errorf("pending opt-out screen: receipt %q, body %q; want the receipt and that the gate retries", s.Receipt, s.Body)
	}
	for _, text := range []string{s.Title, s.Body} {
		if strings.Contains(text, "destroyed") || strings.Contains(text, "已销毁") {
			t.Errorf("pending opt-out screen says destroyed: %q", text)
		}
	}
}
