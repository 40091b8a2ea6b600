package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
)

// startVisitorRig is the rig with a QR scanner (type qr, for the front
// door) on one more pty.
func startVisitorRig(t *testing.T) (*gateRig, *serialtest.Pair) {
	t.Helper()
	r := newRig(t, nil)
	qr := serialtest.New(t)
	f, err := os.OpenFile(r.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[reader]]\nname = \"scanner\"\ntype = \"qr\"\ndevice = %q\nfor = \"front\"\n", qr.Device)
	f.Close()
	r.start()
	return r, qr
}

type issuedPass struct {
	ID, Code, QR string
}

func (r *gateRig) addPass(args ...string) issuedPass {
	r.t.Helper()
	var p issuedPass
	out := r.gated(append([]string{"visitor", "add", "--json", "--png", filepath.Join(r.dir, "pass.png")}, args...)...)
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Code == "" || p.QR == "" {
		r.t.Fatalf("visitor add = %q, %v; want a pass with code and QR", out, err)
	}
	return p
}

// passAudit returns the access entries of the pass: outcome and reason.
func (r *gateRig) passAudit(id string) []string {
	r.t.Helper()
	var es []struct{ Kind, Subject, Outcome, Detail string }
	if err := json.Unmarshal([]byte(r.gated("audit", "list", "--json", "--limit", "1000")), &es); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Kind == "access" && e.Subject == id {
			out = append(out, e.Outcome+": "+e.Detail)
		}
	}
	return out
}

func (r *gateRig) waitPassAudit(id string, n int) []string {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es := r.passAudit(id)
		if len(es) >= n || time.Now().After(deadline) {
			return es
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A courier's one-use code, typed on the keypad without a card ('#', the
// code, '#'), opens the door once; typed again it is refused, and again
// after the daemon restarts (the use is counted in the store: replaying a
// used code never opens). So is a one-use QR payload shown again after the
// restart. Each use is audited with the pass, not a person.
func TestE2EVisitorCourierCodeOnce(t *testing.T) {
	r, qr := startVisitorRig(t)
	p := r.addPass("--name", "courier", "--valid", "2h", "--uses", "1")
	r.keys("#" + p.Code + "#")
	r.expectOpen("the courier's code", 5*time.Second)
	r.drainOpens()
	r.keys("#" + p.Code + "#")
	r.expectShut("the courier's code a second time", 2*time.Second)
	es := r.waitPassAudit(p.ID, 2)
	if len(es) != 2 || !strings.HasPrefix(es[0], "granted: method=visitor-code reader=front") || !strings.HasPrefix(es[1], "denied:") || !strings.Contains(es[1], "has been used") {
		t.Fatalf("audit of the pass = %q, want granted then denied as used", es)
	}
	q := r.addPass("--name", "parcel", "--valid", "2h", "--uses", "1")
	r.write(qr.Peer, q.QR+"\r\n")
	r.expectOpen("the parcel courier's QR", 5*time.Second)
	r.drainOpens()
	if es := r.waitPassAudit(q.ID, 1); len(es) != 1 || !strings.HasPrefix(es[0], "granted: method=visitor-qr") {
		t.Fatalf("audit of the QR pass = %q, want granted", es)
	}
	r.stop()
	r.start()
	r.keys("#" + p.Code + "#")
	r.expectShut("the courier's code after a restart", 2*time.Second)
	if es := r.waitPassAudit(p.ID, 3); len(es) != 3 || !strings.Contains(es[2], "has been used") {
		t.Fatalf("audit after the restart = %q, want a third entry denied as used", es)
	}
	r.write(qr.Peer, q.QR+"\r\n") // the used QR replayed (a photo of the phone's screen)
	r.expectShut("the used QR after a restart", 2*time.Second)
	if es := r.waitPassAudit(q.ID, 2); len(es) != 2 || !strings.HasPrefix(es[1], "denied: method=visitor-qr") || !strings.Contains(es[1], "has been used") {
		t.Fatalf("audit of the QR pass after the restart = %q, want a second entry denied as used", es)
	}
	list := r.gated("visitor", "list")
	if !strings.Contains(list, p.ID) || !strings.Contains(list, "used") || strings.Contains(list, p.Code) {
		t.Errorf("visitor list = %q, want the pass as used and never its code", list)
	}
	if strings.Contains(r.log.String(), p.Code) {
		t.Error("the daemon's log holds the code")
	}
}

// A QR pass shown to the scanner opens; once expired it is refused, and a
// payload with its validity stretched is refused as not this gate's.
func TestE2EVisitorExpiredQR(t *testing.T) {
	r, qr := startVisitorRig(t)
	p := r.addPass("--name", "guest", "--valid", "4s", "--uses", "5")
	issued := time.Now()
	if fi, err := os.Stat(filepath.Join(r.dir, "pass.png")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("QR PNG = %v, %v; want a 0600 file", fi, err)
	}
	r.write(qr.Peer, p.QR+"\r\n")
	r.expectOpen("the QR pass", 5*time.Second)
	r.drainOpens()
	f := strings.Split(p.QR, ".")
	f[4] = "9999999999"
	r.write(qr.Peer, strings.Join(f, ".")+"\r\n")
	r.expectShut("a QR with its validity stretched", 1500*time.Millisecond)
	time.Sleep(time.Until(issued.Add(5 * time.Second)))
	r.write(qr.Peer, p.QR+"\r\n")
	r.expectShut("the expired QR pass", 2*time.Second)
	es := r.waitPassAudit(p.ID, 2)
	if len(es) != 2 || !strings.HasPrefix(es[0], "granted: method=visitor-qr reader=front") || !strings.Contains(es[1], "expired") {
		t.Fatalf("audit of the pass = %q, want granted then denied as expired", es)
	}
	// Revoked: refused at once.
	q := r.addPass("--name", "guest", "--valid", "1h", "--uses", "5")
	r.gated("visitor", "revoke", q.ID)
	r.write(qr.Peer, q.QR+"\r\n")
	r.expectShut("a revoked QR pass", 2*time.Second)
	if es := r.waitPassAudit(q.ID, 1); len(es) != 1 || !strings.Contains(es[0], "cancelled") {
		t.Errorf("audit of the revoked pass = %q, want denied as cancelled", es)
	}
	// The staff view: the code once, the keypad sequence, a QR in the
	// terminal and the PNG.
	png := filepath.Join(r.dir, "shown.png")
	out := r.gated("visitor", "add", "--name", "plumber", "--until", time.Now().Add(3*time.Hour).Format("2006-01-02 15:04"), "--uses", "2", "--png", png)
	if !strings.Contains(out, "type:  # ") || !strings.Contains(out, "█") || !strings.Contains(out, png) {
		t.Errorf("visitor add = %q, want the keypad sequence, a terminal QR and the PNG's path", out)
	}
	if _, err := os.Stat(png); err != nil {
		t.Error(err)
	}
}
