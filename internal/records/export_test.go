package records

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/store"
)

// formulaStart is what a spreadsheet takes as the start of a formula.
func formulaStart(s string) bool {
	if s == "" {
		return false
	}
	for _, p := range []string{"=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"granted", "granted"},
		{"=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"},
		{"+1", "'+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"＝1+1", "'＝1+1"},
		{"'quoted", "''quoted"},
		{"method=card", "method=card"},
	} {
		if got := Cell(tc.in); got != tc.want {
			t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Uncell(Cell(tc.in)); got != tc.in {
			t.Errorf("Uncell(Cell(%q)) = %q, want it back", tc.in, got)
		}
	}
}

func record(seq uint64, detail string) store.AuditRecord {
	var r store.AuditRecord
	r.Seq, r.Time, r.Kind, r.Actor, r.Subject, r.Outcome, r.Detail = seq, time.Date(2026, 11, 1, 8, 0, 0, 123456789, time.UTC),
		store.KindAccess, "gate", "r-1", "granted", detail
	r.Hash[0], r.PrevHash[0] = byte(seq), byte(seq-1)
	return r
}

// TestCSVExportInjection writes a resident-controlled text that a
// spreadsheet would run (a formula in a detail, a command in a subject) and
// reads the file back as a spreadsheet would see it.
func TestCSVExportInjection(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, CSV)
	evil := []string{"=cmd|' /C calc'!A0", "+SUM(1)", "-1+2", "@x", "＝1", "plain, with \"quotes\"\nand a newline"}
	for i, d := range evil {
		r := record(uint64(i+1), d)
		r.Subject = d
		if err := w.Entry(r); err != nil {
			t.Fatal(err)
		}
	}
	damaged := store.AuditRecord{Damaged: "does not decode", Raw: []byte{1, 2}, Problem: "=entry does not decode"}
	damaged.Seq = 99
	if err := w.Entry(damaged); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(api.AuditExport{Device: "=gate", OK: true, First: 1, Last: 6, Exported: 6}); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	cr := csv.NewReader(&buf)
	cr.Comment = '#'
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("reading the export back: %v", err)
	}
	if len(rows) != len(evil)+2 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("export has %d rows (header %v), want header + %d", len(rows), rows[0], len(evil)+1)
	}
	for i, row := range rows[1:] {
		for j, c := range row {
			if formulaStart(c) {
				t.Errorf("row %d column %s = %q: a spreadsheet would run it", i+1, CSVHeader[j], c)
			}
		}
		if i < len(evil) && (Uncell(row[6]) != evil[i] || Uncell(row[4]) != evil[i]) {
			t.Errorf("row %d: detail, subject = %q, %q; Uncell gives %q, want %q", i+1, row[6], row[4], Uncell(row[6]), evil[i])
		}
	}
	if got := rows[1][1]; got != "2026-11-01T08:00:00.123456789Z" {
		t.Errorf("time cell = %q, want RFC 3339 with nanoseconds, as hashed", got)
	}
	// The closing lines: one cell each (no comma), none a formula.
	closing := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "#") {
			closing++
			if !strings.HasPrefix(l, "# ") || strings.Contains(l, ",") || formulaStart(strings.TrimPrefix(l, "# ")) {
				t.Errorf("closing line %q: want '# ', no comma, no formula", l)
			}
		}
	}
	if closing < 4 || !strings.Contains(text, "# chain: VERIFIED") {
		t.Errorf("export ends with %d # lines, want at least 4 with the chain's check:\n%s", closing, text)
	}
}

func TestJSONLExport(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, JSONL)
	for i := range 3 {
		if err := w.Entry(record(uint64(i+1), "method=card")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(api.AuditExport{OK: false, Problem: "entry was altered", FirstBad: 2}); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	var n int
	var last map[string]json.RawMessage
	for {
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		last = m
	}
	if n != 4 || last["export"] == nil {
		t.Fatalf("export has %d lines ending %v, want 3 entries and the export line", n, last)
	}
	var x api.AuditExport
	if err := json.Unmarshal(last["export"], &x); err != nil || x.OK || x.FirstBad != 2 {
		t.Errorf("export line = %+v, %v; want the broken check", x, err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"csv": CSV, "CSV": CSV, "jsonl": JSONL, "": JSONL} {
		if got, err := ParseFormat(in); got != want || err != nil {
			t.Errorf("ParseFormat(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("xlsx"); err == nil {
		t.Error("ParseFormat(xlsx) = nil error, want one naming csv and jsonl")
	}
}

// FuzzCSVCell: any text an entry may hold comes back exactly from the CSV
// file, and no cell starts as a formula.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"=1+1", "'=x", "a,b", "\"", "－", "@", "-", "granted"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		w := NewWriter(&buf, CSV)
		r := record(1, s)
		r.Actor, r.Subject, r.Outcome = s, s, s
		if err := w.Entry(r); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(api.AuditExport{}); err != nil {
			t.Fatal(err)
		}
		cr := csv.NewReader(&buf)
		cr.Comment = '#'
		rows, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("reading back %q: %v", s, err)
		}
		if len(rows) != 2 {
			t.Fatalf("%q: %d rows, want 2", s, len(rows))
		}
		for j, c := range rows[1] {
			if formulaStart(c) {
				t.Errorf("column %s = %q: a spreadsheet would run it", CSVHeader[j], c)
			}
		}
		// encoding/csv turns \r\n into \n inside quoted fields.
		want := strings.ReplaceAll(s, "\r\n", "\n")
		if got := Uncell(rows[1][6]); got != want && !strings.Contains(s, "\r") {
			t.Errorf("detail %q comes back as %q", s, got)
		}
	})
}
