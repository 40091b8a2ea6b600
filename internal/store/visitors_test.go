package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// passDB opens a store with a settable clock.
func passDB(t *testing.T) (*DB, *testClock, string, KEK) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gated.db")
	kek := mustKEK(t)
	clk := newTestClock()
	opts := testOptions(t)
	opts.Now = clk.Now
	db, err := Open(path, kek, opts)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, clk, path, kek
}

func TestPassCodeOneUseSurvivesRestart(t *testing.T) {
	db, clk, path, kek := passDB(t)
	now := clk.Now()
	p, err := db.AddPass("staff:0", NewPass{Name: "courier", From: now, Until: now.Add(2 * time.Hour), Uses: 1})
	if err != nil {
		t.Fatalf("AddPass = %v", err)
	}
	if len(p.Code) != PassCodeDigits {
		t.Fatalf("len(code) = %d, want %d", len(p.Code), PassCodeDigits)
	}
	id, err := db.FindPassCode(p.Code)
	if err != nil || id != p.ID {
		t.Fatalf("FindPassCode(code) = %q, %v; want %q", id, err, p.ID)
	}
	if _, err := db.FindPassCode("0000000000"); !errors.Is(err, ErrNotFound) && p.Code != "0000000000" {
		t.Errorf("FindPassCode(wrong) = %v, want ErrNotFound", err)
	}
	if _, err := db.UsePass(id, "front"); err != nil {
		t.Fatalf("first UsePass = %v", err)
	}
	if _, err := db.UsePass(id, "front"); !errors.Is(err, ErrPassUsedUp) {
		t.Errorf("second UsePass = %v, want ErrPassUsedUp", err)
	}
	db.Close()
	opts := testOptions(t)
	opts.Now = clk.Now
	db2, err := Open(path, kek, opts)
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	if _, err := db2.UsePass(id, "front"); !errors.Is(err, ErrPassUsedUp) {
		t.Errorf("UsePass after restart = %v, want ErrPassUsedUp", err)
	}
	db2.Close()
	if err := Check(path, kek); err != nil {
		t.Errorf("Check = %v", err)
	}
	// The code is nowhere in the file.
	raw := readFile(t, path)
	if strings.Contains(string(raw), p.Code) {
		t.Error("the code is stored in clear")
	}
}

