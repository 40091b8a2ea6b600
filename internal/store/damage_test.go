package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// manifest is what a damaged copy of the sweep store must still serve if
// it opens: every resident, each card and PIN, each resident's templates.
type manifest struct {
	Residents []manifestResident `json:"residents"`
	Templates int                `json:"templates"`
	Secret    string             `json:"secret"`
}

type manifestResident struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Cards     []string `json:"cards"`
	PIN       string   `json:"pin"`
	Templates int      `json:"templates"`
}

func readManifest(path string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	return m, err
}

// check uses everything the manifest lists, as the gate would.
func (m manifest) check(db *DB) error {
	for _, r := range m.Residents {
		got, err := db.Resident(r.ID)
		if err != nil || got.Name != r.Name {
			return fmt.Errorf("Resident(%s) = %+v, %v; want %q", r.ID, got, err, r.Name)
		}
		for _, c := range r.Cards {
			if id, err := db.LookupCard(c); err != nil || id != r.ID {
				return fmt.Errorf("LookupCard(%s) = %q, %v; want %s", c, id, err, r.ID)
			}
		}
		if ok, err := db.VerifyPIN(r.ID, r.PIN); err != nil || !ok {
			return fmt.Errorf("VerifyPIN(%s) = %v, %v; want true", r.ID, ok, err)
		}
		if ts, err := db.Templates(r.ID); err != nil || len(ts) != r.Templates {
			return fmt.Errorf("Templates(%s) = %d, %v; want %d", r.ID, len(ts), err, r.Templates)
		}
	}
	n := 0
	if err := db.ForEachTemplate("", func(Template) error { n++; return nil }); err != nil || n != m.Templates {
		return fmt.Errorf("ForEachTemplate = %d, %v; want %d", n, err, m.Templates)
	}
	if s, err := db.Secret("osdp/front"); err != nil || string(s) != m.Secret {
		return fmt.Errorf("Secret = %q, %v", s, err)
	}
	if _, err := db.Stats(); err != nil {
		return err
	}
	if _, err := db.PendingDestructions(); err != nil {
		return err
	}
	if _, err := db.Failures("card:1001"); err != nil {
		return err
	}
	if r, err := db.VerifyAudit(); err != nil && !errors.Is(err, ErrAuditBroken) {
		return fmt.Errorf("VerifyAudit = %+v, %v", r, err)
	}
	return nil
}

