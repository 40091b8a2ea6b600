package kiosk

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
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
	optedOut  []string
	capture   chan [][]float32
}

func newBackend() *backend {
	return &backend{
		residents: map[string]Resident{
			"1001": {ID: "r-victim", Name: "Victim"},
			"2002": {ID: "r-attacker", Name: "Attacker"},
			"3003": {ID: "r-faced", Name: "Faced", HasFace: true},
		},
		pins:     map[string]string{"1001": "5678", "2002": "1111", "3003": "2222"},
		enrolled: map[string]int{},
		capture:  make(chan [][]float32, 1),
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

func (b *backend) Enroll(_ context.Context, id string, _ Notice, _ *Guardian, vecs [][]float32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enrolled[id] = len(vecs)
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

// start opens a flow as a resident does: their card, then 1# (enroll) or
// 2# (withdraw), then their PIN.
func start(t *testing.T, k *Kiosk, card, code, pin string) {
	t.Helper()
	send(t, k, cardAt(card), false) // the gate's card (it asks for the PIN)
	send(t, k, pinAt(code), true)
	send(t, k, pinAt(pin), true)
}

// confirm is the consent or confirmation: the card again, then the number
// shown and the PIN.
func confirm(t *testing.T, k *Kiosk, card, pin string) {
	t.Helper()
	send(t, k, cardAt(card), true)
	send(t, k, pinAt(k.Screen().Code+pin), true)
}

func TestEnrollmentNeedsTheCardTheCodeAndThePIN(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	// 1# with no card shown: a hint, no flow.
	send(t, k, pinAt("1"), true)
	if k.Screen().State != EnrollCard || k.flow != nil {
		t.Fatalf("1# without a card: screen %s, flow %v; want the hint and no flow", k.Screen().State, k.flow)
	}
	start(t, k, "1001", "1", "5678")
	waitState(t, k, ReadNotice)
	code := k.Screen().Code
	if len(code) != 3 || !strings.Contains(k.Screen().Keys, code) {
		t.Fatalf("the notice shows code %q in %q; want three digits on the screen", code, k.Screen().Keys)
	}
	// Typing keeps the code on the screen.
	k.Event(context.Background(), fallback.Event{Reader: "front-keypad", Kind: fallback.KindKey, Digits: 2})
	if s := k.Screen(); s.Code != code || s.Digits != 2 || s.Notice == "" {
		t.Fatalf("after a key press the notice screen is %+v; want the same code and notice, 2 digits", s)
	}
	// Without the card again, not even the number and the right PIN
	// consent (the red team's attacker, who read the number and watched
	// the PIN, after the victim walked away with their card).
	for _, typed := range []string{"1", "5678", code + "5678"} {
		send(t, k, pinAt(typed), true)
	}
	if k.Screen().State != ReadNotice || be.checks != 1 {
		t.Fatalf("without the card again: screen %s, %d PIN checks; want the notice still, 1 check", k.Screen().State, be.checks)
	}
	// Someone else's card at the reader ends the flow: the gate's card.
	send(t, k, cardAt("2002"), false)
	if k.flow != nil {
		t.Fatalf("another card at the consent step did not end the flow")
	}
	// The card again, then the PIN alone or the code alone: still nothing.
	start(t, k, "1001", "1", "5678")
	waitState(t, k, ReadNotice)
	send(t, k, cardAt("1001"), true)
	for _, typed := range []string{"5678", k.Screen().Code} {
		send(t, k, pinAt(typed), true)
	}
	if k.Screen().State != ReadNotice || be.checks != 2 {
		t.Fatalf("the card again and the PIN or the code alone: screen %s, %d checks", k.Screen().State, be.checks)
	}
	// The code with someone else's PIN does not consent for the resident.
	send(t, k, pinAt(k.Screen().Code+"1111"), true)
	waitState(t, k, Problem)
	if len(be.enrolled) != 0 {
		t.Fatalf("enrolled without the resident's own PIN: %v", be.enrolled)
	}
	// The whole way.
	start(t, k, "1001", "1", "5678")
	waitState(t, k, ReadNotice)
	confirm(t, k, "1001", "5678")
	waitState(t, k, Capture)
	be.capture <- [][]float32{{1}, {2}, {3}}
	waitState(t, k, Enrolled)
	if be.enrolled["r-victim"] != 3 {
		t.Errorf("enrolled = %v, want 3 templates for r-victim", be.enrolled)
	}
}

func TestOptOutNeedsTheCardTheCodeAndThePIN(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	start(t, k, "3003", "2", "2222")
	waitState(t, k, OptOutConfirm)
	send(t, k, pinAt("1"), true)                    // the old confirmation code destroys nothing
	send(t, k, pinAt(k.Screen().Code+"2222"), true) // nor the code and PIN without the card
	time.Sleep(20 * time.Millisecond)
	if len(be.optedOut) != 0 || k.Screen().State != OptOutConfirm {
		t.Fatalf("destroyed without the card again: %v (screen %s)", be.optedOut, k.Screen().State)
	}
	confirm(t, k, "3003", "2222")
	waitState(t, k, OptedOut)
	if len(be.optedOut) != 1 || be.optedOut[0] != "r-faced" || k.Screen().Receipt == "" {
		t.Errorf("opted out %v, receipt %q; want r-faced and a receipt", be.optedOut, k.Screen().Receipt)
	}
}

// A flow belongs to the card shown just before 1#: typing 1# does not
// open a flow that swallows the next resident's card and PIN (the red
// team's denial: 0#1# before each resident). Cards and PINs of others go
// to the gate.
func TestFlowsStartWithTheirCard(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	send(t, k, pinAt("1"), true)      // the attacker, with no card
	send(t, k, cardAt("2002"), false) // the next resident: the gate's
	send(t, k, pinAt("1111"), false)  // and their PIN: the gate's
	if k.flow != nil || be.checks != 0 {
		t.Fatalf("1# before a resident's card opened a flow that took it (checks %d)", be.checks)
	}
	// A card too long ago does not start a flow.
	k.mu.Lock()
	k.lastAt = time.Now().Add(-time.Minute)
	k.mu.Unlock()
	send(t, k, pinAt("1"), true)
	if k.flow != nil {
		t.Fatalf("1# a minute after a card opened a flow")
	}
	// A PIN answers the card: 1# after it opens nothing.
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt("1111"), false)
	send(t, k, pinAt("1"), true)
	if k.flow != nil {
		t.Fatalf("1# after a card and its PIN opened a flow")
	}
}

// A card the flow is not waiting for goes to the gate, and a flow that
// waits for a PIN ends: the next PIN at this keypad is that card's.
func TestOtherCardsGoToTheGate(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt("1"), true)
	waitState(t, k, EnrollPIN)
	send(t, k, cardAt("1001"), false) // someone else's card: the gate's
	if k.Screen().State == EnrollPIN || k.flow != nil {
		t.Fatalf("the flow kept waiting for a PIN after another card: %s", k.Screen().State)
	}
	send(t, k, pinAt("5678"), false) // and so is its PIN
	if be.checks != 0 {
		t.Errorf("the kiosk checked a PIN that was the gate's")
	}
	// During the camera step, cards and PINs are the gate's; 0# cancels.
	start(t, k, "1001", "1", "5678")
	waitState(t, k, ReadNotice)
	confirm(t, k, "1001", "5678")
	waitState(t, k, Capture)
	send(t, k, cardAt("2002"), false)
	send(t, k, pinAt("1111"), false)
	send(t, k, pinAt("0"), true)
	waitState(t, k, Idle)
}

func TestDeclineStoresNothing(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	start(t, k, "1001", "1", "5678")
	waitState(t, k, ReadNotice)
	send(t, k, pinAt("0"), true)
	waitState(t, k, Declined)
	if len(be.enrolled) != 0 || be.checks != 1 {
		t.Errorf("declined: enrolled %v after %d PIN checks; want nothing after 1", be.enrolled, be.checks)
	}
}

func TestWrongPINEndsTheFlow(t *testing.T) {
	be := newBackend()
	k := New(Config{}, be)
	start(t, k, "1001", "2", "0000")
	waitState(t, k, Problem)
	if s := k.Screen(); s.Body != texts["not-identified"][0] {
		t.Errorf("wrong PIN screen: %q", s.Body)
	}
	if k.flow != nil {
		t.Errorf("the flow survived a wrong PIN")
	}
}

// The kiosk never blocks its caller on a slow PIN check.
func TestEventDoesNotWaitForSlowSteps(t *testing.T) {
	be := &slowBackend{backend: newBackend(), release: make(chan struct{})}
	k := New(Config{}, be)
	send(t, k, cardAt("1001"), false)
	send(t, k, pinAt("1"), true)
	began := time.Now()
	send(t, k, pinAt("5678"), true)
	send(t, k, pinAt("5678"), true) // while the first is checked: ignored, not queued
	if d := time.Since(began); d > time.Second {
		t.Fatalf("Event blocked %v behind the PIN check", d)
	}
	close(be.release)
	waitState(t, k, ReadNotice)
	if be.checks != 1 {
		t.Errorf("%d PIN checks, want 1", be.checks)
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
	k := New(Config{}, be)
	send(t, k, cardAt("3003"), false)
	send(t, k, pinAt("2"), true)
	k.Press(context.Background(), "2222") // a PIN from the screen: ignored
	time.Sleep(20 * time.Millisecond)
	if be.checks != 0 || k.Screen().State != OptOutPIN {
		t.Errorf("a PIN pressed on the screen was checked (%d) or moved the flow (%s)", be.checks, k.Screen().State)
	}
	k.Press(context.Background(), "0")
	waitState(t, k, Idle)
}
