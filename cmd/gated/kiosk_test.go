package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gated-dev/gated/internal/testenv"
)

// kioskRig is a rig with the resident screen on, and a real headless
// Chromium (Debian's) showing it.
type kioskRig struct {
	*gateRig
	url    string
	ctx    context.Context
	shots  string // where screenshots go
	nshots int
}

func startKiosk(t *testing.T) *kioskRig {
	t.Helper()
	chromium := testenv.Program(t, "chromium", "chromium")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := startRigWith(t, map[string]string{"kiosk.enabled": "true", "kiosk.listen": strconv.Quote(addr), "kiosk.reader": `"front"`,
		"kiosk.enroll_frames": "3", "kiosk.timeout": `"40s"`, "face.challenge_time": `"10s"`})
	k := &kioskRig{gateRig: r, url: "http://" + addr + "/"}
	k.shots = t.TempDir()
	if os.Getenv("GATED_UPDATE_SCREENSHOTS") != "" {
		k.shots = filepath.Join(testenv.Root(t), "docs", "kiosk")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 600), // a typical gate display
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	k.ctx = ctx
	if _, err := chromedp.Run(ctx, chromedp.Navigate(k.url)); err != nil {
		t.Fatalf("chromium did not load the kiosk: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible("body[data-state=idle]")); err != nil {
		t.Fatalf("chromium did not show the kiosk: %v", err)
	}
	return k
}

// expect waits until the page shows a state, checks its text, and saves a
// screenshot named after it.
func (k *kioskRig) expect(state string, texts ...string) string {
	k.t.Helper()
	body := k.wait(state, texts...)
	k.shot(state)
	return body
}

// noImagesIn fails the test if any file under dir is a JPEG or PNG image.
func noImagesIn(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) || bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is an image: the kiosk's live picture must never be written", path)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walking the data dir %s: %d files, %v", dir, n, err)
	}
}

// liveCapture plays a live capture to the kiosk's camera: a face held
// still, then the head turned the way the screen asks (challengeFrames).
// It returns the frontal frame.
func (k *kioskRig) liveCapture() string {
	k.t.Helper()
	front, left, right := challengeFrames(k.t)
	turned := left
	if k.holdStillUntilAsked(front) == "right" {
		turned = right
	}
	for _, f := range turnFrames(k.t, front, turned, 8) {
		k.showFile(f)
		time.Sleep(100 * time.Millisecond)
	}
	return front
}

// holdStillUntilAsked shows frame (a face held still) to the camera until
// the screen asks to turn the head, and returns which way: "left" or
// "right".
func (k *kioskRig) holdStillUntilAsked(frame string) string {
	k.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		k.showFile(frame)
		time.Sleep(300 * time.Millisecond)
		turn, err := chromedp.Run(k.ctx, chromedp.AttributeValue("#arrow", "data-turn"))
		if err == nil && (turn.Value == "left" || turn.Value == "right") {
			k.shot("capture-turn")
			return turn.Value
		}
	}
	k.t.Fatal("the kiosk never asked to turn the head within 30 s of a face held still")
	return ""
}

// wait is expect without the screenshot.
func (k *kioskRig) wait(state string, texts ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitVisible(fmt.Sprintf("body[data-state=%q]", state)))
	if err != nil {
		now, _ := chromedp.Run(k.ctx, chromedp.AttributeValue("body", "data-state"))
		k.t.Fatalf("the kiosk did not reach %q (it shows %q): %v", state, now.Value, err)
	}
	time.Sleep(150 * time.Millisecond) // the last text update lands
	body, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		k.t.Fatal(err)
	}
	for _, want := range texts {
		if !strings.Contains(body, want) {
			k.t.Errorf("screen %q lacks %q:\n%s", state, want, body)
		}
	}
	return body
}

func (k *kioskRig) shot(name string) {
	k.t.Helper()
	png, err := chromedp.Run(k.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		k.t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		k.t.Fatalf("screenshot of %s is not a PNG (%d bytes)", name, len(png))
	}
	if err := os.WriteFile(filepath.Join(k.shots, name+".png"), png, 0o644); err != nil {
		k.t.Fatal(err)
	}
	k.nshots++
}

// begin opens a flow as a resident does: their card and PIN open the
// door as always, then 1# (enroll) or 2# (withdraw).
func (k *kioskRig) begin(card, pin, code string) {
	k.t.Helper()
	k.drainOpens()
	k.swipe(card, pin)
	k.expectOpen("the card and PIN before "+code+"#", 5*time.Second)
	time.Sleep(200 * time.Millisecond) // the gate's decision reaches the screen
	k.keys(code + "#")
}

