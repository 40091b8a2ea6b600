package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openTestJournal(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatalf("OpenJournal = %v", err)
	}
	j.now = newTestClock().Now
	t.Cleanup(func() { j.Close() })
	return j
}

// TestJournalImport: decisions journaled while the store is damaged reach
// the audit chain with their own times, marked, and the journal goes.
func TestJournalImport(t *testing.T) {
	db, path, _ := newTestDB(t)
	jpath := filepath.Join(filepath.Dir(path), "audit.journal")
	j := openTestJournal(t, jpath)
	events := []Event{
		{Kind: KindAccess, Actor: "gate:front", Subject: "r-0123456789ab", Outcome: "granted", Detail: "method=card+pin (backup)"},
		{Kind: KindAccess, Actor: "gate:back", Outcome: "denied", Detail: "unknown card"},
		{Kind: KindAdmin, Actor: "system", Outcome: "alarm", Detail: strings.Repeat("x", maxAuditDetail)},
	}
	var written []AuditEntry
	for _, ev := range events {
		a, err := j.AppendAudit(ev)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, a)
	}
	if _, err := j.AppendAudit(Event{Kind: "bogus", Actor: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendAudit(bad kind) = %v, want ErrInvalid", err)
	}
	if fi, err := os.Stat(jpath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal file: %v, want mode 0600", err)
	}
	j.Close()
	// Reopened, it continues the chain.
	j = openTestJournal(t, jpath)
	a, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "denied", Detail: "wrong PIN"})
	if err != nil || a.Seq != 4 || a.PrevHash != written[2].Hash {
		t.Fatalf("append after reopen = %+v, %v; want seq 4 linked to entry 3", a, err)
	}
	written = append(written, a)
	j.Close()

	before, _ := db.Stats()
	n, err := db.ImportJournal(jpath)
	if err != nil || n != 4 {
		t.Fatalf("ImportJournal = %d, %v; want 4", n, err)
	}
	if _, err := os.Stat(jpath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after import: %v, want removed", err)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Errorf("VerifyAudit after import = %v", err)
	}
	var got []AuditEntry
	db.ForEachAudit(before.AuditEntries+1, func(a AuditEntry) error { got = append(got, a); return nil })
	if len(got) != 5 {
		t.Fatalf("%d entries after import, want 4 and the import's own", len(got))
	}
	for i, w := range written {
		g := got[i]
		if !g.Time.Equal(w.Time) || g.Kind != w.Kind || g.Actor != w.Actor || g.Subject != w.Subject || g.Outcome != w.Outcome {
			t.Errorf("imported entry %d = %+v, want the journal's time and fields %+v", i, g, w)
		}
		if !strings.HasPrefix(g.Detail, journalMarker) || len(g.Detail) > maxAuditDetail {
			t.Errorf("imported entry %d detail = %q, want it marked and at most %d bytes", i, g.Detail, maxAuditDetail)
		}
	}
	if !strings.Contains(got[4].Detail, "imported 4 entries") {
		t.Errorf("last entry = %q, want the import recorded", got[4].Detail)
	}
	// Importing nothing is fine.
	if n, err := db.ImportJournal(jpath); n != 0 || err != nil {
		t.Errorf("ImportJournal(missing) = %d, %v; want 0, nil", n, err)
	}
}

// TestJournalTornLine replays a crash in the middle of an append: the torn
// line is skipped at import (and cut off when the journal is reopened).
func TestJournalTornLine(t *testing.T) {
	db, path, _ := newTestDB(t)
	jpath := filepath.Join(filepath.Dir(path), "audit.journal")
	j := openTestJournal(t, jpath)
	for range 2 {
		if _, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "granted"}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	whole := readFile(t, jpath)
	torn := append(bytes.Clone(whole), []byte(`{"seq":3,"time":"2026-11-23T09:00:0`)...)
	writeTestFile(t, jpath, torn)

	var logs bytes.Buffer
	db.log = newBufferLogger(&logs)
	n, err := db.ImportJournal(jpath)
	if err != nil || n != 2 {
		t.Fatalf("ImportJournal with a torn last line = %d, %v; want 2, nil", n, err)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Errorf("log = %q, want a warning about the torn line", logs.String())
	}

	writeTestFile(t, jpath, torn)
	j = openTestJournal(t, jpath)
	if !bytes.Equal(readFile(t, jpath), whole) {
		t.Error("OpenJournal did not cut off the torn line")
	}
	if a, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "denied"}); err != nil || a.Seq != 3 {
		t.Errorf("append after a torn line = %+v, %v; want seq 3", a, err)
	}
}

