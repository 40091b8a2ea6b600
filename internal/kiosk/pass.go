package kiosk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/gated-dev/gated/internal/fallback"
)

// Visitor passes at the screen (3#). A resident whose card opened the door
// here types 3#; they confirm with their card again and the number shown
// followed by their PIN (the deciding step of 1# and 2#, under the gate's
// lock-out); then 1# issues a pass for one visit, 2# for up to
// PassLimits.MaxUses visits, both valid for PassLimits.MaxValidity from
// now. The code is shown once, as the visitor types it ("# code #"), with
// its QR code; 0#, another card or a code typed ends the screen and
// neither is shown again. The PNG of the QR code is held in memory only
// while that screen shows. The kiosk never stores or logs a code.

// Passes issues visitor passes for residents (the daemon's store and
// config). Config.Passes nil: 3# is not offered.
type Passes interface {
	// Limits are the choices the screen offers.
	Limits() PassLimits
	// MayIssue reports whether the resident may issue a pass now: nil,
	// ErrPassMinor, ErrPassLimit (the day's passes are used up) or
	// another error.
	MayIssue(ctx context.Context, residentID string) error
	// IssuePass issues a pass with the resident as issuer (audited),
	// checking the same as MayIssue and the limits again.
	IssuePass(ctx context.Context, residentID string, uses int, valid time.Duration) (IssuedPass, error)
}

// PassLimits bound what a resident may issue at the screen ([visitor]).
type PassLimits struct {
	MaxUses     int
	MaxValidity time.Duration
	PerDay      int
}

// IssuedPass is a pass just issued, with its secrets: shown once.
type IssuedPass struct {
	ID    string
	Code  string // the digits the visitor types between two '#'
	QR    string // the signed payload the QR code carries
	Uses  int
	Until time.Time
}

// ErrPassLimit: the resident issued as many passes today as allowed.
var ErrPassLimit = errors.New("kiosk: no more visitor passes today")

// ErrPassMinor: minors do not issue visitor passes.
var ErrPassMinor = errors.New("kiosk: minors cannot issue visitor passes")

// Screens of a pass.
const (
	PassCard    State = "pass-card"    // how to start a pass
	PassConfirm State = "pass-confirm" // card, number #, PIN # identifies; 0# cancels
	PassChoose  State = "pass-choose"  // 1# one visit, 2# several; 0# cancels
	PassShown   State = "pass-shown"   // the code and its QR code, once
)

var passTexts = map[string][2]string{
	"t-pass-card":     {"访客通行码", "Visitor pass"},
	"t-pass-confirm":  {"访客通行码", "Visitor pass"},
	"t-pass-choose":   {"访客通行码", "Visitor pass"},
	"t-pass-shown":    {"访客通行码", "Visitor pass"},
	"pass-first":      {"访客通行码：请先在这里照常刷卡开门，然后在 20 秒内按 3#。", "For a visitor pass: first open the door here with your card as usual, then type 3# within 20 seconds."},
	"pass-confirm":    {"为您的访客开一个通行码。", "Issue a pass for your visitor."},
	"pass-keys":       {"请再刷一次卡，然后连续输入 %s 和您的密码，按 #　0# 取消", "Show your card again, then type %s followed by your PIN, and #   0# cancel"},
	"pass-keys-card":  {"请连续输入 %s 和您的密码，按 #　0# 取消", "Now type %s followed by your PIN, and #   0# cancel"},
	"pass-choose":     {"请选择：", "Choose:"},
	"pass-choose-1":   {"1# 一次通行，%s内有效", "1# one visit within %s"},
	"pass-choose-n":   {"2# 最多 %d 次通行，%s内有效", "2# up to %d visits within %s"},
	"pass-choose-0":   {"0# 取消", "0# cancel"},
	"pass-issuing":    {"正在生成通行码……", "Issuing the pass…"},
	"pass-shown":      {"访客通行码（%s，有效至 %s）。访客无需刷卡，在键盘上输入下面的号码，或向扫码器出示二维码。此号码只显示这一次。", "Your visitor's pass (%s, valid until %s). Without a card, they type the line below at the keypad, or show the QR code to the scanner. It is shown only this once."},
	"pass-shown-noqr": {"访客通行码（%s，有效至 %s）。访客无需刷卡，在键盘上输入下面的号码。此号码只显示这一次。", "Your visitor's pass (%s, valid until %s). Without a card, they type the line below at the keypad. It is shown only this once."},
	"pass-done-keys":  {"0# 完成", "0# done"},
	"pass-limit":      {"您今天已开了 %d 个访客通行码，已达上限。明天再试，或联系物业。", "You have issued %d visitor passes today, the most allowed. Try tomorrow or ask the property office."},
	"pass-minor":      {"未成年人不能开访客通行码。请家长开。", "Minors cannot issue visitor passes. Please ask your parent."},
	"visits-1":        {"1 次", "1 visit"},
	"visits-n":        {"%d 次", "%d visits"},
	"hours":           {"%d 小时", "%d h"},
	"minutes":         {"%d 分钟", "%d min"},
}