// confirm is a deciding step as a resident does it: their card again,
// then the number the screen shows followed by their PIN, and #.
func (k *kioskRig) confirm(card, pin string) {
	k.t.Helper()
	state := k.screenState()
	zh := k.lang() == "zh"
	k.swipe(card, "")
	code := screenCode(k.t, strings.TrimSuffix(strings.TrimPrefix(k.url, "http://"), "/"))
	k.wait(state, map[bool]string{true: "请连续输入 " + code + " 和您的密码", false: "now type " + code + " followed by your PIN"}[zh])
	k.keys(code + pin + "#")
}

// screenState and lang read the screen as its page does.
func (k *kioskRig) screenState() string {
	s := screenState(k.t, strings.TrimSuffix(strings.TrimPrefix(k.url, "http://"), "/"))
	return s[:strings.Index(s, ":")]
}

func (k *kioskRig) lang() string {
	resp, err := http.Get(k.url + "screen")
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sc struct{ Lang string }
	json.NewDecoder(resp.Body).Decode(&sc)
	return sc.Lang
}

func (k *kioskRig) click(code string) {
	k.t.Helper()
	if _, err := chromedp.Run(k.ctx, chromedp.Click(fmt.Sprintf("button[data-code=%q]", code))); err != nil {
		k.t.Fatalf("click %s: %v", code, err)
	}
}

func (k *kioskRig) hasFace(id string) bool {
	k.t.Helper()
	var res struct {
		Face     bool
		Consents []json.RawMessage
	}
	if err := json.Unmarshal([]byte(k.gated("resident", "show", id, "--json")), &res); err != nil {
		k.t.Fatal(err)
	}
	return res.Face
}

func TestKioskEnrollmentAndOptOut(t *testing.T) {
	k := startKiosk(t)
	wang := k.addResident("王芳", "3003", "2468")
	k.expect("idle", "请看摄像头，或刷卡并输入密码", "1# 登记人脸")

	// Enrollment from the keypad alone: the card and PIN open the door as
	// always, then 1#, the notice, and consent as its own step (the card
	// again, the number shown, the PIN), then the camera. 1# before the
	// door opened for a card only says how.
	k.keys("1#")
	k.expect("enroll-card", "请先在这里照常刷卡开门")
	k.drainOpens()
	k.swipe("3003", "")
	k.expect("idle", "请输入密码")
	k.keys("24")
	k.expect("idle", "●●")
	k.keys("68#")
	k.expectOpen("card and PIN at the screen's reader", 5*time.Second)
	k.expect("granted", "王芳，欢迎回家", "1# 登记人脸")
	k.keys("1#")
	k.expect("notice", "人脸识别告知书", "保存期限", "请再刷一次卡", "E2E Property Management")
	k.keys("1#") // the old screens' "agree": neither consent nor a PIN guess
	k.expect("notice")
	k.confirm("3003", "2468")
	k.expect("capture", "请")
	// Live captures: her face held still, then her head turned the way
	// the screen asks.
	front := k.liveCapture()
	k.expect("enrolled", "您的人脸已登记")
	noImagesIn(t, filepath.Join(k.dir, "data")) // the live picture was never written
	if !k.hasFace(wang) {
		t.Fatalf("enrolled at the kiosk, but the store holds no face data for %s", wang)
	}
	show := k.gated("resident", "show", wang)
	if !strings.Contains(show, "zh-CN") || !strings.Contains(show, "device") {
		t.Errorf("the consent record does not say it was given at the device in Chinese:\n%s", show)
	}

	// The face now opens the door, and the screen says so. (The camera's
	// last frames may already have let the new resident in: wait out the
	// gate's cooldown first.)
	time.Sleep(2500 * time.Millisecond)
	k.drainOpens()
	k.showFile(blankFrame(t))
	time.Sleep(300 * time.Millisecond)
	k.showFile(front)
	k.expectOpen("face enrolled at the kiosk", 20*time.Second)
	k.expect("granted", "王芳，欢迎回家")

	// A stranger is told to use card and PIN.
	k.show("biden.jpg")
	k.expect("denied", "请刷卡并输入密码")

	// English, then opt-out with the on-screen buttons and the keypad.
	k.keys("9#")
	k.expect("idle", "Look at the camera, or use your card and PIN.")
	k.click("2")
	k.expect("optout-card", "first open the door here with your card as usual, then type 2#")
	k.drainOpens()
	k.swipe("3003", "2468")
	k.expectOpen("card and PIN before withdrawing", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	k.click("2")
	k.expect("optout-confirm", "destroyed at once", "show your card again")
	k.confirm("3003", "2468")
	body := k.expect("optout-done", "Receipt: d-", "card and PIN keep working")
	receipt := body[strings.Index(body, "d-") : strings.Index(body, "d-")+18]
	if k.hasFace(wang) {
		t.Fatalf("opted out at the kiosk, but face data is still held")
	}
	if audit := k.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, receipt) {
		t.Errorf("receipt %s is not in the audit log", receipt)
	}
	// The card and PIN still open the door.
	k.drainOpens()
	k.swipe("3003", "2468")
	k.expectOpen("card and PIN after opt-out", 10*time.Second)
	if k.nshots < 10 {
		t.Errorf("%d screenshots, want one per state", k.nshots)
	}
}

