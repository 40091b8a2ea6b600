package kiosk

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
)

// passes stands in for the daemon's store and [visitor] limits, which
// the end-to-end test in cmd/gated drives for real: here it counts.
type passes struct {
	mu     sync.Mutex
	limits PassLimits
	issued map[string][]IssuedPass // resident -> passes issued
	asked  int                     // MayIssue calls
}

func newPasses() *passes {
	return &passes{limits: PassLimits{MaxUses: 5, MaxValidity: 24 * time.Hour, PerDay: 3}, issued: map[string][]IssuedPass{}}
}

func (p *passes) Limits() PassLimits { return p.limits }

func (p *passes) MayIssue(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	if len(p.issued[id]) >= p.limits.PerDay {
		return ErrPassLimit
	}
	return nil
}

func (p *passes) IssuePass(ctx context.Context, id string, uses int, valid time.Duration) (IssuedPass, error) {
	if err := p.MayIssue(ctx, id); err != nil {
		return IssuedPass{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ip := IssuedPass{ID: "v-000000000001", Code: "0123456789", QR: "GATED1.0011aabb.v-000000000001.1.2.1.sig", Uses: uses,
		Until: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Add(valid - 24*time.Hour)}
	p.issued[id] = append(p.issued[id], ip)
	return ip, nil
}

func (p *passes) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.issued[id])
}

func newPassKiosk(be Backend, ps Passes) (*Kiosk, *clock) {
	c := &clock{now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	return New(Config{Reader: "front", Now: c.Now, Passes: ps}, be), c
}

// get fetches path from the kiosk's handler as the browser on the device.
func get(t *testing.T, k *Kiosk, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	k.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8088"+path, nil))
	return w
}

func TestPassIssuedOnceAfterCardAndPIN(t *testing.T) {
	be, ps := newBackend(), newPasses()
	k, _ := newPassKiosk(be, ps)
	// 3# before the door opened for a card: how to, and no flow.
	send(t, k, pinAt("3"), true)
	if s := k.Screen(); s.State != PassCard || k.flow != nil || !strings.Contains(s.Body, "3#") {
		t.Fatalf("3# without a card: screen %s %q; want the hint and no flow", s.State, s.Body)
	}
	begin(t, k, be, "1001", "5678", "3")
	waitState(t, k, PassConfirm)
	if s := k.Screen(); len(s.Code) != 3 || !strings.Contains(s.Keys, s.Code) || ps.asked != 0 {
		t.Fatalf("pass confirm screen %+v (asked %d): want a three-digit number and nothing asked yet", s, ps.asked)
	}
	// The card and the PIN alone (a habit) are the gate's: nothing issued.
	send(t, k, cardAt("1001"), false)
	send(t, k, pinAt("5678"), false)
	if k.Screen().State != PassConfirm || be.checked() != 0 {
		t.Fatalf("card and PIN out of habit: screen %s, %d checks; want still the confirmation", k.Screen().State, be.checked())
	}
	decide(t, k, "1001", "5678")
	waitState(t, k, PassChoose)
	s := k.Screen()
	if !strings.Contains(s.Body, "1# 一次通行，24 小时内有效") || !strings.Contains(s.Body, "2# 最多 5 次通行") {
		t.Fatalf("choices = %q; want one visit and up to 5 within 24 h", s.Body)
	}
	// A PIN now is the gate's; an unknown code is nobody's.
	send(t, k, pinAt("2468"), false)
	send(t, k, pinAt("7"), true)
	if k.Screen().State != PassChoose || ps.count("r-victim") != 0 {
		t.Fatalf("a PIN or 7# at the choice: screen %s, %d passes", k.Screen().State, ps.count("r-victim"))
	}
	send(t, k, pinAt("2"), true)
	waitState(t, k, PassShown)
	s = k.Screen()
	if s.Pass != "# 0123456789 #" || !s.QR || !strings.Contains(s.Body, "5 次") {
		t.Fatalf("pass screen %+v; want the code as typed, its QR code, 5 visits", s)
	}
	if got := ps.issued["r-victim"]; len(got) != 1 || got[0].Uses != 5 {
		t.Fatalf("issued %+v; want one pass of 5 uses for r-victim", got)
	}
	w := get(t, k, "/pass.png")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" || !bytes.HasPrefix(w.Body.Bytes(), []byte("\x89PNG")) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /pass.png = %d %q %q; want a PNG, no-store", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
	}
	// 0# ends the screen: neither the code nor the QR code is shown again.
	send(t, k, pinAt("0"), true)
	if s := k.Screen(); s.State != Idle || s.Pass != "" || k.PassQR() != nil || k.flow != nil {
		t.Fatalf("after 0#: screen %s pass %q, QR held %v; want idle with nothing", s.State, s.Pass, k.PassQR() != nil)
	}
	if w := get(t, k, "/pass.png"); w.Code != 404 {
		t.Errorf("GET /pass.png after the pass screen = %d, want 404", w.Code)
	}
}

