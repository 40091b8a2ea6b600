package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/testenv"
	"github.com/gated-dev/gated/internal/testenv/syncthingtest"
)

// syncSetup is the script that writes both sides' Syncthing configuration
// (run by syncthingtest; read and checked by syncunits_test.go).
const syncSetup = "syncthing/gated-sync-setup"

// arrived reports whether path holds exactly want.
func arrived(path string, want []byte) bool {
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(got, want)
}

// writeBundle writes data to dir/name as the office tool and the daemon
// do: a hidden temporary file, then a rename into place; 0640, so that
// the other side's group can read it.
func writeBundle(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSyncthingCarriesBundles runs two real Syncthing instances on
// loopback, the property office and gate "front", each with its own home
// and keys, configured by deploy/syncthing/gated-sync-setup as on a
// compound (no discovery, no relays, no NAT), and checks the transport's
// promises: a bundle the office writes into outbox/front reaches the gate's
// inbox, byte for byte; an event bundle the gate writes into its outbox
// reaches the office's collect/front; temporary and other files never
// travel; a file put into the gate's inbox on the gate is not sent back,
// and one the gate removes (imported) is neither removed at the office nor
// fetched again. It measures the time from write to arrival.
func TestSyncthingCarriesBundles(t *testing.T) {
	syncthing := syncthingtest.Program(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	dir := t.TempDir()
	officeHome, gateHome := filepath.Join(dir, "office-home"), filepath.Join(dir, "gate-home")
	spool := filepath.Join(dir, "spool") // the office's /var/spool/gated-office
	outbox, collect := filepath.Join(spool, "outbox"), filepath.Join(spool, "collect")
	gateInbox, gateOutbox := filepath.Join(dir, "gate", "inbox"), filepath.Join(dir, "gate", "outbox")

	pair := syncthingtest.Configure(t, syncthing, syncthingtest.Layout{Gate: "front", OfficeHome: officeHome, GateHome: gateHome,
		Outbox: outbox, Collect: collect, Inbox: gateInbox, GateOutbox: gateOutbox})
	officeID, gateID := pair.OfficeID, pair.GateID
	if officeID == gateID || !regexp.MustCompile(`^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$`).MatchString(officeID) {
		t.Fatalf("device IDs %q, %q: want two different Syncthing IDs", officeID, gateID)
	}
	if again := syncthingtest.Setup(t, syncthing, "id", officeHome); again != officeID {
		t.Fatalf("gated-sync-setup id made a new key: %s, then %s", officeID, again)
	}
	for _, home := range []string{officeHome, gateHome} {
		cfg := read(t, filepath.Join(home, "config.xml"))
		for _, want := range []string{"<globalAnnounceEnabled>false<", "<localAnnounceEnabled>false<", "<relaysEnabled>false<",
			"<natEnabled>false<", "<urAccepted>-1<", "<crashReportingEnabled>false<", "<autoUpgradeIntervalH>0<", "<versioning></versioning>",
			"<address>127.0.0.1:", "<password>$2a$"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s/config.xml lacks %q", filepath.Base(home), want)
			}
		}
	}
	officeOut := filepath.Join(outbox, "front")
	officeCollect := filepath.Join(collect, "front")

	office := syncthingtest.Start(t, syncthing, "office", officeHome, "")
	gate := syncthingtest.Start(t, syncthing, "gate", gateHome, filepath.Join(dir, "gate.strace"))

	// 1. A bundle from the office reaches the gate's inbox; beside it a
	// leftover temporary file and a stray file that must not travel.
	b1 := randomBytes(t, 64<<10)
	writeBundle(t, officeOut, "0001.gbundle", b1)
	os.WriteFile(filepath.Join(officeOut, ".0002.gbundle.tmp"), []byte("half a bundle"), 0o640)
	os.WriteFile(filepath.Join(officeOut, "notes.txt"), []byte("not a bundle"), 0o640)
	t0 := time.Now()
	if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(gateInbox, "0001.gbundle"), b1) }) {
		t.Fatalf("0001.gbundle written in the office's outbox/front never reached the gate's inbox")
	}
	first := time.Since(t0)
	t.Logf("first bundle (both just started: connect, index exchange, pull): %v after the write, %v after start", first, time.Since(start))

	// 2. An event bundle from the gate reaches the office's collect/front.
	e1 := randomBytes(t, 16<<10)
	writeBundle(t, gateOutbox, "0001.gevents", e1)
	if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(officeCollect, "0001.gevents"), e1) }) {
		t.Fatalf("0001.gevents written in the gate's outbox never reached the office's collect/front")
	}

	// 3. Write to arrival, connected: a few runs each way.
	var down, up []time.Duration
	for i := 2; i <= 6; i++ {
		b, e := randomBytes(t, 32<<10), randomBytes(t, 8<<10)
		name := fmt.Sprintf("%04d", i)
		t0 := time.Now()
		writeBundle(t, officeOut, name+".gbundle", b)
		if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(gateInbox, name+".gbundle"), b) }) {
			t.Fatalf("%s.gbundle never reached the gate", name)
		}
		down = append(down, time.Since(t0))
		t0 = time.Now()
		writeBundle(t, gateOutbox, name+".gevents", e)
		if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(officeCollect, name+".gevents"), e) }) {
			t.Fatalf("%s.gevents never reached the office", name)
		}
		up = append(up, time.Since(t0))
	}
	t.Logf("write to arrival on loopback: office->gate median %v %v, gate->office median %v %v", median(down), down, median(up), up)

	// 4. On the gate: a file put into the receive-only inbox, and a
	// bundle the daemon imported and removed.
	local := []byte("written on the gate")
	writeBundle(t, gateInbox, "9999.gbundle", local)
	if err := os.Remove(filepath.Join(gateInbox, "0001.gbundle")); err != nil {
		t.Fatal(err)
	}
	var status syncthingtest.FolderStatus
	if !syncthingtest.WaitFor(ctx, func() bool {
		var err error
		status, err = gate.Folder("gated-front-bundles")
		return err == nil && status.ChangedFiles == 1 && status.ChangedDeletes == 1
	}) {
		t.Fatalf("the gate's Syncthing never saw the two local changes in its inbox: %+v, want 1 file and 1 delete changed locally", status)
	}
	// The next bundle still arrives: the folder kept working; by then
	// the gate's index, local changes included, has reached the office.
	b7 := randomBytes(t, 1<<10)
	writeBundle(t, officeOut, "0007.gbundle", b7)
	if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(gateInbox, "0007.gbundle"), b7) }) {
		t.Fatalf("0007.gbundle never reached the gate after its local changes")
	}
	e7 := randomBytes(t, 1<<10)
	writeBundle(t, gateOutbox, "0007.gevents", e7)
	if !syncthingtest.WaitFor(ctx, func() bool { return arrived(filepath.Join(officeCollect, "0007.gevents"), e7) }) {
		t.Fatalf("0007.gevents never reached the office")
	}
	time.Sleep(2 * time.Second) // two watcher delays: any change it would send, it has sent
	if _, err := os.Stat(filepath.Join(officeOut, "9999.gbundle")); !os.IsNotExist(err) {
		t.Errorf("a file put into the gate's receive-only inbox reached the office's outbox (%v)", err)
	}
	if !arrived(filepath.Join(officeOut, "0001.gbundle"), b1) {
		t.Errorf("removing 0001.gbundle from the gate's inbox changed the office's copy")
	}
	if _, err := os.Stat(filepath.Join(gateInbox, "0001.gbundle")); !os.IsNotExist(err) {
		t.Errorf("0001.gbundle, removed on the gate, is back in its inbox (%v)", err)
	}
	for _, stray := range []string{".0002.gbundle.tmp", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(gateInbox, stray)); !os.IsNotExist(err) {
			t.Errorf("%s travelled to the gate (%v): only *.gbundle may", stray, err)
		}
	}
	// What the gate received: regular files, readable by gated (the
	// unit's UMask=0022; the inbox keeps everyone else out).
	fi, err := os.Lstat(filepath.Join(gateInbox, "0007.gbundle"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("received bundle: %v, %v; want a regular file others can read", fi.Mode(), err)
	}
	var conns struct {
		Connections map[string]struct {
			Connected bool   `json:"connected"`
			Address   string `json:"address"`
			Type      string `json:"type"`
		} `json:"connections"`
	}
	if err := office.REST("/rest/system/connections", &conns); err != nil {
		t.Fatal(err)
	}
	if c := conns.Connections[gateID]; !c.Connected || !strings.HasPrefix(c.Type, "tcp") || !strings.Contains(c.Address, "127.0.0.1:") {
		t.Errorf("office's connection to the gate = %+v, want direct TCP on loopback (no relay)", c)
	}

	// The gate's Syncthing made only system calls gated-sync.service
	// allows: a filter that broke it would fail here, not on the gate.
	gate.Stop()
	t.Logf("whole test until the gate stopped: %v", time.Since(start))
	sa := testenv.Program(t, "systemd-analyze", "systemd")
	allowed := unitSyscalls(t, sa, read(t, "gated-sync.service"))
	tr := read(t, filepath.Join(dir, "gate.strace"))
	used := tracedSyscalls(tr)
	if len(used) < 30 || used["openat"] == 0 || used["renameat"]+used["rename"]+used["renameat2"] == 0 {
		t.Fatalf("only %d distinct system calls traced, or no open and rename: the trace is not Syncthing's receiving files", len(used))
	}
	if d := denied(allowed, used); len(d) > 0 {
		t.Errorf("gated-sync.service's SystemCallFilter= denies system calls Syncthing made: %v", d)
	}
	t.Logf("the gate's Syncthing made %d distinct system calls, all allowed by gated-sync.service", len(used))
}