// TestJournalRefusesEdits: an edited, removed or reordered line is found,
// and the journal is kept for the operator.
func TestJournalRefusesEdits(t *testing.T) {
	db, path, _ := newTestDB(t)
	jpath := filepath.Join(filepath.Dir(path), "audit.journal")
	j := openTestJournal(t, jpath)
	for _, o := range []string{"granted", "denied", "granted"} {
		if _, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: o}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	good := readFile(t, jpath)
	lines := strings.SplitAfter(string(good), "\n")
	for _, tt := range []struct {
		name, content string
	}{
		{"edited outcome", strings.Replace(string(good), "denied", "granted", 1)},
		{"line removed", lines[0] + lines[2]},
		{"lines swapped", lines[1] + lines[0] + lines[2]},
		{"not JSON", "hello\n"},
		{"unknown field", strings.Replace(lines[0], `{"seq"`, `{"x":1,"seq"`, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writeTestFile(t, jpath, []byte(tt.content))
			before, _ := db.Stats()
			if n, err := db.ImportJournal(jpath); !errors.Is(err, ErrCorrupt) || n != 0 {
				t.Errorf("ImportJournal(%s) = %d, %v; want 0, ErrCorrupt", tt.name, n, err)
			}
			if after, _ := db.Stats(); after.AuditEntries != before.AuditEntries {
				t.Error("a refused import appended entries")
			}
			if got := readFile(t, jpath); !bytes.Equal(got, []byte(tt.content)) {
				t.Errorf("refused journal = %q, want it kept as it was", got)
			}
		})
	}
}

// TestJournalDamagedMovedAside replays red-team finding F10: a damaged
// journal plus a damaged store made the daemon exit, because OpenJournal
// returned only ErrCorrupt. Now it moves the damaged file aside (kept,
// 0600), starts a new journal, and returns it with a *JournalMovedError
// saying where the file went; ImportJournal of a damaged journal keeps
// the file and names it and the fix.
func TestJournalDamagedMovedAside(t *testing.T) {
	db, path, _ := newTestDB(t)
	dir := filepath.Dir(path)
	jpath := filepath.Join(dir, "audit.journal")
	j := openTestJournal(t, jpath)
	for _, o := range []string{"granted", "denied", "granted"} {
		if _, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: o}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	damaged := readFile(t, jpath)
	i := bytes.Index(damaged, []byte("denied"))
	damaged[i] ^= 0x20 // one flipped bit: "Denied"
	writeTestFile(t, jpath, damaged)

	// The store is restored: the import refuses, keeps the file, says
	// which and how to fix it.
	before, _ := db.Stats()
	n, err := db.ImportJournal(jpath)
	if !errors.Is(err, ErrCorrupt) || n != 0 || !strings.Contains(err.Error(), jpath) || !strings.Contains(err.Error(), "fix: keep it as the record of that time and move it aside, mv "+jpath) {
		t.Errorf("ImportJournal(damaged) = %d, %v; want 0, ErrCorrupt naming the file and the fix", n, err)
	}
	if after, _ := db.Stats(); after.AuditEntries != before.AuditEntries {
		t.Error("a refused import appended entries")
	}
	if !bytes.Equal(readFile(t, jpath), damaged) {
		t.Error("ImportJournal changed the damaged journal")
	}

	// The store is damaged again: the daemon opens the journal and must
	// go on.
	var moved []string
	for round := range 2 { // twice in the same second: no file replaced
		j, err := OpenJournal(jpath)
		var me *JournalMovedError
		if j == nil || !errors.As(err, &me) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenJournal(damaged), round %d = %v, %v; want a journal and a *JournalMovedError wrapping ErrCorrupt", round, j, err)
		}
		if me.Path != jpath || !strings.HasPrefix(me.MovedTo, jpath+".damaged-") || !strings.Contains(err.Error(), me.MovedTo) || !strings.Contains(err.Error(), "journal line 2") {
			t.Errorf("JournalMovedError = %+v (%q), want Path %s, MovedTo %s.damaged-<time>, both and the damage in the message", me, err, jpath, jpath)
		}
		moved = append(moved, me.MovedTo)
		if fi, err := os.Stat(me.MovedTo); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("moved journal %s: %v, want it kept with mode 0600", me.MovedTo, err)
		}
		if got := readFile(t, me.MovedTo); !bytes.Equal(got, damaged) {
			t.Errorf("moved journal = %q, want the damaged bytes unchanged", got)
		}
		j.now = newTestClock().Now
		a, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:back", Outcome: "granted"})
		if err != nil || a.Seq != 1 {
			t.Errorf("append to the new journal = %+v, %v; want seq 1", a, err)
		}
		j.Close()
		writeTestFile(t, jpath, damaged) // damaged again, for round 2
	}
	if moved[0] == moved[1] {
		t.Errorf("both damaged journals moved to %s", moved[0])
	}
	// A good journal opens with no error at all.
	os.Remove(jpath)
	j, err = OpenJournal(jpath)
	if err != nil {
		t.Errorf("OpenJournal(new) = %v, want nil", err)
	}
	j.Close()
}