func TestPassOneVisitAndTheScreenEnds(t *testing.T) {
	be, ps := newBackend(), newPasses()
	k, clk := newPassKiosk(be, ps)
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "5678")
	waitState(t, k, PassChoose)
	send(t, k, pinAt("1"), true)
	waitState(t, k, PassShown)
	if got := ps.issued["r-victim"]; len(got) != 1 || got[0].Uses != 1 {
		t.Fatalf("1#: issued %+v; want one pass of one use", got)
	}
	// The visitor types the code at this keypad: the gate's, and the
	// screen with the code goes.
	code := fallback.Event{Reader: "front-keypad", Kind: fallback.KindCode, PIN: fallback.NewSecret("0123456789")}
	send(t, k, code, false)
	if s := k.Screen(); s.State != Idle || k.PassQR() != nil {
		t.Fatalf("a code typed on the pass screen: screen %s; want idle", s.State)
	}
	// Shown again for the next pass; a card (someone else) ends it too.
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "5678")
	waitState(t, k, PassChoose)
	send(t, k, pinAt("1"), true)
	waitState(t, k, PassShown)
	send(t, k, cardAt("2002"), false)
	if k.Screen().State != Idle {
		t.Fatalf("another card on the pass screen: screen %s; want idle", k.Screen().State)
	}
	// And it times out.
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "5678")
	waitState(t, k, PassChoose)
	send(t, k, pinAt("1"), true)
	waitState(t, k, PassShown)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	clk.add(61 * time.Second)
	waitState(t, k, Idle)
	if k.PassQR() != nil {
		t.Errorf("the QR code is still held after the pass screen timed out")
	}
}

func TestPassRefusals(t *testing.T) {
	be, ps := newBackend(), newPasses()
	ps.limits.PerDay = 1
	k, _ := newPassKiosk(be, ps)
	// A wrong PIN at the confirmation: the gate's check says no.
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "0000")
	waitState(t, k, Problem)
	if k.Screen().Body != k.text("zh", "not-identified") || ps.asked != 0 {
		t.Fatalf("wrong PIN: %q, asked %d; want not identified and nothing asked", k.Screen().Body, ps.asked)
	}
	// A minor: refused plainly, nothing asked of the store.
	begin(t, k, be, "4004", "4444", "3")
	decide(t, k, "4004", "4444")
	waitState(t, k, Problem)
	if b := k.Screen().Body; !strings.Contains(b, "未成年人不能开访客通行码") || ps.count("r-minor") != 0 {
		t.Fatalf("a minor: %q, %d passes; want a refusal", b, ps.count("r-minor"))
	}
	// The day's limit: the first pass, then a plain refusal.
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "5678")
	waitState(t, k, PassChoose)
	send(t, k, pinAt("1"), true)
	waitState(t, k, PassShown)
	send(t, k, pinAt("0"), true)
	begin(t, k, be, "1001", "5678", "3")
	decide(t, k, "1001", "5678")
	waitState(t, k, Problem)
	if b := k.Screen().Body; !strings.Contains(b, "已达上限") || ps.count("r-victim") != 1 {
		t.Fatalf("over the day's limit: %q, %d passes; want a refusal and one pass", b, ps.count("r-victim"))
	}
	// Another resident's card and PIN at someone's confirmation: refused.
	begin(t, k, be, "1001", "5678", "3")
	send(t, k, cardAt("2002"), false) // another card ends the flow: the gate's
	if k.flow != nil {
		t.Fatalf("another card at the pass confirmation kept the flow")
	}
}

func TestPassNotOfferedWithoutPasses(t *testing.T) {
	be := newBackend()
	k, _ := newKiosk(be)
	begin(t, k, be, "1001", "5678", "3")
	if k.flow != nil || k.Screen().State == PassConfirm {
		t.Fatalf("3# started a pass with no Passes configured")
	}
}
