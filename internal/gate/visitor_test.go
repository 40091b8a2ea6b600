package gate_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/store"
)

func codeEv(reader, c string) fallback.Event {
	return fallback.Event{Reader: reader, Kind: fallback.KindCode, PIN: fallback.NewSecret(c)}
}

func scanEv(reader, s string) fallback.Event {
	return fallback.Event{Reader: reader, Kind: fallback.KindScan, PIN: fallback.NewSecret(s)}
}

// passFixture is a gate with visitor passes on, over the real store.
func passFixture(t *testing.T) *fixture {
	t.Helper()
	fx := setup(t, gate.Config{Face: true, Mode: calibrate.Identify, CardNeedsPIN: true})
	// setup built the gate without passes: build another over the same store.
	g, err := gate.New(gate.Config{CardNeedsPIN: true, Passes: fx.st, Now: fx.clock.now}, fx.st, fx.door, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	fx.g = g
	return fx
}

func decideEv(t *testing.T, fx *fixture, ev fallback.Event) *gate.Decision {
	t.Helper()
	d, err := fx.g.Reader(context.Background(), ev)
	if err != nil || d == nil {
		t.Fatalf("Reader(%v) = %v, %v; want a decision", ev, d, err)
	}
	return d
}

// A courier's one-use code opens once; the second time it is refused, and
// the audit names the pass, never a resident.
func TestVisitorCodeOneUse(t *testing.T) {
	fx := passFixture(t)
	now := fx.clock.now()
	p, err := fx.st.AddPass("staff:test", store.NewPass{Name: "courier", From: now, Until: now.Add(2 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := decideEv(t, fx, codeEv("front", p.Code)); d.Outcome != gate.Granted || d.Pass != p.ID || d.Resident != "" {
		t.Fatalf("first code = %+v, want granted for %s", d, p.ID)
	}
	fx.waitOpened(t, 1)
	d := decideEv(t, fx, codeEv("front", p.Code))
	if d.Outcome != gate.Denied || !strings.Contains(d.Reason, "used") {
		t.Errorf("second code = %+v, want denied as used", d)
	}
	es := accessEntries(fx.audit(t))
	if len(es) != 2 || es[0].Subject != p.ID || !strings.Contains(es[0].Detail, "method=visitor-code") || es[1].Outcome != "denied" {
		t.Errorf("audit = %+v, want two entries of pass %s", es, p.ID)
	}
	for _, e := range es {
		if strings.Contains(e.Detail, p.Code) || strings.Contains(e.Detail, "courier") {
			t.Errorf("audit entry %q names the code or the visitor", e.Detail)
		}
	}
}

// Guessing codes counts against the lock-out: after Free (3) wrong codes
// the next waits, at any keypad, and even the right code waits then.
func TestVisitorCodeGuessingLocksOut(t *testing.T) {
	fx := passFixture(t)
	now := fx.clock.now()
	p, err := fx.st.AddPass("staff:test", store.NewPass{Name: "guest", From: now, Until: now.Add(2 * time.Hour), Uses: 5})
	if err != nil {
		t.Fatal(err)
	}
	wrong := "0000000000"
	if wrong == p.Code {
		wrong = "0000000001"
	}
	for i := range 3 {
		if d := decideEv(t, fx, codeEv("front", wrong)); d.Outcome != gate.Denied {
			t.Fatalf("wrong code %d = %+v, want denied", i, d)
		}
	}
	d := decideEv(t, fx, codeEv("back", p.Code))
	if d.Outcome != gate.LockedOut || d.Wait <= 0 {
		t.Errorf("right code at another keypad after 3 wrong = %+v, want locked out", d)
	}
	fx.clock.advance(d.Wait)
	if d := decideEv(t, fx, codeEv("back", p.Code)); d.Outcome != gate.Granted {
		t.Errorf("right code after the wait = %+v, want granted", d)
	}
}

// A QR pass opens; an expired one, an altered one and a revoked one are
// refused with a reason the visitor understands.
func TestVisitorQR(t *testing.T) {
	fx := passFixture(t)
	now := fx.clock.now()
	p, err := fx.st.AddPass("staff:test", store.NewPass{Name: "guest", From: now, Until: now.Add(time.Hour), Uses: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d := decideEv(t, fx, scanEv("qr", p.QR)); d.Outcome != gate.Granted || d.Pass != p.ID {
		t.Fatalf("QR = %+v, want granted", d)
	}
	longer := strings.Replace(p.QR, "."+itoa(p.Until.Unix())+".", "."+itoa(p.Until.Unix()+86400)+".", 1)
	if d := decideEv(t, fx, scanEv("qr", longer)); d.Outcome != gate.Denied || d.Reason != "not a pass of this gate" {
		t.Errorf("QR with a longer validity = %+v, want denied as forged", d)
	}
	fx.clock.advance(time.Hour)
	if d := decideEv(t, fx, scanEv("qr", p.QR)); d.Outcome != gate.Denied || !strings.Contains(d.Reason, "expired") {
		t.Errorf("expired QR = %+v, want denied as expired", d)
	}
	q, err := fx.st.AddPass("staff:test", store.NewPass{Name: "guest", From: fx.clock.now(), Until: fx.clock.now().Add(time.Hour), Uses: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.st.RevokePass("staff:test", q.ID); err != nil {
		t.Fatal(err)
	}
	if d := decideEv(t, fx, scanEv("qr", q.QR)); d.Outcome != gate.Denied || !strings.Contains(d.Reason, "cancelled") {
		t.Errorf("revoked QR = %+v, want denied as cancelled", d)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
