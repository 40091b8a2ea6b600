package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/records"
)

type listedEntry struct {
	Seq                                   uint64
	Time                                  time.Time
	Kind, Actor, Subject, Outcome, Detail string
	Hash                                  string
}

func (r *gateRig) auditList() []listedEntry {
	r.t.Helper()
	var es []listedEntry
	if err := json.Unmarshal([]byte(r.gated("audit", "list", "--limit", "10000", "--json")), &es); err != nil {
		r.t.Fatal(err)
	}
	return es
}

// TestAuditExportRange exports a time range of a real gate's audit log as
// CSV and as JSON lines and checks each entry against gated audit list, the
// anchor against the entry before the range, and the chain's check; then
// alters one entry in the stopped gate's file (an attacker with write
// access but not the key) and checks that the export says where the chain
// is broken and exits with an error, while still handing over every entry.
func TestAuditExportRange(t *testing.T) {
	r := startRig(t)
	id := r.addResident("Export Tester", "5550001", "2468")
	r.swipe("5550001", "2468")
	r.expectOpen("card and PIN", 5*time.Second)
	r.swipe("5550001", "1111")
	time.Sleep(500 * time.Millisecond)
	r.gated("resident", "update", id, "--unit", "2-202")

	all := r.auditList()
	if len(all) < 8 {
		t.Fatalf("audit list has %d entries, want the store's, the resident's and two decisions", len(all))
	}
	// A range from entry k to before the resident's update: exactly the
	// entries between, the two decisions among them.
	k, m := 3, slices.IndexFunc(all, func(e listedEntry) bool { return e.Detail == "resident updated" })
	if m < k {
		t.Fatalf("no resident update after entry %d in %+v", k, all)
	}
	from, to := all[k-1].Time.Format(time.RFC3339Nano), all[m].Time.Format(time.RFC3339Nano)
	want := all[k-1 : m]

	csvPath := r.dir + "/export.csv"
	out := r.gated("audit", "export", "--from", from, "--to", to, "--format", "csv", "--out", csvPath)
	if !strings.Contains(out, "chain: VERIFIED") || !strings.Contains(out, fmt.Sprintf("entries: %d (seq %d to %d)", len(want), want[0].Seq, want[len(want)-1].Seq)) {
		t.Errorf("gated audit export says:\n%s\nwant the chain verified and %d entries (seq %d to %d)", out, len(want), want[0].Seq, want[len(want)-1].Seq)
	}
	if fi, err := os.Stat(csvPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file: %v, %v; want mode 0600", fi, err)
	}
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.Comment = '#'
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("the CSV export does not read back: %v\n%s", err, raw)
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("CSV has %d rows, want header + %d:\n%s", len(rows), len(want), raw)
	}
	for i, row := range rows[1:] {
		e := want[i]
		got := []string{row[0], row[1], records.Uncell(row[2]), records.Uncell(row[3]), records.Uncell(row[4]), records.Uncell(row[5]), records.Uncell(row[6]), row[8], row[9]}
		exp := []string{fmt.Sprint(e.Seq), e.Time.UTC().Format(time.RFC3339Nano), e.Kind, e.Actor, e.Subject, e.Outcome, e.Detail, e.Hash, ""}
		if strings.Join(got, "|") != strings.Join(exp, "|") {
			t.Errorf("CSV row %d = %q, want %q (gated audit list)", i+1, got, exp)
		}
		for j, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("CSV row %d column %s = %q: a spreadsheet would take it for a formula", i+1, records.CSVHeader[j], c)
			}
		}
		if i == 0 && row[7] != all[k-2].Hash {
			t.Errorf("first row's prev = %s, want the hash of entry %d (%s)", row[7], all[k-2].Seq, all[k-2].Hash)
		}
	}
	if !bytes.Contains(raw, []byte("# anchor (hash of entry "+fmt.Sprint(all[k-2].Seq)+"; the first entry links to it; the export before ends with it): "+all[k-2].Hash)) {
		t.Errorf("CSV does not end with the anchor %s:\n%s", all[k-2].Hash, raw)
	}

	// The same range as JSON lines, on standard output.
	out = r.gated("audit", "export", "--from", from, "--to", to, "--format", "jsonl")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var x struct {
		Export struct {
			OK                    bool
			First, Last, Exported uint64
			Anchor                string
			LastHash              string `json:"last_hash"`
			Head                  uint64
		}
	}
	if len(lines) < len(want)+1 {
		t.Fatalf("jsonl export has %d lines, want %d and the export line:\n%s", len(lines), len(want)+1, out)
	}
	for i, e := range want {
		var got listedEntry
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil || got != e {
			t.Errorf("jsonl line %d = %+v (%v), want %+v", i+1, got, err, e)
		}
	}
	if err := json.Unmarshal([]byte(lines[len(want)]), &x); err != nil || !x.Export.OK || x.Export.Exported != uint64(len(want)) ||
		x.Export.Anchor != all[k-2].Hash || x.Export.LastHash != want[len(want)-1].Hash || x.Export.Head < all[len(all)-1].Seq {
		t.Errorf("jsonl export line = %+v (%v), want OK, %d entries, anchor %s, last hash %s", x.Export, err, len(want), all[k-2].Hash, want[len(want)-1].Hash)
	}
	// Each export is itself audited.
	after := r.auditList()
	if last := after[len(after)-1]; last.Outcome != "exported" || !strings.Contains(last.Detail, "jsonl") {
		t.Errorf("last audit entry = %+v, want the jsonl export recorded", last)
	}

	// gated report: the period's activity from the audit log.
	var rep struct {
		Activity struct {
			Entries  uint64
			Verified bool
			Counts   []struct {
				Kind, Outcome string
				Count         int
			}
			Reasons   []struct{ Reason string }
			Decisions []struct {
				Method, Outcome string
				Count           int
			}
		}
	}
	if err := json.Unmarshal([]byte(r.gated("report", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range rep.Activity.Counts {
		counts[c.Kind+"/"+c.Outcome] = c.Count
	}
	if !rep.Activity.Verified || counts["access/granted"] != 1 || counts["access/denied"] != 1 || counts["admin/exported"] != 2 || len(rep.Activity.Reasons) == 0 {
		t.Errorf("report activity = %+v, want the chain verified, one grant, one refusal with its reason, two exports", rep.Activity)
	}
	var byMethod []string
	for _, d := range rep.Activity.Decisions {
		byMethod = append(byMethod, fmt.Sprintf("%s %s %d", d.Method, d.Outcome, d.Count))
	}
	if !slices.Contains(byMethod, "card+pin granted 1") || !slices.Contains(byMethod, "card+pin denied 1") {
		t.Errorf("report decisions = %q, want card+pin granted 1 and denied 1", byMethod)
	}
	if txt := r.gated("report"); !strings.Contains(txt, "KIND") || !strings.Contains(txt, "Alarms (") ||
		!strings.Contains(txt, "METHOD") || !strings.Contains(txt, "Visitor passes: 0 issued") || !strings.Contains(txt, "Unlock windows by schedule: 0 opened") {
		t.Errorf("gated report does not show the activity (decisions by method, passes, unlock windows):\n%s", txt)
	}

	// An attacker with write access to the file alters the refused
	// decision into a grant, keeping the entry decodable.
	var altered uint64
	for _, e := range all {
		if e.Kind == "access" && e.Outcome == "denied" {
			altered = e.Seq
		}
	}
	r.stop()
	db, err := bolt.Open(r.dir+"/data/gated.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		key := []byte{0, 0, 0, 0, 0, 0, 0, byte(altered)}
		v := bytes.Clone(b.Get(key))
		i := bytes.Index(v, []byte("denied"))
		if i < 0 {
			return fmt.Errorf("entry %d has no 'denied'", altered)
		}
		copy(v[i:], "GRANTD")
		return b.Put(key, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	out, err = r.gatedErr("", "audit", "export", "--from", from, "--to", to, "--format", "csv", "--out", r.dir+"/tampered.csv")
	if err == nil || !strings.Contains(out, fmt.Sprintf("BROKEN at entry %d", altered)) || !strings.Contains(out, "altered") {
		t.Errorf("export of a tampered log: %v\n%s\nwant a failure naming entry %d as altered", err, out, altered)
	}
	raw, _ = os.ReadFile(r.dir + "/tampered.csv")
	if !bytes.Contains(raw, []byte(fmt.Sprintf("%d,", altered))) || !bytes.Contains(raw, []byte("entry was altered (hash mismatch)")) {
		t.Errorf("tampered export does not hand over entry %d with its problem:\n%s", altered, raw)
	}
	// A range before the altered entry still walks to the head, so it
	// reports the break too.
	out, err = r.gatedErr("", "audit", "export", "--to", all[altered-3].Time.Format(time.RFC3339Nano))
	if err == nil || !strings.Contains(out, "BROKEN") {
		t.Errorf("export of the entries before the altered one: %v\n%s\nwant the break reported", err, out)
	}
}
