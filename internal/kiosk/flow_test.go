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

func (b *backend) Notice(lang string) (Notice, error) {
	return Notice{Version: "1", Language: lang, Text: "notice"}, nil
}

func (b *backend) Capture(ctx context.Context, frames int, tips func(Advice)) ([][]float32, error) {
	select {
	case v := <-b.capture:
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *backend) Enroll(_ context.Context, id string, _ Notice, g *Guardian, vecs [][]float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enrolled[id] = len(vecs)
	if g != nil {
		b.guardians[id] = g.ResidentID
	}
	return nil
}

func (b *backend) OptOut(_ context.Context, id string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.optedOut = append(b.optedOut, id)
	return "d-0123456789abcdef", nil
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

func waitState(t *testing.T, k *Kiosk, want State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for k.Screen().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("screen %s, want %s", k.Screen().State, want)
		}
		time.Sleep(time.Millisecond)
	}
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

// decide is a deciding step: the card again (the gate's too), the number
// shown and #, then the PIN and # (the kiosk's).
func decide(t *testing.T, k *Kiosk, card, pin string) {
	t.Helper()
	send(t, k, cardAt(card), false)
	send(t, k, pinAt(k.Screen().Code), true)
	send(t, k, pinAt(pin), true)
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
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt(k.Screen().Code), true)
	send(t, k, pinAt("1111"), false)
	if k.flow != nil || be.checked() != 0 || len(be.enrolled) != 0 {
		t.Fatalf("the attacker's card in the victim's flow: flow %v, %d checks, enrolled %v", k.flow, be.checked(), be.enrolled)
	}
	// The same for a withdrawal.
	begin(t, k, be, "3003", "2222", "2")
	waitState(t, k, OptOutConfirm)
	send(t, k, pinAt(k.Screen().Code), true)
	send(t, k, pinAt("2222"), false) // the watched PIN, without the card
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

// The red team's guardian by habit: a bystander's card and PIN at the
// guardian step are the gate's, not a guardian's consent.
func TestGuardianNeedsTheNumberToo(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "4004", "4444", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "4004", "4444")
	waitState(t, k, GuardianCard)
	if s := k.Screen(); len(s.Code) != 3 || !strings.Contains(s.Keys, s.Code) {
		t.Fatalf("guardian screen %+v: want its own number", s)
	}
	checks := be.checked()
	send(t, k, cardAt("6006"), false) // the bystander, as always
	send(t, k, pinAt("9753"), false)
	if want := k.text("zh", "guardian-keys", k.Screen().Code); k.Screen().Keys != want {
		t.Errorf("after the bystander's card and PIN the keys read %q, want the first instruction %q", k.Screen().Keys, want)
	}
	send(t, k, cardAt("4004"), false) // the minor's own card is no guardian's
	send(t, k, pinAt(k.Screen().Code), true)
	send(t, k, pinAt("4444"), false)
	if k.Screen().State != GuardianCard || be.checked() != checks {
		t.Fatalf("a bystander's habit or the minor's card at the guardian step: screen %s, %d checks", k.Screen().State, be.checked()-checks)
	}
	decide(t, k, "5005", "5555")
	waitState(t, k, Capture)
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitState(t, k, Enrolled)
	if be.guardians["r-minor"] != "r-parent" {
		t.Errorf("guardian recorded %q, want r-parent", be.guardians["r-minor"])
	}
	// A registered guardian: only theirs is accepted.
	be.mu.Lock()
	r := be.residents["4004"]
	r.GuardianID = "r-victim"
	be.residents["4004"] = r
	delete(be.enrolled, "r-minor")
	be.mu.Unlock()
	begin(t, k, be, "4004", "4444", "1")
	waitState(t, k, ReadNotice)
	decide(t, k, "4004", "4444")
	waitState(t, k, GuardianCard)
	decide(t, k, "5005", "5555")
	waitState(t, k, Problem)
	if b := k.Screen().Body; b != texts["not-guardian"][0] {
		t.Errorf("the wrong guardian: %q", b)
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
