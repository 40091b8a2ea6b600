package main

// The attacks of issue 12, replayed on the real binary: a hostile resident at
// the keypad, a crash at the worst moment, a damaged file, a full disk.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/testenv"
)

// residentJSON is what `gated resident show --json` says of a resident.
type residentJSON struct {
	ID        string
	Face      bool
	Templates int
}

func (r *gateRig) residentInfo(id string) residentJSON {
	r.t.Helper()
	var out residentJSON
	if err := json.Unmarshal([]byte(r.gated("resident", "show", id, "--json")), &out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// screen returns the resident screen's state, as its page sees it.
func screenState(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/screen")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ State, Body string }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.State + ": " + s.Body
}

// screenCode returns the number the resident screen asks to type before
// the PIN to consent or confirm.
func screenCode(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/screen")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || len(s.Code) != 3 {
		t.Fatalf("the screen shows no confirmation code (%q, %v)", s.Code, err)
	}
	return s.Code
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestKioskHijacksFail replays the and the red teams' hijacks. A
// flow starts only after the door opened for a card at the screen's reader
// ("front") and is that card holder's; a card and PIN anywhere else, or a
// PIN typed out of habit at the screen's reader, is the gate's: the door
// opens in the usual time and nothing is consented or destroyed.
func TestKioskHijacksFail(t *testing.T) {
	addr := freeLoopback(t)
	r := startRigWith(t, map[string]string{"kiosk.enabled": "true", "kiosk.listen": strconv.Quote(addr), "kiosk.reader": `"front"`, "kiosk.timeout": `"20s"`})
	r.addResident("Attacker", "1001", "1234")
	victim := r.addResident("Victim", "2002", "5678")
	begin := func(card, pin, code string) {
		t.Helper()
		r.drainOpens()
		r.swipe(card, pin)
		r.expectOpen("the card and PIN that open a flow", 3*time.Second)
		time.Sleep(200 * time.Millisecond)
		r.keys(code + "#")
		time.Sleep(300 * time.Millisecond)
	}

	// The enrollment hijack: the attacker's flow is open at the
	// front; the victim uses the back reader and is let in at once; the
	// attacker types the number and the victim's (watched) PIN and shows
	// his face. The flow is his own and the PIN, without his card and the
	// number after it, is the gate's.
	r.keys("1#")
	time.Sleep(300 * time.Millisecond)
	if s := screenState(t, addr); !strings.HasPrefix(s, "enroll-card") {
		t.Fatalf("after 1# with no card the screen shows %q", s)
	}
	begin("1001", "1234", "1")
	if s := screenState(t, addr); !strings.HasPrefix(s, "notice") {
		t.Fatalf("after the attacker's card, PIN and 1# the screen shows %q", s)
	}
	r.drainOpens()
	start := time.Now()
	r.swipeBack("2002", "5678")
	r.expectOpen("the victim's card and PIN at the back reader during a flow at the front", 3*time.Second)
	took := time.Since(start)
	t.Logf("card and PIN at back during an open flow at front: door open %v after the card (200 ms of it the typing)", took.Round(time.Millisecond))
	r.keys(screenCode(t, addr) + "5678#")
	for _, p := range []string{"obama.jpg", "obama2.jpg", "obama3.jpg"} {
		r.show(p)
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if info := r.residentInfo(victim); info.Face || info.Templates != 0 {
		t.Fatalf("the victim now holds face data (%d templates): the enrollment was hijacked", info.Templates)
	}
	r.keys("0#")

	// The opt-out hijack: the victim has face data, enrolled at the office.
	// The attacker types 2# right after the door opened for the victim, so
	// the flow is the victim's; the victim has walked through. The number
	// and the watched PIN without the victim's card destroy nothing, and
	// neither does the attacker's own card.
	r.gated("face", "enroll", victim, "--photo", r.photos+"/biden.jpg", "--consent", "paper")
	time.Sleep(2500 * time.Millisecond) // the camera's cooldown
	begin("2002", "5678", "2")
	if s := screenState(t, addr); !strings.HasPrefix(s, "optout-confirm") {
		t.Fatalf("after the victim's card and PIN and 2# the screen shows %q", s)
	}
	r.keys(screenCode(t, addr) + "5678#")
	r.swipe("1001", "") // his own card ends the flow
	time.Sleep(200 * time.Millisecond)
	if s := screenState(t, addr); strings.HasPrefix(s, "optout") {
		t.Fatalf("the attacker's card did not end the victim's flow: %q", s)
	}
	r.keys("123#")
	r.keys("5678#")
	time.Sleep(time.Second)
	if info := r.residentInfo(victim); !info.Face {
		t.Fatalf("the victim's face data was destroyed by someone else")
	}
	if audit := r.gated("audit", "list", "--limit", "1000"); strings.Contains(audit, "deletion") {
		t.Errorf("the audit log records a deletion:\n%s", audit)
	}

	// At the screen's own reader: 1# typed before a resident's card, or
	// between their card and PIN (the red teams' 0#1# and the swallowed
	// resident), opens no flow, and their card and PIN open the door.
	r.keys("0#")
	other := r.addResident("Second victim", "3003", "2468")
	r.keys("1#")
	time.Sleep(200 * time.Millisecond)
	r.drainOpens()
	r.swipe("3003", "2468")
	r.expectOpen("a resident's card and PIN at the screen's reader after someone typed 1#", 3*time.Second)
	time.Sleep(2 * time.Second) // the gate's cooldown for a card
	r.drainOpens()
	r.swipe("3003", "")
	time.Sleep(200 * time.Millisecond)
	r.keys("1#")
	time.Sleep(200 * time.Millisecond)
	r.keys("2468#")
	r.expectOpen("a resident's PIN after someone slipped 1# between their card and PIN", 3*time.Second)
	if s := screenState(t, addr); strings.HasPrefix(s, "notice") {
		t.Fatalf("1# between a card and its PIN opened a flow: %q", s)
	}
	// A flow for the resident, opened by someone else right after the door
	// opened for them: the resident comes back and uses the reader as
	// always. Their card and PIN open the door and consent to nothing.
	time.Sleep(2 * time.Second)
	begin("3003", "2468", "1")
	if s := screenState(t, addr); !strings.HasPrefix(s, "notice") {
		t.Fatalf("the screen shows %q; want the notice", s)
	}
	time.Sleep(2 * time.Second)
	r.drainOpens()
	r.swipe("3003", "2468")
	r.expectOpen("the resident's card and PIN at the notice of a flow someone else opened for them", 3*time.Second)
	for _, p := range []string{"obama.jpg", "obama2.jpg", "obama3.jpg"} {
		r.show(p)
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if info := r.residentInfo(other); info.Face {
		t.Fatalf("a resident's habit at the screen's reader enrolled someone's face (%d templates)", info.Templates)
	}
	if s := screenState(t, addr); !strings.HasPrefix(s, "notice") {
		t.Errorf("after the resident's card and PIN the screen shows %q; want the notice still", s)
	}
	// Someone else's card ends the flow, and is the gate's.
	r.drainOpens()
	r.swipe("1001", "1234")
	r.expectOpen("another card and PIN at the notice", 3*time.Second)
	if s := screenState(t, addr); strings.HasPrefix(s, "notice") {
		t.Errorf("the flow survived another card at its reader: %q", s)
	}
}

// TestKioskCardOnlyGate: where a card alone opens the door, someone who
// types 1# behind a resident cannot guess their PIN at the screen (the red
// team's lock-out of a resident by guesses): consent needs the card again.
func TestKioskCardOnlyGate(t *testing.T) {
	addr := freeLoopback(t)
	r := startRigWith(t, map[string]string{"access.card": `"card"`, "access.lockout_free": "3",
		"kiosk.enabled": "true", "kiosk.listen": strconv.Quote(addr), "kiosk.reader": `"front"`})
	victim := r.addResident("Victim", "2002", "5678")
	for i := range 5 {
		r.drainOpens()
		r.swipe("2002", "")
		r.expectOpen(fmt.Sprintf("the victim's card, entry %d", i+1), 3*time.Second)
		time.Sleep(200 * time.Millisecond)
		r.keys("1#")
		time.Sleep(300 * time.Millisecond)
		if s := screenState(t, addr); !strings.HasPrefix(s, "notice") {
			t.Fatalf("1# after the victim's card: the screen shows %q", s)
		}
		r.keys(screenCode(t, addr) + fmt.Sprintf("%04d#", i))
		time.Sleep(500 * time.Millisecond)
		r.keys("0#")
		time.Sleep(2 * time.Second) // the gate's cooldown for a card
	}
	audit := r.gated("audit", "list", "--limit", "1000")
	if strings.Contains(audit, "wrong PIN") || strings.Contains(audit, "locked-out") {
		t.Errorf("guesses at the screen without the card were checked:\n%s", audit)
	}
	r.drainOpens()
	r.swipe("2002", "")
	r.expectOpen("the victim's card after the guesses", 3*time.Second)
	// The victim themselves can still enroll: card again, number, PIN.
	time.Sleep(200 * time.Millisecond)
	r.keys("1#")
	time.Sleep(300 * time.Millisecond)
	r.swipe("2002", "")
	time.Sleep(200 * time.Millisecond)
	r.keys(screenCode(t, addr) + "5678#")
	time.Sleep(time.Second)
	if s := screenState(t, addr); !strings.HasPrefix(s, "capture") {
		t.Fatalf("the victim's own consent: the screen shows %q; want the camera", s)
	}
	r.keys("0#")
	if info := r.residentInfo(victim); info.Face {
		t.Errorf("a cancelled enrollment stored face data")
	}
}

// TestLockoutIsPerCardSharedAndPersistent: a card holder's wrong PINs lock
// their card only; another resident's right card and PIN at the same reader
// opens; the screen and the gate count together; a restart forgets nothing.
func TestLockoutIsPerCardSharedAndPersistent(t *testing.T) {
	addr := freeLoopback(t)
	r := startRigWith(t, map[string]string{"access.lockout_free": "3", "access.lockout_base": `"10m"`, "access.lockout_max": `"1h"`,
		"kiosk.enabled": "true", "kiosk.listen": strconv.Quote(addr), "kiosk.reader": `"front"`})
	r.addResident("Guesser", "1001", "1234")
	r.addResident("Neighbour", "2002", "5678")
	r.addResident("Screen", "3003", "2468")
	for range 3 {
		r.swipe("1001", "0000")
		time.Sleep(300 * time.Millisecond)
	}
	r.swipe("1001", "1234")
	r.expectShut("the guesser's right PIN after 3 wrong ones", 2*time.Second)
	r.swipe("2002", "5678")
	r.expectOpen("another resident's card and PIN at the same reader", 3*time.Second)

	// The screen asks the gate: a wrong PIN at the screen's consent counts
	// at the gate. After the door opened (which forgets earlier failures),
	// one wrong PIN at the screen and two at the gate lock the card: its
	// right PIN is then refused.
	time.Sleep(2 * time.Second) // the gate's cooldown for a card
	r.drainOpens()
	r.swipe("3003", "2468")
	r.expectOpen("the card and PIN before the flow", 3*time.Second)
	time.Sleep(200 * time.Millisecond)
	r.keys("1#")
	time.Sleep(300 * time.Millisecond)
	r.swipe("3003", "")
	time.Sleep(200 * time.Millisecond)
	r.keys(screenCode(t, addr) + "0000#")
	time.Sleep(time.Second)
	if s := screenState(t, addr); !strings.Contains(s, "卡和密码不符") {
		t.Fatalf("a wrong PIN at the consent: the screen shows %q", s)
	}
	for range 2 {
		time.Sleep(1500 * time.Millisecond)
		r.swipe("3003", "0000")
	}
	time.Sleep(1500 * time.Millisecond)
	r.drainOpens()
	r.swipe("3003", "2468")
	r.expectShut("the right card and PIN after one wrong PIN at the screen and two at the gate", 2*time.Second)

	// A restart forgets nothing.
	r.stop()
	r.start()
	r.drainOpens()
	r.swipe("1001", "1234")
	r.expectShut("the guesser's right PIN after a restart", 2*time.Second)
	r.swipe("2002", "5678")
	r.expectOpen("the neighbour after a restart", 3*time.Second)
	audit := r.gated("audit", "list", "--limit", "1000")
	if n := strings.Count(audit, "locked-out"); n < 3 {
		t.Errorf("%d locked-out entries in the audit log, want at least 3 (gate, screen's card at the gate, after restart):\n%s", n, audit)
	}
}

// TestFailedDeleteKeepsTheFace replays issue 12's attack 6: deletions the
// store refuses (DELETE /v0/residents/<id> with an empty reason, sent over
// the socket as any client can, since the CLI refuses it before sending;
// a face deletion requested in 2099) are answered 400 and leave the face
// working, the templates in the store and status truthful.
func TestFailedDeleteKeepsTheFace(t *testing.T) {
	r := startRig(t)
	id := r.addResident("Obama", "1001", "1234")
	r.gated("face", "enroll", id, "--photo", r.photos+"/obama.jpg", "--photo", r.photos+"/obama2.jpg", "--consent", "paper")
	kept := func(after string) {
		t.Helper()
		var st struct {
			Face struct{ Residents, Templates int }
		}
		json.Unmarshal([]byte(r.gated("status", "--json")), &st)
		if st.Face.Residents != 1 || st.Face.Templates != 2 {
			t.Errorf("after %s status shows %d residents, %d templates; want 1, 2", after, st.Face.Residents, st.Face.Templates)
		}
		if info := r.residentInfo(id); !info.Face || info.Templates != 2 {
			t.Errorf("after %s the store holds %d templates (face %v); want 2", after, info.Templates, info.Face)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := api.NewClient(r.socket).DeleteResident(ctx, id, "")
	var apiErr *control.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("DELETE /v0/residents/%s with an empty reason = %+v, %v; want 400", id, d, err)
	}
	kept("a resident deletion with an empty reason")

	if out, err := r.gatedErr("", "face", "delete", id, "--reason", "x", "--requested", "2099-01-01"); err == nil {
		t.Fatalf("a deletion requested in 2099 succeeded: %s", out)
	}
	kept("a face deletion requested in 2099")

	r.show("obama3.jpg")
	r.expectOpen("the face after two refused deletions", 20*time.Second)
}

// flip returns a copy of b with 8 bytes inverted at off.
func flip(b []byte, off int) []byte {
	c := bytes.Clone(b)
	for i := off; i < off+8 && i < len(c); i++ {
		c[i] ^= 0xFF
	}
	return c
}

// TestDamagedStoreNeverTakesCardAndPINDown replays the sweep: 8
// bytes flipped at page*4096+20 for pages 2-31 of a real store. No run
// panics; each either opens with every record verified, or serves card and
// PIN from the newest backup with the alarm raised; in both, the residents'
// cards and PINs open the door.
func TestDamagedStoreNeverTakesCardAndPINDown(t *testing.T) {
	r := startRig(t)
	type person struct{ card, pin string }
	var people []person
	for i := range 40 {
		p := person{fmt.Sprint(3000 + i), fmt.Sprint(4000 + i)}
		id := r.addResident(fmt.Sprintf("Resident %d 住户", i), p.card, p.pin)
		if i < 8 {
			r.gated("face", "enroll", id, "--photo", r.photos+"/obama.jpg", "--photo", r.photos+"/obama2.jpg", "--consent", "paper")
		}
		people = append(people, p)
	}
	// A clean stop; the start already took a backup, take another of the
	// full store.
	r.stop()
	dbPath := r.dir + "/data/gated.db"
	for _, b := range mustGlob(t, r.dir+"/data/backups/*") {
		os.Remove(b)
	}
	r.start()
	r.waitBackup()
	r.stop()
	good, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(good) / 4096
	t.Logf("store of %d bytes, %d pages", len(good), pages)
	if pages < 32 {
		t.Fatalf("the store has %d pages; the sweep needs 32", pages)
	}
	opened, degraded := 0, 0
	for page := 2; page <= 31; page++ {
		if err := os.WriteFile(dbPath, flip(good, page*4096+20), 0o600); err != nil {
			t.Fatal(err)
		}
		before := len(r.log.String())
		r.start()
		log := r.log.String()[before:]
		for _, bad := range []string{"panic:", "fatal error:", "goroutine "} {
			if strings.Contains(log, bad) {
				t.Fatalf("page %d: the daemon crashed:\n%s", page, log)
			}
		}
		var st struct {
			Degraded string
			Alarms   []string
		}
		json.Unmarshal([]byte(r.gated("status", "--json")), &st)
		if st.Degraded != "" {
			degraded++
			if !strings.Contains(strings.Join(st.Alarms, "\n"), "damaged") || !strings.Contains(st.Degraded, "gated restore") {
				t.Errorf("page %d: degraded without the alarm or the fix: %+v", page, st)
			}
		} else {
			opened++
		}
		for _, p := range []person{people[0], people[len(people)/2], people[len(people)-1]} {
			r.drainOpens()
			r.swipe(p.card, p.pin)
			r.expectOpen(fmt.Sprintf("page %d (degraded=%v): card %s and its PIN", page, st.Degraded != "", p.card), 5*time.Second)
		}
		r.stop()
	}
	t.Logf("30 damaged stores: %d opened with every record verified, %d served card and PIN from the backup", opened, degraded)
	if degraded == 0 {
		t.Errorf("no flip was caught as damage: the sweep does not test the fallback")
	}
}

// sealedBytes reads, from a copy of the store file, a resident's wrapped
// data key and sealed templates: what must be gone from every file after an
// opt-out.
func sealedBytes(t *testing.T, dbPath, id string) [][]byte {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cp, b, 0o600)
	db, err := bolt.Open(cp, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("datakeys")).Get([]byte(id)); v != nil {
			out = append(out, bytes.Clone(v))
		}
		c := tx.Bucket([]byte("templates")).Cursor()
		prefix := []byte(id + "/")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, bytes.Clone(v[len(v)-48:])) // the ciphertext's tail and tag
		}
		return nil
	})
	if len(out) < 2 {
		t.Fatalf("found %d sealed values of %s in the store", len(out), id)
	}
	return out
}