func TestPassRefusals(t *testing.T) {
	db, clk, _, _ := passDB(t)
	now := clk.Now()
	p, err := db.AddPass("staff:0", NewPass{Name: "plumber", Reader: "front", From: now.Add(time.Hour), Until: now.Add(3 * time.Hour), Uses: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UsePass(p.ID, "front"); !errors.Is(err, ErrPassNotYet) {
		t.Errorf("UsePass before From = %v, want ErrPassNotYet", err)
	}
	clk.set(now.Add(2 * time.Hour))
	if _, err := db.UsePass(p.ID, "back"); !errors.Is(err, ErrPassWrongReader) {
		t.Errorf("UsePass at back = %v, want ErrPassWrongReader", err)
	}
	if got, err := db.UsePass(p.ID, "front"); err != nil || got.Used != 1 {
		t.Errorf("UsePass = %+v, %v; want Used 1", got, err)
	}
	clk.set(now.Add(3 * time.Hour))
	if _, err := db.UsePass(p.ID, "front"); !errors.Is(err, ErrPassExpired) {
		t.Errorf("UsePass at Until = %v, want ErrPassExpired", err)
	}
	clk.set(now.Add(2 * time.Hour))
	if err := db.RevokePass("staff:0", p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UsePass(p.ID, "front"); !errors.Is(err, ErrPassRevoked) {
		t.Errorf("UsePass revoked = %v, want ErrPassRevoked", err)
	}
	if err := db.RevokePass("staff:0", "v-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokePass(unknown) = %v, want ErrNotFound", err)
	}
	for _, bad := range []NewPass{
		{Name: "", From: now, Until: now.Add(time.Hour), Uses: 1},
		{Name: "x", From: now, Until: now, Uses: 1},
		{Name: "x", From: now, Until: now.Add(time.Hour), Uses: 0},
		{Name: "x", From: now, Until: now.Add(400 * 24 * time.Hour), Uses: 1},
		{Name: "a\nb", From: now, Until: now.Add(time.Hour), Uses: 1},
	} {
		if _, err := db.AddPass("staff:0", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddPass(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPassQR(t *testing.T) {
	db, clk, _, _ := passDB(t)
	now := clk.Now()
	p, err := db.AddPass("staff:0", NewPass{Name: "guest", From: now, Until: now.Add(time.Hour), Uses: 2})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.CheckPassQR(p.QR)
	if err != nil || id != p.ID {
		t.Fatalf("CheckPassQR = %q, %v; want %q", id, err, p.ID)
	}
	// Altered validity (a longer pass), altered uses, another pass ID:
	// the signature no longer verifies.
	f := strings.Split(p.QR, ".")
	for i, v := range map[int]string{4: "99999999999", 5: "9", 2: "v-0123456789ab"} {
		g := append([]string(nil), f...)
		g[i] = v
		if _, err := db.CheckPassQR(strings.Join(g, ".")); !errors.Is(err, ErrPassForged) {
			t.Errorf("CheckPassQR(field %d = %s) = %v, want ErrPassForged", i, v, err)
		}
	}
	// Another gate's pass.
	other, oclk, _, _ := passDB(t)
	op, err := other.AddPass("staff:0", NewPass{Name: "guest", From: oclk.Now(), Until: oclk.Now().Add(time.Hour), Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CheckPassQR(op.QR); !errors.Is(err, ErrPassForged) {
		t.Errorf("CheckPassQR(other gate's) = %v, want ErrPassForged", err)
	}
	if _, err := db.CheckPassQR("1234567890"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckPassQR(a number) = %v, want ErrInvalid", err)
	}
}

func TestCountPassesIssued(t *testing.T) {
	db, clk, _, _ := passDB(t)
	now := clk.Now()
	for range 2 {
		if _, err := db.AddPass("r-1", NewPass{Name: "g", From: now, Until: now.Add(time.Hour), Uses: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.CountPassesIssued("r-1", now.Add(-time.Hour)); err != nil || n != 2 {
		t.Errorf("CountPassesIssued = %d, %v; want 2", n, err)
	}
	if n, _ := db.CountPassesIssued("r-2", now.Add(-time.Hour)); n != 0 {
		t.Errorf("CountPassesIssued(other) = %d, want 0", n)
	}
}

func FuzzParsePassQR(f *testing.F) {
	f.Add("GATED1.0a1b2c3d.v-0123456789ab.1700000000.1700007200.1.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("GATED1....")
	f.Add("1234567890")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParsePassQR(s)
		if err != nil {
			return
		}
		if !validPassID(q.Pass) || q.Uses < 1 || !q.Until.After(q.From) || len(q.mac) != 16 {
			t.Errorf("ParsePassQR(%q) = %+v accepted", s, q)
		}
	})
}

func FuzzDecodePass(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodePass(b)
		if err == nil && (r.Uses < 1 || r.Used > r.Uses) {
			t.Errorf("decodePass accepted %+v", r)
		}
	})
}

// TestPrunePasses (red team, issue 15): passes that ended more than
// PassKeep ago are removed (the visitor's name and the code's hash with
// them), live ones and recent ones are kept, and a pruned pass's code and
// QR no longer open anything.
func TestPrunePasses(t *testing.T) {
	db, clk, _, _ := passDB(t)
	now := clk.Now()
	add := func(name string, until time.Duration, uses int) IssuedPass {
		t.Helper()
		p, err := db.AddPass("staff:0", NewPass{Name: name, From: now, Until: now.Add(until), Uses: uses})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	used := add("courier", 24*time.Hour, 1)
	if _, err := db.UsePass(used.ID, "front"); err != nil {
		t.Fatal(err)
	}
	expired := add("plumber", 2*time.Hour, 3)
	long := add("nanny", 300*24*time.Hour, 100)
	clk.set(now.Add(PassKeep + 12*time.Hour)) // the courier's ended 30.5 days ago, the plumber's 30.4
	if n, err := db.PrunePasses("system", PassKeep); err != nil || n != 2 {
		t.Fatalf("PrunePasses = %d, %v; want 2", n, err)
	}
	ps, err := db.Passes()
	if err != nil || len(ps) != 1 || ps[0].ID != long.ID {
		t.Fatalf("Passes after pruning = %+v, %v; want only the nanny's", ps, err)
	}
	if _, err := db.FindPassCode(expired.Code); !errors.Is(err, ErrNotFound) {
		t.Errorf("a pruned pass's code: %v, want ErrNotFound", err)
	}
	if _, err := db.CheckPassQR(used.QR); err == nil {
		t.Errorf("a pruned pass's QR was accepted")
	}
	if n, err := db.PrunePasses("system", PassKeep); err != nil || n != 0 {
		t.Errorf("PrunePasses again = %d, %v; want 0", n, err)
	}
}
