package records

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/store"
)

// Format is an export's file format.
type Format string

// Export formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// ParseFormat reads a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(s)) {
	case CSV:
		return CSV, nil
	case JSONL, "json", "ndjson", "":
		return JSONL, nil
	}
	return "", fmt.Errorf("export format %q: want csv or jsonl", s)
}

// ContentType is the MIME type of an export in f.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// CSVHeader names the columns of a CSV export. time is RFC 3339 with
// nanoseconds, in UTC, exactly as hashed; prev and hash are hex; problem
// says why the entry does not verify (empty when it does).
var CSVHeader = []string{"seq", "time", "kind", "actor", "subject", "outcome", "detail", "prev", "hash", "problem"}

// Writer writes one export: Entry for each record, then Finish with what
// the check found. It buffers; Finish flushes.
type Writer struct {
	f   Format
	bw  *bufio.Writer
	cw  *csv.Writer
	err error
}

// NewWriter starts an export in f on w (the CSV header row first).
func NewWriter(w io.Writer, f Format) *Writer {
	x := &Writer{f: f, bw: bufio.NewWriterSize(w, 64<<10)}
	if f == CSV {
		x.cw = csv.NewWriter(x.bw)
		x.err = x.cw.Write(CSVHeader)
	}
	return x
}

// entryJSON is one line of a JSON lines export: the fields of
// store.ExportAudit's lines, and the entry's problem or damage.
type entryJSON struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time,omitzero"`
	Kind    string    `json:"kind,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Prev    string    `json:"prev,omitempty"`
	Hash    string    `json:"hash,omitempty"`
	Problem string    `json:"problem,omitempty"`
	Damaged string    `json:"damaged,omitempty"`
	Raw     string    `json:"raw,omitempty"`
}

// Entry writes one record.
func (x *Writer) Entry(r store.AuditRecord) error {
	if x.err != nil {
		return x.err
	}
	if x.f == CSV {
		x.err = x.cw.Write(csvRow(r))
		return x.err
	}
	e := entryJSON{Seq: r.Seq, Problem: r.Problem, Damaged: r.Damaged}
	if r.Damaged != "" {
		e.Raw = hex.EncodeToString(r.Raw)
	} else {
		e.Time, e.Kind, e.Actor, e.Subject, e.Outcome, e.Detail = r.Time, string(r.Kind), r.Actor, r.Subject, r.Outcome, r.Detail
		e.Prev, e.Hash = hex.EncodeToString(r.PrevHash[:]), hex.EncodeToString(r.Hash[:])
	}
	x.err = json.NewEncoder(x.bw).Encode(e)
	return x.err
}

func csvRow(r store.AuditRecord) []string {
	seq := strconv.FormatUint(r.Seq, 10)
	if r.Damaged != "" {
		return []string{seq, "", "", "", "", "", "", "", "", Cell(r.Problem + "; raw " + hex.EncodeToString(r.Raw))}
	}
	return []string{seq, r.Time.UTC().Format(time.RFC3339Nano), Cell(string(r.Kind)), Cell(r.Actor), Cell(r.Subject),
		Cell(r.Outcome), Cell(r.Detail), hex.EncodeToString(r.PrevHash[:]), hex.EncodeToString(r.Hash[:]), Cell(r.Problem)}
}

// Finish writes what the export holds and what the check found, and
// flushes: a last JSON line {"export":{...}}, or, in CSV, lines starting
// with # after the entries (encoding/csv's Comment, pandas' comment="#").
func (x *Writer) Finish(s api.AuditExport) error {
	if x.err != nil {
		return x.err
	}
	if x.f == CSV {
		x.cw.Flush()
		if x.err = x.cw.Error(); x.err != nil {
			return x.err
		}
		for _, l := range SummaryLines(s) {
			fmt.Fprintf(x.bw, "# %s\n", l)
		}
	} else {
		x.err = json.NewEncoder(x.bw).Encode(struct {
			Export api.AuditExport `json:"export"`
		}{s})
		if x.err != nil {
			return x.err
		}
	}
	x.err = x.bw.Flush()
	return x.err
}

// SummaryLines says in words what an export holds and what the check
// found: the CSV's closing lines and what gated audit export prints. No
// line has a comma, so a spreadsheet keeps each in one cell.
func SummaryLines(s api.AuditExport) []string {
	var l []string
	span := "whole log"
	if !s.From.IsZero() || !s.To.IsZero() {
		span = fmt.Sprintf("recorded from %s to before %s", stamp(s.From, "the start"), stamp(s.To, "the end"))
	}
	l = append(l, fmt.Sprintf("gated audit export of %s: %s", nonEmpty(s.Device, "this gate"), span))
	if s.Exported == 0 {
		l = append(l, "entries: none")
	} else {
		l = append(l, fmt.Sprintf("entries: %d (seq %d to %d)", s.Exported, s.First, s.Last))
	}
	l = append(l, "anchor (hash of entry "+strconv.FormatUint(s.First-1, 10)+"; the first entry links to it; the export before ends with it): "+s.Anchor)
	l = append(l, "last hash (the next export's anchor): "+s.LastHash)
	if s.OK {
		l = append(l, fmt.Sprintf("chain: VERIFIED from the anchor to the sealed head (entry %d; %s): %d entries decode and link and re-hash and the device key's seal names the last", s.Head, s.HeadHash, s.Walked))
	} else {
		l = append(l, fmt.Sprintf("chain: BROKEN at entry %d: %s (%d entries do not verify; rows are as stored and each says its problem)", s.FirstBad, s.Problem, s.Bad))
	}
	if s.ClockBack > 0 {
		l = append(l, fmt.Sprintf("clock: set back %d times among these entries; entries recorded around the bounds may lie outside them: export the whole log to see all", s.ClockBack))
	}
	for i := range l {
		l[i] = strings.ReplaceAll(l[i], ",", ";")
	}
	return l
}

func stamp(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func nonEmpty(s, or string) string {
	if s == "" {
		return or
	}
	return s
}

// Summary is the AuditExport of a walked range.
func Summary(device string, f Format, r store.AuditRange) api.AuditExport {
	return api.AuditExport{Device: device, From: r.From, To: r.To, Format: string(f), First: r.First, Last: r.Last, Exported: r.Exported,
		Anchor: hex.EncodeToString(r.Anchor[:]), LastHash: hex.EncodeToString(r.LastHash[:]), Head: r.Head,
		HeadHash: hex.EncodeToString(r.HeadHash[:]), Walked: r.Walked, OK: r.OK(), Problem: r.Problem, FirstBad: r.FirstBad,
		Bad: r.Bad, ClockBack: r.ClockBack}
}

// Cell makes s safe for a spreadsheet cell: text a spreadsheet would take
// for a formula or a command (starting with = + - @, a tab or carriage
// return, or their full-width forms ＝ ＋ － ＠) gets a ' in front, and so
// does text already starting with ', so that Uncell gives s back exactly.
// OWASP's "CSV injection" advice.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch {
	case strings.ContainsRune("=+-@\t\r'", rune(s[0])),
		strings.HasPrefix(s, "＝"), strings.HasPrefix(s, "＋"), strings.HasPrefix(s, "－"), strings.HasPrefix(s, "＠"):
		return "'" + s
	}
	return s
}

// Uncell is Cell's inverse: the text as stored (and hashed).
func Uncell(s string) string { return strings.TrimPrefix(s, "'") }