// leftIn lists the files under dir that still hold any of the values.
func leftIn(t *testing.T, dir string, values [][]byte) []string {
	t.Helper()
	var found []string
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, v := range values {
			if bytes.Contains(b, v) {
				found = append(found, path)
				break
			}
		}
		return nil
	})
	return found
}

// TestOptOutOnAFullDisk: an opt-out on a full disk says honestly that the
// data is out of use but not yet gone from disk; gated report lists it; a
// crash meanwhile changes nothing; once there is room, the gate finishes on
// its own, and no byte of the sealed templates or the wrapped data key is
// left in any file under the data directory, backups included.
func TestOptOutOnAFullDisk(t *testing.T) {
	r := newRig(t, map[string]string{"store.retry_every": `"10s"`})
	data := r.dir + "/data"
	os.Mkdir(data, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		t.Fatalf("mount a 3 MB tmpfs for the data directory (needs root or CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	r.start()
	id := r.addResident("Obama", "1001", "1234")
	r.gated("face", "enroll", id, "--photo", r.photos+"/obama.jpg", "--photo", r.photos+"/obama2.jpg", "--consent", "paper")
	// A backup with the face data in it, as the gate's own schedule takes.
	r.stop()
	for _, b := range mustGlob(t, data+"/backups/*") {
		os.Remove(b)
	}
	r.start()
	r.waitBackup()
	sealed := sealedBytes(t, data+"/gated.db", id)
	if left := leftIn(t, data, sealed); len(left) < 2 {
		t.Fatalf("before the opt-out the sealed bytes are in %v; want the store and its backup (else the scan proves nothing)", left)
	}
	// Fill the disk, but for a third of the store's size: room for the
	// deletion's own transaction, not for a rewrite of the file.
	fi, _ := os.Stat(data + "/gated.db")
	filler, _ := os.Create(data + "/filler")
	chunk := make([]byte, 4<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	full, _ := filler.Seek(0, io.SeekCurrent)
	filler.Truncate(full - fi.Size()/3)
	filler.Close()
	out, err := r.gatedErr("", "face", "delete", id, "--reason", "consent withdrawn at the office")
	if err != nil || !strings.Contains(out, "NOT YET GONE FROM DISK") {
		t.Fatalf("face delete on a full disk = %v:\n%s", err, out)
	}
	if rep := r.gated("report"); !strings.Contains(rep, "PENDING destructions (1)") {
		t.Errorf("the report does not list the pending destruction:\n%s", rep)
	}
	// The face opens nothing from this instant.
	r.show("obama3.jpg")
	r.expectShut("an opted-out face while its destruction is pending", 4*time.Second)
	// A crash, then room again: the gate finishes at start.
	r.kill()
	os.Remove(data + "/filler")
	r.start()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(r.gated("report"), "PENDING") {
		if time.Now().After(deadline) {
			t.Fatalf("the pending destruction was not finished 30 s after a start with room:\n%s", r.gated("report"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.stop()
	if left := leftIn(t, data, sealed); len(left) > 0 {
		t.Fatalf("after the destruction completed, sealed bytes are still in %v", left)
	}
	if tmp := mustGlob(t, data+"/.*"); len(tmp) > 0 {
		t.Errorf("temporary files left in the data directory: %v", tmp)
	}
}

// waitBackup waits until the gate has taken an automatic backup.
func (r *gateRig) waitBackup() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct{ Store struct{ Backups int } }
		json.Unmarshal([]byte(r.gated("status", "--json")), &st)
		if st.Store.Backups > 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no automatic backup 30 s after start")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSmallBreaks replays item 8: staff-typed card numbers are normalised
// as readers send them; the CLI says "assigned"; a world-readable store is
// made private at start, and the audit log says so; a trailing second JSON
// object on the socket is refused; a key file of typed text is refused.
func TestSmallBreaks(t *testing.T) {
	r := startRig(t)
	id := r.addResident("A", "1", "1234")
	if out := r.gated("card", "assign", id, "01001"); !strings.Contains(out, "card 1001 assigned") {
		t.Errorf("card assign 01001: %q, want it normalised to 1001", out)
	}
	if out := r.gated("card", "assign", id, " 3003"); !strings.Contains(out, "card 3003 assigned") {
		t.Errorf("card assign ' 3003': %q", out)
	}
	if out, err := r.gatedErr("", "card", "assign", id, "30x3"); err == nil {
		t.Errorf("card assign 30x3 succeeded: %s", out)
	}
	r.swipe("1001", "1234")
	r.expectOpen("a card assigned as 01001, swiped as 1001", 5*time.Second)

	// A trailing second object on the control socket.
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"name":"B","unit":"2"}{"name":"C","unit":"3"}`
	fmt.Fprintf(c, "POST /v0/residents HTTP/1.1\r\nHost: gated\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	resp, _ := io.ReadAll(c)
	c.Close()
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 400")) {
		t.Errorf("two JSON objects in one request: %s", resp)
	}

	// A world-readable store is made private at start.
	r.stop()
	os.Chmod(r.dir+"/data/gated.db", 0o644)
	r.start()
	if fi, _ := os.Stat(r.dir + "/data/gated.db"); fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode after start: %v, want 0600", fi.Mode().Perm())
	}
	if audit := r.gated("audit", "list", "--limit", "1000"); !strings.Contains(audit, "644") {
		t.Errorf("the audit log does not record the store's wrong mode")
	}
	r.stop()
	// A key file of typed text.
	os.WriteFile(r.dir+"/kek", []byte("correct horse battery staple 123"), 0o600)
	out, err := exec.Command(r.bin, "run", "--config", r.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "typed text") {
		t.Errorf("gated run with a typed passphrase as key = %v:\n%s", err, out)
	}
}

// TestRolesOnTheSocket: each route needs its role, from the caller's real
// groups; a refusal is audited with the caller.
func TestRolesOnTheSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs the CLI as other users and groups: run it as root (CI does)")
	}
	// Groups of a stock Debian system: users (100) may read, staff (50)
	// write, adm (4) administer.
	r := newRig(t, map[string]string{"control.staff_group": `"users"`, "control.write_group": `"staff"`, "control.admin_group": `"adm"`})
	os.Chmod(r.dir, 0o755)
	os.Chmod(filepath.Dir(r.bin), 0o755)
	out := filepath.Join(r.dir, "out")
	os.Mkdir(out, 0o777)
	os.Chmod(out, 0o777)
	r.start()
	as := func(groups []uint32, args ...string) (string, error) {
		cmd := exec.Command(r.bin, args...)
		cmd.Env = []string{"GATED_SOCKET=" + r.socket, "HOME=/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 65534, Groups: groups}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	read, write, admin := []uint32{100}, []uint32{100, 50}, []uint32{100, 4}
	for _, tt := range []struct {
		name   string
		groups []uint32
		args   []string
		ok     bool
	}{
		{"nobody: status", nil, []string{"status"}, false}, // the socket's mode keeps them out
		{"read: status", read, []string{"status"}, true},
		{"read: audit", read, []string{"audit", "verify"}, true},
		{"read: add resident", read, []string{"resident", "add", "--name", "X", "--unit", "1"}, false},
		{"write: add resident", write, []string{"resident", "add", "--name", "X", "--unit", "1"}, true},
		{"write: backup", write, []string{"backup", "--out", out + "/w.bak"}, false},
		{"read: backup list", read, []string{"backup", "list"}, false},
		{"admin: backup list", admin, []string{"backup", "list"}, true},
		{"admin: backup", admin, []string{"backup", "--out", out + "/a.bak"}, true},
	} {
		said, err := as(tt.groups, tt.args...)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v\n%s", tt.name, err, tt.ok, said)
		}
		if !tt.ok && !strings.Contains(said, "not permitted") && !(tt.groups == nil && strings.Contains(said, "permission denied")) {
			t.Errorf("%s: refusal does not say why: %s", tt.name, said)
		}
	}
	audit := r.gated("audit", "list", "--limit", "1000")
	if strings.Count(audit, "refused") < 3 || !strings.Contains(audit, "uid=4242") {
		t.Errorf("refusals are not audited with the caller:\n%s", audit)
	}
}

// TestDamagedModelAndCalendarKeepCardAndPIN: a flipped byte in a face model
// file, and a holiday calendar that does not parse, turn face off and
// deadlines to Monday-Friday, with alarms; card and PIN keep working (the
// red team's crash loop: the daemon, and gated check under systemd, refused
// to start).
func TestDamagedModelAndCalendarKeepCardAndPIN(t *testing.T) {
	models := t.TempDir()
	real := testenv.Models(t)
	err := filepath.Walk(real, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(real, p)
		dst := filepath.Join(models, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if !strings.HasSuffix(rel, "dlib_face_recognition_resnet_model_v1.dat") || strings.Contains(rel, "custom") {
			return os.Symlink(p, dst)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0x01
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	holidays := filepath.Join(t.TempDir(), "holidays.txt")
	os.WriteFile(holidays, []byte("2026-13-45 holiday never\n"), 0o644)
	r := newRig(t, map[string]string{"device.models_dir": strconv.Quote(models), "privacy.holidays": strconv.Quote(holidays)})
	out, err := exec.Command(r.bin, "check", "--config", r.config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "face recognition will be off") || !strings.Contains(string(out), "privacy.holidays") {
		t.Fatalf("gated check with a damaged model and calendar = %v:\n%s", err, out)
	}
	r.start()
	status := r.gated("status")
	for _, want := range []string{"ALARM: face recognition is off", "ALARM: privacy.holidays cannot be read", "face: off"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	r.addResident("A", "1001", "1234")
	r.swipe("1001", "1234")
	r.expectOpen("card and PIN with a damaged face model", 5*time.Second)
}

// TestLostStoreOrDamagedMeta: a deleted store file, a flipped bit in the
// key verifier, a schema number no gated wrote: each is served from the
// newest backup with the alarm, not a new empty store that lets nobody in,
// and not a crash loop (the red team's F2 and F3).
func TestLostStoreOrDamagedMeta(t *testing.T) {
	r := startRig(t)
	r.addResident("A", "1001", "1234")
	r.stop()
	db := r.dir + "/data/gated.db"
	for _, b := range mustGlob(t, r.dir+"/data/backups/*") {
		os.Remove(b)
	}
	r.start()
	r.waitBackup()
	r.stop()
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// flipAfter flips a byte of the value stored right after a meta key,
	// in every copy of it: bbolt copies a page on write, so the file also
	// holds stale copies on free pages, and the first one found need not
	// be the live one.
	flipAfter := func(key string, at int) []byte {
		c := bytes.Clone(good)
		n := 0
		for off := 0; ; {
			i := bytes.Index(good[off:], []byte(key))
			if i < 0 {
				break
			}
			c[off+i+len(key)+at] ^= 0x01
			off += i + len(key)
			n++
		}
		if n == 0 {
			t.Fatalf("no %q in the store file", key)
		}
		return c
	}
	for _, tt := range []struct {
		name string
		file []byte // nil: the file is gone
		want string
	}{
		{"store deleted", nil, "missing"},
		{"key verifier flipped", flipAfter("kek-verifier", 5), "damaged"},
		{"schema number flipped", flipAfter("schema", 3), "damaged"},
	} {
		if tt.file == nil {
			os.Remove(db)
		} else if err := os.WriteFile(db, tt.file, 0o600); err != nil {
			t.Fatal(err)
		}
		r.start()
		var st struct {
			Degraded string
			Store    struct{ Residents int }
		}
		json.Unmarshal([]byte(r.gated("status", "--json")), &st)
		if !strings.Contains(st.Degraded, "backup") || st.Store.Residents != 1 {
			t.Errorf("%s: degraded %q with %d residents; want served from the backup", tt.name, st.Degraded, st.Store.Residents)
		}
		r.drainOpens()
		r.swipe("1001", "1234")
		r.expectOpen(tt.name+": card and PIN from the backup", 5*time.Second)
		r.stop()
		if tt.file == nil {
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("%s: a new store file was made while serving the backup", tt.name)
			}
		}
	}
}

// TestDegradedServesEveryRevocation: staff change a PIN, revoke a card and
// disable a resident; the store is then damaged. The backup served must
// hold those changes: the old PIN, the revoked card and the disabled
// resident open nothing (the red team's F4: they all opened).
func TestDegradedServesEveryRevocation(t *testing.T) {
	r := startRigWith(t, map[string]string{"store.backup_after_change": `"1s"`})
	a := r.addResident("A", "1001", "1234")
	b := r.addResident("B", "2002", "2345")
	c := r.addResident("C", "3003", "3456")
	r.addResident("D", "4004", "4567")
	time.Sleep(1500 * time.Millisecond) // the backup after those changes
	if out, err := r.gatedErr("9876\n", "pin", "set", a); err != nil {
		t.Fatal(out)
	}
	r.gated("card", "revoke", b, "2002")
	r.gated("resident", "disable", c)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var bs []struct{ Taken time.Time }
		json.Unmarshal([]byte(r.gated("backup", "list", "--json")), &bs)
		if len(bs) > 0 && time.Since(bs[0].Taken) < 900*time.Millisecond {
			break // taken after the last change settled
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup within 15 s of the last change: %+v", bs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.stop()
	os.WriteFile(r.dir+"/data/gated.db", []byte("damaged beyond repair"), 0o600)
	r.start()
	if st := r.gated("status"); !strings.Contains(st, "STORE DAMAGED") {
		t.Fatalf("not degraded:\n%s", st)
	}
	for _, tt := range []struct{ what, card, pin string }{
		{"A's old PIN", "1001", "1234"},
		{"B's revoked card", "2002", "2345"},
		{"C, disabled", "3003", "3456"},
	} {
		r.drainOpens()
		r.swipe(tt.card, tt.pin)
		r.expectShut(tt.what+" while degraded", 2*time.Second)
	}
	r.swipe("1001", "9876")
	r.expectOpen("A's new PIN while degraded", 5*time.Second)
	// A backup of the store served read-only is refused, not a 0-byte file
	// (the red team's F14).
	if out, err := r.gatedErr("", "backup", "--out", r.dir+"/degraded.bak"); err == nil {
		t.Errorf("gated backup while degraded succeeded: %s", out)
	}
	if _, err := os.Stat(r.dir + "/degraded.bak"); !os.IsNotExist(err) {
		t.Errorf("gated backup while degraded left a file: %v", err)
	}
	r.swipe("4004", "4567")
	r.expectOpen("D, unchanged, while degraded", 5*time.Second)
}
