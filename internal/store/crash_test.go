package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crashLoop is the crash helper's body: enroll residents forever, each
// with 1 to 3 templates (the count is in its name), plus a card now and
// then, until the parent kills the process.
func crashLoop(db *DB) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; ; i++ {
		n := 1 + i%3
		res, err := db.AddResident("staff:crash", Resident{Name: fmt.Sprintf("crash-%d", n), Unit: strconv.Itoa(i)})
		if err != nil {
			panic(err)
		}
		if _, err := db.Enroll("staff:crash", res.ID, testEnrollment(r, n)); err != nil {
			panic(err)
		}
		if i%5 == 0 {
			if err := db.AssignCard("staff:crash", res.ID, fmt.Sprintf("card-%d-%x", i, r.Uint64())); err != nil {
				panic(err)
			}
		}
	}
}

// TestCrashWhileEnrolling kills an enrolling child process with SIGKILL at
// random moments, several times over, and checks after each kill that the
// store opens, its audit chain verifies and every resident is whole.
func TestCrashWhileEnrolling(t *testing.T) {
	key := randomBytes(KEKSize)
	kek, err := NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gated.db")
	rng := newRand(uint64(time.Now().UnixNano()))
	const rounds = 8
	for round := range rounds {
		cmd, stdin := startHelper(t, "crash", path, key)
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		stdin.Close()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, want killed by SIGKILL", round, err)
		}
		checkWhole(t, path, kek, round)
	}
}

// checkWhole opens the store and checks its invariants after a crash.
func checkWhole(t *testing.T, path string, kek KEK, round int) {
	t.Helper()
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("round %d: Open after SIGKILL = %v", round, err)
	}
	defer db.Close()
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("round %d: bbolt check: %v", round, err)
	}
	if rep, err := db.VerifyAudit(); err != nil {
		t.Fatalf("round %d: VerifyAudit = %+v, %v", round, rep, err)
	}
	var residents, enrolled, templates int
	var all []Resident
	if err := db.ForEachResident(func(r Resident) error { all = append(all, r); return nil }); err != nil {
		t.Fatal(err)
	}
	check := func(r Resident) error {
		residents++
		want, err := strconv.Atoi(strings.TrimPrefix(r.Name, "crash-"))
		if err != nil {
			return fmt.Errorf("resident %s has name %q", r.ID, r.Name)
		}
		has, err := db.HasFaceData(r.ID)
		if err != nil {
			return err
		}
		ts, err := db.Templates(r.ID)
		if err != nil {
			return err
		}
		cs, err := db.Consents(r.ID)
		if err != nil {
			return err
		}
		if !has {
			// Added, then killed before Enroll committed: no face data at all.
			if len(ts) != 0 || len(cs) != 0 {
				return fmt.Errorf("resident %s without data key has %d templates, %d consents", r.ID, len(ts), len(cs))
			}
			return nil
		}
		enrolled++
		templates += len(ts)
		if len(ts) != want || len(cs) != 1 || !cs[0].WithdrawnAt.IsZero() {
			return fmt.Errorf("resident %s: %d templates, %d consents; want %d templates and 1 standing consent", r.ID, len(ts), len(cs), want)
		}
		return nil
	}
	for _, r := range all {
		if err := check(r); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	s, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Residents != residents || s.ResidentsWithFace != enrolled || s.Templates != templates {
		t.Errorf("round %d: Stats = %d residents, %d with face, %d templates; counted %d, %d, %d",
			round, s.Residents, s.ResidentsWithFace, s.Templates, residents, enrolled, templates)
	}
	loaded := 0
	if err := db.ForEachTemplate("", func(Template) error { loaded++; return nil }); err != nil || loaded != templates {
		t.Errorf("round %d: ForEachTemplate loaded %d, %v; want %d, nil", round, loaded, err, templates)
	}
	t.Logf("round %d: %d residents, %d enrolled, %d templates, %d audit entries", round, residents, enrolled, templates, s.AuditEntries)
}