func init() {
	for k, v := range passTexts {
		texts[k] = v
	}
}

// idlePass takes 3# on the idle screen; k.mu held. Like 1# and 2# it
// starts a flow only for the card the door just opened for.
func (k *Kiosk) idlePass(now time.Time) bool {
	if k.cfg.Passes == nil {
		return true // a code, never a PIN: nobody's
	}
	g := k.granted
	if g.at.IsZero() || now.Sub(g.at) > window || now.Before(g.at) {
		k.show(PassCard, func(s *Screen) { s.Body = k.text(s.Lang, "pass-first") }, k.cfg.Show)
		return true
	}
	k.granted = grant{}
	k.start(&flow{pass: true, card: g.card, residentID: g.resident})
	return true
}

// startPass shows the deciding step of a pass; k.mu held.
func (k *Kiosk) startPass(f *flow) {
	k.show(PassConfirm, func(s *Screen) {
		s.Body, s.Code = k.text(s.Lang, "pass-confirm"), f.code
		s.Keys = k.text(s.Lang, "pass-keys", f.code)
	}, k.cfg.Timeout)
}

// passIdentified continues a pass after the resident's card and PIN;
// k.mu held. Whether they may issue one now is asked beside the caller.
func (k *Kiosk) passIdentified(f *flow, who Resident) {
	switch {
	case who.ID != f.residentID:
		k.problem(ErrNotIdentified)
		return
	case who.Minor:
		k.passRefused(ErrPassMinor)
		return
	}
	f.resident, f.busy = who, true
	ctx := k.ctx
	go func() {
		err := k.cfg.Passes.MayIssue(ctx, who.ID)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow != f || k.screen.State != PassConfirm {
			return
		}
		f.busy = false
		if err != nil {
			k.passRefused(err)
			return
		}
		k.showChoices()
	}()
}

// showChoices asks for the kind of pass; k.mu held.
func (k *Kiosk) showChoices() {
	l := k.cfg.Passes.Limits()
	k.show(PassChoose, func(s *Screen) {
		valid := k.duration(s.Lang, l.MaxValidity)
		s.Body = k.text(s.Lang, "pass-choose") + "\n" + k.text(s.Lang, "pass-choose-1", valid)
		if l.MaxUses > 1 {
			s.Body += "\n" + k.text(s.Lang, "pass-choose-n", l.MaxUses, valid)
		}
		s.Keys = k.text(s.Lang, "pass-choose-0")
	}, k.cfg.Timeout)
}

// duration says d in hours (or minutes) in lang.
func (k *Kiosk) duration(lang string, d time.Duration) string {
	if d%time.Hour == 0 {
		return k.text(lang, "hours", int(d/time.Hour))
	}
	return k.text(lang, "minutes", int(d.Round(time.Minute)/time.Minute))
}

// passRefused says plainly why no pass is issued; k.mu held.
func (k *Kiosk) passRefused(err error) {
	switch {
	case errors.Is(err, ErrPassLimit):
		k.flow = nil
		n := k.cfg.Passes.Limits().PerDay
		k.log.Info("kiosk: visitor pass refused: the day's passes are used up", "per_day", n)
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "pass-limit", n) }, 2*k.cfg.Show)
	case errors.Is(err, ErrPassMinor):
		k.flow = nil
		k.log.Info("kiosk: visitor pass refused: a minor")
		k.show(Problem, func(s *Screen) { s.Body = k.text(s.Lang, "pass-minor") }, 2*k.cfg.Show)
	default:
		k.problem(err)
	}
}