// buildDamageStore writes a real store with residents, cards, PINs,
// templates, consents, deletions, settings, a secret, lock-out counters
// and audit entries, compacted so every page of it is live, and its
// manifest.
func buildDamageStore(t *testing.T, dir string) (path string, key []byte, manifestPath string) {
	t.Helper()
	key = randomBytes(KEKSize)
	kek, err := NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "gated.db")
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := newRand(1212)
	var m manifest
	m.Secret = "0123456789abcdef"
	if err := db.SetSecret("staff:test", "osdp/front", []byte(m.Secret)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting("staff:test", "kiosk.notice", bytes.Repeat([]byte("notice text "), 900)); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		name := fmt.Sprintf("Resident %02d", i)
		var res Resident
		n := 0
		if i%4 != 3 {
			n = 1 + i%3
			res, _ = addEnrolled(t, db, r, name, n)
		} else if res, err = db.AddResident("staff:test", Resident{Name: name, Unit: "9-" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		mr := manifestResident{ID: res.ID, Name: name, PIN: fmt.Sprintf("%04d", 1000+i), Templates: n}
		for c := range 1 + i%2 {
			card := fmt.Sprintf("%d%03d", 1+c, i)
			if err := db.AssignCard("staff:test", res.ID, card); err != nil {
				t.Fatal(err)
			}
			mr.Cards = append(mr.Cards, card)
		}
		if err := db.SetPIN("staff:test", res.ID, mr.PIN); err != nil {
			t.Fatal(err)
		}
		m.Residents = append(m.Residents, mr)
		m.Templates += n
	}
	for i := range 20 {
		if err := db.SetFailures(fmt.Sprintf("card:%d", 1000+i), Failures{N: 1 + i%3, Last: time.Date(2026, 11, 23, 9, i, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		if _, err := db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Subject: m.Residents[i%40].ID, Outcome: "granted", Detail: "method=card+pin"}); err != nil {
			t.Fatal(err)
		}
	}
	// A destroyed face and a deleted resident, then (by those deletions)
	// a compacted file: every page is live.
	gone, _ := addEnrolled(t, db, r, "Opts Out", 2)
	if _, err := db.DestroyFaceData("staff:desk", gone.ID, "opted out"); err != nil {
		t.Fatal(err)
	}
	moved, _ := addEnrolled(t, db, r, "Moves Out", 1)
	if _, err := db.DeleteResident("staff:desk", moved.ID, "moved out"); err != nil {
		t.Fatal(err)
	}
	m.Residents = append(m.Residents, manifestResident{ID: gone.ID, Name: "Opts Out", PIN: "4321"})
	if err := db.SetPIN("staff:test", gone.ID, "4321"); err != nil {
		t.Fatal(err)
	}
	if err := m.check(db); err != nil {
		t.Fatalf("the undamaged store fails its own manifest: %v", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	manifestPath = filepath.Join(dir, "manifest.json")
	writeTestFile(t, manifestPath, b)
	return path, key, manifestPath
}

// flipCopy copies src to dst with the 8 bytes at off inverted.
func flipCopy(t *testing.T, src, dst string, off int64) {
	t.Helper()
	b := readFile(t, src)
	for i := off; i < off+8 && i < int64(len(b)); i++ {
		b[i] ^= 0xff
	}
	writeTestFile(t, dst, b)
}

// sweepTally counts outcomes of opening damaged copies.
type sweepTally struct{ opened, refused, bad, crashed int }

func (s *sweepTally) add(t *testing.T, what string, code int, msg string) {
	t.Helper()
	switch code {
	case sweepOpened:
		s.opened++
	case sweepRefused:
		s.refused++
	case -1:
		s.crashed++
		t.Errorf("%s: the process died: %s", what, msg)
	default:
		s.bad++
		t.Errorf("%s: exit %d: %s", what, code, msg)
	}
}

// TestDamagedPageSweep replays the damage on a real store: for
// each page 2..31, 8 bytes inverted at page*4096+20, then Open in a child
// process (so a fault that recover cannot catch is seen). Every run must
// either open with every resident, card, PIN and template usable, or be
// refused with ErrCorrupt and a description; no panic, no fault.
func TestDamagedPageSweep(t *testing.T) {
	dir := t.TempDir()
	path, key, manifestPath := buildDamageStore(t, dir)
	size := int64(len(readFile(t, path)))
	if size < 32*4096 {
		t.Fatalf("sweep store is %d bytes, want at least 32 pages", size)
	}
	var tally sweepTally
	for page := int64(2); page <= 31; page++ {
		off := page*4096 + 20
		if off+8 > size {
			continue
		}
		damaged := filepath.Join(dir, fmt.Sprintf("damaged-%02d.db", page))
		flipCopy(t, path, damaged, off)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=sweep", helperPathEnv+"="+damaged,
			helperKeyEnv+"="+hex.EncodeToString(key), helperManifestEnv+"="+manifestPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := cmd.ProcessState.ExitCode()
		msg := strings.TrimSpace(string(out))
		if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "fatal error") {
			code, msg = -1, stderr.String()
		} else if err != nil && code != sweepOpened && code != sweepRefused && code != sweepBad {
			code, msg = -1, fmt.Sprintf("%v: %s", err, stderr.String())
		}
		tally.add(t, fmt.Sprintf("page %d", page), code, msg)
		t.Logf("page %2d: %s", page, msg)
		os.Remove(damaged)
	}
	t.Logf("sweep of pages 2-31 at +20: %d opened, %d refused, %d wrong, %d panics or faults", tally.opened, tally.refused, tally.bad, tally.crashed)
	if tally.refused == 0 {
		t.Error("no damaged copy was refused: the flips hit no live page, so the sweep proved nothing")
	}
}

// TestDamagedStructureSweep widens the sweep to every page of the store:
// for each page the walk reaches, 8 bytes inverted at the page header and
// at each of its first elements (and one flip in each free page), all
// opened by child processes, several files per process.
func TestDamagedStructureSweep(t *testing.T) {
	dir := t.TempDir()
	path, key, manifestPath := buildDamageStore(t, dir)
	type target struct {
		page uint64
		off  int64
		kind string
	}
	var targets []target
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	w := &pageWalker{r: f, size: fi.Size()}
	reached := map[uint64]bool{}
	w.visit = func(id uint64, flags uint16, count int, overflow uint64) {
		for o := uint64(0); o <= overflow; o++ {
			reached[id+o] = true
		}
		ps := int64(w.meta.pageSize)
		base := int64(id) * ps
		kind := map[uint16]string{flagBranch: "branch", flagLeaf: "leaf", flagFreelist: "freelist"}[flags]
		targets = append(targets, target{id, base, kind + " header"}, target{id, base + 8, kind + " header"})
		for e := range min(count, 3) {
			targets = append(targets, target{id, base + 16 + 16*int64(e), kind + " element"}, target{id, base + 24 + 16*int64(e), kind + " element"})
		}
	}
	if w.meta, err = w.pickMeta(); err != nil {
		t.Fatal(err)
	}
	if err := w.walk(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for id := uint64(2); id < w.meta.pgid; id++ {
		if !reached[id] {
			targets = append(targets, target{id, int64(id)*int64(w.meta.pageSize) + 20, "free"})
		}
	}
	var list []string
	for i, tg := range targets {
		p := filepath.Join(dir, fmt.Sprintf("d%04d.db", i))
		flipCopy(t, path, p, tg.off)
		list = append(list, p)
	}
	listPath := filepath.Join(dir, "list")
	writeTestFile(t, listPath, []byte(strings.Join(list, "\n")))

	var tally sweepTally
	byKind := map[string][2]int{}
	next := 0
	for next < len(list) {
		writeTestFile(t, listPath, []byte(strings.Join(list[next:], "\n")))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=sweep-many", helperPathEnv+"="+listPath,
			helperKeyEnv+"="+hex.EncodeToString(key), helperManifestEnv+"="+manifestPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		started := -1
		for sc.Scan() {
			fields := strings.SplitN(sc.Text(), " ", 4)
			i, _ := strconv.Atoi(fields[1])
			switch fields[0] {
			case "start":
				started = next + i
			case "result":
				code, _ := strconv.Atoi(fields[2])
				tg := targets[next+i]
				tally.add(t, fmt.Sprintf("page %d offset %d (%s)", tg.page, tg.off%int64(w.meta.pageSize), tg.kind), code, fields[3])
				k := byKind[tg.kind]
				if code == sweepOpened {
					k[0]++
				} else {
					k[1]++
				}
				byKind[tg.kind] = k
				started = -1
			}
		}
		cmd.Wait()
		if started < 0 {
			break
		}
		tg := targets[started]
		tally.add(t, fmt.Sprintf("page %d offset %d (%s)", tg.page, tg.off%int64(w.meta.pageSize), tg.kind), -1, stderr.String())
		next = started + 1
	}
	for kind, k := range byKind {
		t.Logf("%-16s %3d opened, %3d refused", kind, k[0], k[1])
	}
	t.Logf("structure sweep, %d damaged copies of a %d-page store: %d opened, %d refused, %d wrong, %d panics or faults",
		len(targets), w.meta.pgid, tally.opened, tally.refused, tally.bad, tally.crashed)
	if got := tally.opened + tally.refused + tally.bad + tally.crashed; got != len(targets) {
		t.Errorf("%d outcomes for %d damaged copies", got, len(targets))
	}
}

// TestOpenDescribesDamage checks that the refusal says what is damaged, in
// words an operator can act on, for damage inside records that bbolt's
// structure check cannot see.
func TestOpenDescribesDamage(t *testing.T) {
	db, path, kek := newTestDB(t)
	r := newRand(77)
	a, _ := addEnrolled(t, db, r, "Alice", 2)
	if err := db.AssignCard("staff:test", a.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN("staff:test", a.ID, "1234"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	good := readFile(t, path)
	tests := []struct {
		name   string
		mutate func(db *DB) error
		want   []string
	}{
		{"resident record", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketResidents).Put([]byte(a.ID), []byte{1, 2, 3})
			})
		}, []string{"bucket residents", a.ID}},
		{"PIN record", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketPINs).Put([]byte(a.ID), []byte{9})
			})
		}, []string{"bucket pins", a.ID, "unknown version"}},
		{"card of nobody", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketCards).Put(bytes.Repeat([]byte{1}, 32), encodeCard(cardRecord{ResidentID: "r-000000000000"}))
			})
		}, []string{"bucket cards", "r-000000000000", "not in the store"}},
		{"template ciphertext", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketTemplates).Cursor()
				k, v := c.First()
				v = bytes.Clone(v)
				v[len(v)-1] ^= 1
				return tx.Bucket(bucketTemplates).Put(bytes.Clone(k), v)
			})
		}, []string{"bucket templates", "failed authentication", a.ID}},
		{"data key without templates", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketDataKeys).Put([]byte("r-00000000000z"), db.kek.wrap(randomBytes(32), dataKeyAD("r-00000000000z")))
			})
		}, []string{"bucket datakeys"}},
		{"audit head", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				m := tx.Bucket(bucketMeta)
				h := bytes.Clone(m.Get(metaAuditHead))
				h[len(h)-1] ^= 1
				return m.Put(metaAuditHead, h)
			})
		}, []string{"audit-head", "seal does not verify"}},
		{"unknown bucket", func(db *DB) error {
			return db.bolt.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("stray"))
				return err
			})
		}, []string{"unexpected bucket stray"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "gated.db")
			writeTestFile(t, p, good)
			bdb, err := Open(p, kek, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.mutate(bdb); err != nil {
				t.Fatal(err)
			}
			bdb.Close()
			before := readFile(t, p)
			_, err = Open(p, kek, testOptions(t))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open = %q, want it to name %q", err, w)
				}
			}
			if cerr := Check(p, kek); !errors.Is(cerr, ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", cerr)
			}
			if !bytes.Equal(readFile(t, p), before) {
				t.Error("a refused Open changed the file")
			}
		})
	}
}