// TestJournalTooLarge: a journal over 1 GiB (sparse here) is damaged, not
// cut to 1 GiB as a torn line.
func TestJournalTooLarge(t *testing.T) {
	jpath := filepath.Join(t.TempDir(), "audit.journal")
	f, err := os.OpenFile(jpath, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxJournalSize + 10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	j, err := OpenJournal(jpath)
	var me *JournalMovedError
	if !errors.As(err, &me) || j == nil {
		t.Fatalf("OpenJournal(1 GiB + 10) = %v, %v; want a new journal and a *JournalMovedError", j, err)
	}
	j.Close()
	if fi, err := os.Stat(me.MovedTo); err != nil || fi.Size() != maxJournalSize+10 {
		t.Errorf("moved journal: %v, %v; want it kept whole", fi, err)
	}
}

// TestJournalLongTail: an unterminated tail longer than a line (zeros
// after a crash, a file overwritten) is damage, moved aside whole, not a
// torn line to cut off; ImportJournal keeps it too.
func TestJournalLongTail(t *testing.T) {
	db, path, _ := newTestDB(t)
	jpath := filepath.Join(filepath.Dir(path), "audit.journal")
	j := openTestJournal(t, jpath)
	if _, err := j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "granted"}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	content := append(readFile(t, jpath), make([]byte, maxJournalLine+1)...)
	writeTestFile(t, jpath, content)
	if n, err := db.ImportJournal(jpath); !errors.Is(err, ErrCorrupt) || n != 0 || !bytes.Equal(readFile(t, jpath), content) {
		t.Errorf("ImportJournal(long tail) = %d, %v; want 0, ErrCorrupt, the file kept", n, err)
	}
	j, err := OpenJournal(jpath)
	var me *JournalMovedError
	if !errors.As(err, &me) || j == nil || !strings.Contains(err.Error(), "without a newline") {
		t.Fatalf("OpenJournal(long tail) = %v, %v; want a new journal and a *JournalMovedError", j, err)
	}
	j.Close()
	if got := readFile(t, me.MovedTo); !bytes.Equal(got, content) {
		t.Errorf("moved journal is %d bytes, want the %d it had", len(got), len(content))
	}
}

// TestJournalImportedOnce: a crash after the import committed and before
// the file was removed must not import it twice.
func TestJournalImportedOnce(t *testing.T) {
	db, path, _ := newTestDB(t)
	jpath := filepath.Join(filepath.Dir(path), "audit.journal")
	j := openTestJournal(t, jpath)
	j.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Outcome: "granted"})
	j.Close()
	saved := readFile(t, jpath)
	if n, err := db.ImportJournal(jpath); n != 1 || err != nil {
		t.Fatalf("ImportJournal = %d, %v", n, err)
	}
	writeTestFile(t, jpath, saved) // as if the removal had not happened
	before, _ := db.Stats()
	if n, err := db.ImportJournal(jpath); n != 0 || err != nil {
		t.Errorf("second ImportJournal of the same journal = %d, %v; want 0, nil", n, err)
	}
	if after, _ := db.Stats(); after.AuditEntries != before.AuditEntries {
		t.Error("the same journal was imported twice")
	}
	if _, err := os.Stat(jpath); !errors.Is(err, os.ErrNotExist) {
		t.Error("journal not removed after the repeated import")
	}
}
