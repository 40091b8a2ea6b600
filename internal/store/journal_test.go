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
			if _, err := os.Stat(jpath); err != nil {
				t.Errorf("refused journal: %v, want it kept", err)
			}
		})
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