// passStep takes an event while a pass is chosen or shown; k.mu held.
// Cards and PINs are the gate's, as always; a card (someone at the reader)
// or a visitor code ends the screen.
func (k *Kiosk) passStep(ev fallback.Event) bool {
	f, st := k.flow, k.screen.State
	switch ev.Kind {
	case fallback.KindCard, fallback.KindCode, fallback.KindScan:
		if !f.busy {
			k.toIdle()
		}
		return false
	case fallback.KindPIN:
	default:
		return false
	}
	code := ev.PIN.Reveal()
	switch {
	case len(code) >= minPIN:
		return false // a PIN: the gate's
	case f.busy:
		return true // the pass is being issued: its code is shown
	case code == "0":
		k.toIdle()
	case st == PassChoose && code == "1":
		k.issue(f, 1)
	case st == PassChoose && code == "2" && k.cfg.Passes.Limits().MaxUses > 1:
		k.issue(f, k.cfg.Passes.Limits().MaxUses)
	}
	return true
}

// issue issues the pass beside the caller and shows it once; k.mu held.
func (k *Kiosk) issue(f *flow, uses int) {
	f.busy, f.final = true, true
	valid, id, ctx := k.cfg.Passes.Limits().MaxValidity, f.resident.ID, k.ctx
	k.show(PassChoose, func(s *Screen) { s.Body, s.Keys = k.text(s.Lang, "pass-issuing"), "" }, 0)
	go func() {
		p, err := k.cfg.Passes.IssuePass(ctx, id, uses, valid)
		var png []byte
		if err == nil {
			if png, err = passPNG(p.QR); err != nil {
				k.log.Warn("kiosk: visitor pass QR code not drawn; the code is shown alone", "pass", p.ID, "err", err)
				png, err = nil, nil
			}
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flow != f {
			k.log.Info("kiosk: visitor pass issued after the screen moved on; its code is not shown", "resident", id, "pass", p.ID, "err", err)
			return
		}
		f.busy = false
		if err != nil {
			k.passRefused(err)
			return
		}
		k.log.Info("kiosk: visitor pass issued at the screen", "resident", id, "pass", p.ID, "uses", p.Uses)
		k.show(PassShown, func(s *Screen) {
			key := "pass-shown"
			if png == nil {
				key = "pass-shown-noqr"
			}
			visits := k.text(s.Lang, "visits-1")
			if p.Uses != 1 {
				visits = k.text(s.Lang, "visits-n", p.Uses)
			}
			until := p.Until.Local()
			layout := "15:04"
			if y, m, d := until.Date(); y != k.cfg.Now().Year() || m != k.cfg.Now().Month() || d != k.cfg.Now().Day() {
				layout = "2006-01-02 15:04"
			}
			s.Body = k.text(s.Lang, key, visits, until.Format(layout))
			s.Pass, s.QR = "# "+p.Code+" #", png != nil
			s.Keys = k.text(s.Lang, "pass-done-keys")
		}, k.cfg.Timeout)
		k.passQR = png
	}()
}

// passPNG draws a QR payload as a PNG.
func passPNG(payload string) ([]byte, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("kiosk: QR code: %w", err)
	}
	return q.PNG(320)
}

// PassQR returns the PNG of the QR code of the pass on the screen, while
// it shows, else nil. The caller must not keep it.
func (k *Kiosk) PassQR() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.flow == nil || k.screen.State != PassShown || !k.screen.QR {
		return nil
	}
	return k.passQR
}

// servePassQR answers the PNG of the QR code of the pass on the screen
// while it shows (404 otherwise): held only in memory, never cached (the
// handler's Cache-Control: no-store), for the browser on this device.
func (k *Kiosk) servePassQR(w http.ResponseWriter, r *http.Request) {
	b := k.PassQR()
	if b == nil {
		http.Error(w, "kiosk: no pass is shown", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