// TestReadsRecoverFaults checks that a read of a page that vanished under
// the memory map (the file shrunk after Open, as a failing disk or another
// program might do) becomes ErrCorrupt instead of killing the process.
func TestReadsRecoverFaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gated.db")
	kek := mustKEK(t)
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := newRand(78)
	for range 40 {
		addEnrolled(t, db, r, "Filler", 3)
	}
	if err := os.Truncate(path, 2*4096); err != nil {
		t.Fatal(err)
	}
	if err := db.ForEachTemplate("", func(Template) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ForEachTemplate over a truncated file = %v, want ErrCorrupt", err)
	}
	if err := db.ForEachResident(func(Resident) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ForEachResident over a truncated file = %v, want ErrCorrupt", err)
	}
	if _, err := db.Stats(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Stats over a truncated file = %v, want ErrCorrupt", err)
	}
}

// TestCallbackPanicIsNotDamage: a panic in the caller's own callback is
// the caller's bug; it must not be reported as a damaged file.
func TestCallbackPanicIsNotDamage(t *testing.T) {
	db, _, _ := newTestDB(t)
	addEnrolled(t, db, newRand(79), "Resident", 1)
	for name, walk := range map[string]func() error{
		"ForEachResident": func() error { return db.ForEachResident(func(Resident) error { panic("caller bug") }) },
		"ForEachTemplate": func() error { return db.ForEachTemplate("", func(Template) error { panic("caller bug") }) },
		"ForEachAudit":    func() error { return db.ForEachAudit(1, func(AuditEntry) error { panic("caller bug") }) },
	} {
		func() {
			defer func() {
				if r := recover(); r != "caller bug" {
					t.Errorf("%s: recovered %v, want the callback's own panic", name, r)
				}
			}()
			err := walk()
			t.Errorf("%s returned %v, want the callback's panic to go on", name, err)
		}()
	}
	// The store is still usable afterwards.
	if _, err := db.Stats(); err != nil {
		t.Errorf("Stats after the panics = %v", err)
	}
}

// TestRefusesFileWithoutFreelist: a bbolt file written without a stored
// freelist (NoFreelistSync, another program) is not gated's; bbolt would
// rebuild its freelist with a check that panics in its own goroutine.
func TestRefusesFileWithoutFreelist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gated.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("meta"))
		return b.Put([]byte("magic"), []byte(magic))
	})
	bdb.Close()
	before := readFile(t, path)
	if _, err := Open(path, mustKEK(t), testOptions(t)); !errors.Is(err, ErrNotStore) {
		t.Errorf("Open of a file without a freelist = %v, want ErrNotStore", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("Open changed the file")
	}
}