func TestKioskDeclineAndGuardian(t *testing.T) {
	k := startKiosk(t)
	adult := k.addResident("李明", "4004", "1357")
	// A minor registered with adult as guardian, and another adult who is
	// not their guardian.
	var kid struct{ ID string }
	json.Unmarshal([]byte(k.gated("resident", "add", "--name", "李小明", "--unit", "4", "--minor", "--guardian", adult, "--json")), &kid)
	k.gated("card", "assign", kid.ID, "5005")
	if out, err := k.gatedErr("8642\n", "pin", "set", kid.ID); err != nil {
		t.Fatal(out)
	}
	k.addResident("赵强", "6006", "9753")

	// Declining stores nothing biometric, and nothing at all.
	k.begin("4004", "1357", "1")
	k.expect("notice")
	k.keys("0#")
	k.expect("declined", "未保存任何人脸数据")
	if k.hasFace(adult) || strings.Contains(k.gated("resident", "show", adult), "consent c-") {
		t.Fatalf("a declined consent stored something")
	}

	// A wrong PIN at the consent is refused.
	k.begin("4004", "1357", "1")
	k.expect("notice")
	k.confirm("4004", "0000")
	k.expect("problem", "卡和密码不符")

	// A minor with no registered guardian cannot be enrolled here at all.
	var orphan struct{ ID string }
	json.Unmarshal([]byte(k.gated("resident", "add", "--name", "王小红", "--unit", "7", "--minor", "--json")), &orphan)
	k.gated("card", "assign", orphan.ID, "7007")
	if out, err := k.gatedErr("2468\n", "pin", "set", orphan.ID); err != nil {
		t.Fatal(out)
	}
	k.begin("7007", "2468", "1")
	k.expect("notice")
	k.confirm("7007", "2468")
	k.expect("problem", "尚未登记您的监护人")

	// At the guardian step anyone else's card (a neighbour using the
	// reader as always, the red team's guardian by habit) ends the flow
	// and is the gate's: their card and PIN open the door, and consent to
	// nothing, whatever number the minor types meanwhile.
	k.begin("5005", "8642", "1")
	k.expect("notice")
	k.confirm("5005", "8642")
	k.expect("guardian-card", "监护人")
	code := screenCode(t, strings.TrimSuffix(strings.TrimPrefix(k.url, "http://"), "/"))
	k.drainOpens()
	k.swipe("6006", "")
	k.expect("idle", "请输入密码") // the flow ended; the gate waits for the card's PIN
	k.keys(code + "#")
	k.keys("9753#")
	k.expectOpen("a neighbour's card and PIN during the guardian step", 5*time.Second)
	if k.hasFace(kid.ID) {
		t.Fatalf("a minor was enrolled with a neighbour as guardian")
	}
	k.begin("5005", "8642", "1")
	k.expect("notice")
	k.confirm("5005", "8642")
	k.expect("guardian-card")
	// ...and can with their guardian's.
	k.confirm("4004", "1357")
	k.expect("capture")
	k.liveCapture()
	k.expect("enrolled")
	show := k.gated("resident", "show", kid.ID)
	if !strings.Contains(show, "guardian 李明") {
		t.Errorf("the minor's consent does not name the guardian:\n%s", show)
	}
}

// TestKioskOnlyOnLoopback: with the kiosk on, the daemon's only inet
// sockets are on 127.0.0.1, and the page refuses a foreign Host.
func TestKioskOnlyOnLoopback(t *testing.T) {
	k := startKiosk(t)
	for _, s := range inetSockets(t, k.cmd.Process.Pid) {
		// /proc/net/tcp shows 127.0.0.1 as 0100007F.
		if !strings.Contains(s, "0100007F:") {
			t.Errorf("inet socket not on loopback: %s", s)
		}
	}
	status, err := chromedp.Run(k.ctx, chromedp.Evaluate[int](`fetch("/press", {method: "POST", body: '{"code": "7"}'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 400 {
		t.Errorf("press of an unknown code = %d, %v; want 400", status, err)
	}
}
