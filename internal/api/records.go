package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gated-dev/gated/internal/control"
)

// AuditExport says what an audit export holds and what checking the chain
// found: the range asked for, the contiguous entries First..Last exported,
// the anchor they link to (the hash of entry First-1, which is the LastHash
// of the export before), and the walk from the anchor to the sealed head.
// It ends every export (a JSON line, or # lines of a CSV file) and is sent
// as the AuditExportTrailer.
type AuditExport struct {
	Device   string    `json:"device"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
	Format   string    `json:"format"`
	First    uint64    `json:"first"`
	Last     uint64    `json:"last"`
	Exported uint64    `json:"exported"`
	Anchor   string    `json:"anchor"`
	LastHash string    `json:"last_hash"`
	Head     uint64    `json:"head"`
	HeadHash string    `json:"head_hash"`
	Walked   uint64    `json:"walked"`
	// OK: every entry from the anchor to the sealed head decodes, links
	// and hashes, and the head's seal (the device key's) names the last.
	OK        bool   `json:"ok"`
	Problem   string `json:"problem,omitempty"`
	FirstBad  uint64 `json:"first_bad,omitempty"`
	Bad       int    `json:"bad,omitempty"`
	ClockBack int    `json:"clock_back,omitempty"`
}

// AuditExportTrailer is the HTTP trailer that carries an export's
// AuditExport as JSON.
const AuditExportTrailer = "Gated-Audit-Export"

// Activity is what the audit log says happened in a period: entries
// counted by kind and outcome, the gate's decisions by method and outcome,
// the visitor passes and the scheduled unlock windows, the reasons given
// for refusals, and the alarms with their start and end.
type Activity struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Entries uint64        `json:"entries"`
	Counts  []KindOutcome `json:"counts"`
	// Decisions counts the gate's decisions (access entries with a
	// method=) by method and outcome, refusals counted together in one
	// entry included with their number.
	Decisions []MethodOutcome `json:"decisions"`
	Passes    PassActivity    `json:"passes"`
	Unlocks   UnlockActivity  `json:"unlocks"`
	Reasons   []ReasonCount   `json:"reasons"`
	Alarms    []Alarm         `json:"alarms"`
	// AlarmsLeftOut counts alarms in the period not listed (the oldest).
	AlarmsLeftOut int `json:"alarms_left_out,omitempty"`
	// Verified: the chain from the period's first entry to the sealed
	// head checked (see AuditExport.OK).
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// KindOutcome counts audit entries of one kind and outcome.
type KindOutcome struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// MethodOutcome counts the gate's decisions of one method ("face",
// "card+pin", "visitor-code", "exit", ...) and outcome ("granted",
// "denied", "locked-out").
type MethodOutcome struct {
	Method  string `json:"method"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// PassActivity is what happened to visitor passes in a period.
type PassActivity struct {
	// Issued counts the passes issued at this gate (staff, and residents
	// at the kiosk), IssuedAtKiosk those of them residents issued; a pass
	// from the property office arrives in a bundle and is not counted.
	Issued        int `json:"issued"`
	IssuedAtKiosk int `json:"issued_at_kiosk"`
	// Granted and Refused count the uses of a pass: a code or QR that
	// named a pass, let in or refused (used up, expired, cancelled, at
	// another reader, locked out). A code that names no pass is a
	// refusal of its method in Decisions, not here.
	Granted int `json:"granted"`
	Refused int `json:"refused"`
	Revoked int `json:"revoked"`
}

// UnlockActivity is what the scheduled unlock windows did in a period.
type UnlockActivity struct {
	// Opened counts the windows that began (the door held unlocked),
	// Ended those that ended (the door locked again).
	Opened int `json:"opened"`
	Ended  int `json:"ended"`
	// Held is how long the windows that ended in the period held the door
	// unlocked, in all (each as the gate measured it, from its start,
	// which may be before the period); EndedByRestart counts ends whose
	// length is not known (gated stopped inside the window) and are not
	// in Held.
	Held           Duration `json:"held"`
	EndedByRestart int      `json:"ended_by_restart,omitempty"`
	// HeldAtEnd: a window still held the door at the end of the period.
	HeldAtEnd bool `json:"held_at_end,omitempty"`
}

// ReasonCount counts entries of one kind and outcome that gave one reason (the
// reason= of their detail): why people were refused.
type ReasonCount struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
}

// Alarm is one alarm: when it was raised and when it ended.
type Alarm struct {
	Name     string    `json:"name"`
	Actor    string    `json:"actor"`
	Start    time.Time `json:"start,omitzero"` // zero: raised before the period
	End      time.Time `json:"end,omitzero"`   // zero: not ended in the period
	StartSeq uint64    `json:"start_seq,omitempty"`
	EndSeq   uint64    `json:"end_seq,omitempty"`
}

// ExportAuditRange writes the audit entries recorded in [from, to) to w in
// format ("csv" or "jsonl"; zero times: no bound) and returns what the
// export holds and the chain's check, from the response's trailer.
func (c *Client) ExportAuditRange(ctx context.Context, from, to time.Time, format string, w io.Writer) (AuditExport, error) {
	q := url.Values{"format": {format}}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	resp, err := c.c.Send(ctx, "GET", "/v0/audit/export?"+q.Encode(), "application/octet-stream", nil)
	if err != nil {
		return AuditExport{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := resp.Status
		var e struct {
			Error string `json:"error"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e) == nil && e.Error != "" {
			msg = e.Error
		}
		return AuditExport{}, &control.APIError{Status: resp.StatusCode, Message: msg}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return AuditExport{}, err
	}
	var x AuditExport
	t := resp.Trailer.Get(AuditExportTrailer)
	if t == "" {
		return x, fmt.Errorf("audit export: the daemon ended the export without its check (it may have failed half-way: see its log)")
	}
	if err := json.Unmarshal([]byte(t), &x); err != nil {
		return x, fmt.Errorf("audit export: the check does not decode: %w", err)
	}
	return x, nil
}

// ReportFor returns the report with the activity of [from, to) (zero
// times: the last 30 days).
func (c *Client) ReportFor(ctx context.Context, from, to time.Time) (r Report, err error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339Nano))
	}
	err = c.c.Do(ctx, "GET", "/v0/report?"+q.Encode(), nil, &r)
	return
}
