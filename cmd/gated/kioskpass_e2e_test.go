package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// issueAtKiosk is a resident asking for a visitor pass at the screen:
// their card and PIN open the door, 3#, then their card again and the
// number shown followed by their PIN.
func (k *kioskRig) issueAtKiosk(card, pin string) {
	k.t.Helper()
	k.begin(card, pin, "3")
	k.expect("pass-confirm", "为您的访客开一个通行码", "请再刷一次卡")
	k.confirm(card, pin)
}

var passOnScreen = regexp.MustCompile(`# ([0-9]{10}) #`)

// A resident issues a one-visit pass at the kiosk after card + PIN; the
// code is shown once with its QR code (a PNG served from memory only while
// the screen shows); the visitor's code then opens the door once at the
// keypad and is refused the second time; the pass is the resident's
// (issuer, audited), and the 4th pass of the day is refused plainly.
func TestKioskVisitorPass(t *testing.T) {
	k := startKiosk(t)
	zhou := k.addResident("周静", "3003", "2468")
	k.expect("idle", "3# 访客通行码")

	// 3# before the door opened for a card only says how.
	k.keys("3#")
	k.expect("pass-card", "然后在 20 秒内按 3#")

	k.issueAtKiosk("3003", "2468")
	k.expect("pass-choose", "1# 一次通行，24 小时内有效", "2# 最多 5 次通行，24 小时内有效")
	k.keys("1#")
	body := k.expect("pass-shown", "访客无需刷卡", "只显示这一次", "1 次")
	m := passOnScreen.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the pass screen shows no code as typed (# code #):\n%s", body)
	}
	code := m[1]
	// The QR code is drawn on the screen from /pass.png, not cached.
	loaded, err := chromedp.Run(k.ctx, chromedp.Evaluate[bool](`document.getElementById("qr").complete && document.getElementById("qr").naturalWidth > 100`))
	if err != nil || !loaded {
		t.Errorf("the QR code image is not shown on the pass screen: %v, %v", loaded, err)
	}
	resp, err := http.Get(k.url + "pass.png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /pass.png while shown = %d %q %q; want a PNG, no-store", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	// Done: the code and its QR code are gone from the screen for good.
	k.keys("0#")
	k.expect("idle")
	if resp, err := http.Get(k.url + "pass.png"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /pass.png after the pass screen = %v, %v; want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	if s := k.gated("status"); strings.Contains(s, code) {
		t.Errorf("gated status shows the code")
	}

	// The pass is the resident's: issued by them, audited with them.
	var ps []struct{ ID, Issuer, State string }
	if err := json.Unmarshal([]byte(k.gated("visitor", "list", "--json")), &ps); err != nil || len(ps) != 1 {
		t.Fatalf("visitor list = %+v, %v; want the one pass", ps, err)
	}
	actor := "resident:" + zhou + "@kiosk"
	if ps[0].Issuer != actor || ps[0].State != "valid" {
		t.Errorf("pass issued at the kiosk = %+v; want issuer %s, valid", ps[0], actor)
	}
	if audit := k.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, actor) || !strings.Contains(audit, "pass issued: uses=1") {
		t.Errorf("the audit log does not hold the pass issued by %s:\n%s", actor, audit)
	}

	// The visitor, without a card: # code # opens the door once.
	k.drainOpens()
	k.keys("#" + code + "#")
	k.expectOpen("the visitor's code from the kiosk", 5*time.Second)
	k.expect("granted")
	k.drainOpens()
	k.keys("#" + code + "#")
	k.expectShut("the one-visit code a second time", 2*time.Second)
	if es := k.waitPassAudit(ps[0].ID, 2); len(es) != 2 || !strings.HasPrefix(es[0], "granted:") || !strings.Contains(es[1], "has been used") {
		t.Errorf("audit of the kiosk's pass = %q, want granted then denied as used", es)
	}

	// Two more today (2#: up to 5 visits), then the 4th is refused.
	for i := 2; i <= 3; i++ {
		time.Sleep(2500 * time.Millisecond) // the screen's result and the gate's cooldown
		k.issueAtKiosk("3003", "2468")
		k.expect("pass-choose")
		k.keys("2#")
		if body := k.expect("pass-shown", "5 次"); passOnScreen.FindString(body) == "" {
			t.Fatalf("pass %d: no code on the screen:\n%s", i, body)
		}
		k.keys("0#")
		k.expect("idle")
	}
	time.Sleep(2500 * time.Millisecond)
	k.issueAtKiosk("3003", "2468")
	k.expect("problem", "您今天已开了 3 个访客通行码，已达上限")
	if err := json.Unmarshal([]byte(k.gated("visitor", "list", "--json")), &ps); err != nil || len(ps) != 3 {
		t.Errorf("after the 4th try: %d passes, %v; want 3", len(ps), err)
	}
	if audit := k.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, "visitor pass at the kiosk refused: 3 passes issued today") {
		t.Errorf("the refusal is not audited:\n%s", audit)
	}

	// A minor may not issue passes.
	var kid struct{ ID string }
	json.Unmarshal([]byte(k.gated("resident", "add", "--name", "周小明", "--unit", "4", "--minor", "--json")), &kid)
	k.gated("card", "assign", kid.ID, "5005")
	if out, err := k.gatedErr("8642\n", "pin", "set", kid.ID); err != nil {
		t.Fatal(out)
	}
	time.Sleep(2500 * time.Millisecond)
	k.issueAtKiosk("5005", "8642")
	k.expect("problem", "未成年人不能开访客通行码")
	if err := json.Unmarshal([]byte(k.gated("visitor", "list", "--json")), &ps); err != nil || len(ps) != 3 {
		t.Errorf("after a minor's try: %d passes, %v; want 3", len(ps), err)
	}
	if strings.Contains(k.log.String(), code) {
		t.Error("the daemon's log holds a code issued at the kiosk")
	}
}
