package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gated-dev/gated/internal/control"
)

// Client calls the daemon's staff API.
type Client struct {
	c *control.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client { return &Client{c: &control.Client{Path: socket}} }

// ClientOver returns a client that uses c (tests dial their own way).
func ClientOver(c *control.Client) *Client { return &Client{c: c} }

func rpath(id string, rest ...string) string {
	p := "/v0/residents/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Status returns the gate's state.
func (c *Client) Status(ctx context.Context) (s Status, err error) {
	err = c.c.Do(ctx, "GET", "/v0/status", nil, &s)
	return
}

// Calibration returns how the gate may use faces, with the trade-off table.
func (c *Client) Calibration(ctx context.Context) (out Calibration, err error) {
	err = c.c.Do(ctx, "GET", "/v0/calibration", nil, &out)
	return
}

// Residents lists every resident.
func (c *Client) Residents(ctx context.Context) (rs []Resident, err error) {
	err = c.c.Do(ctx, "GET", "/v0/residents", nil, &rs)
	return
}

// AddResident adds a resident.
func (c *Client) AddResident(ctx context.Context, r NewResident) (out Resident, err error) {
	err = c.c.Do(ctx, "POST", "/v0/residents", r, &out)
	return
}

// Resident returns one resident with their consents.
func (c *Client) Resident(ctx context.Context, id string) (out Resident, err error) {
	err = c.c.Do(ctx, "GET", rpath(id), nil, &out)
	return
}

// UpdateResident changes a resident.
func (c *Client) UpdateResident(ctx context.Context, id string, u ResidentUpdate) (out Resident, err error) {
	err = c.c.Do(ctx, "PATCH", rpath(id), u, &out)
	return
}

// DeleteResident deletes a resident and everything held about them.
func (c *Client) DeleteResident(ctx context.Context, id, reason string) (out Deletion, err error) {
	err = c.c.Do(ctx, "DELETE", rpath(id), Reason{Reason: reason}, &out)
	return
}

// AssignCard gives a resident a card, and returns its number as readers
// send it (the daemon normalises what staff typed: "01001" is card 1001).
func (c *Client) AssignCard(ctx context.Context, id, number string) (string, error) {
	var out Card
	err := c.c.Do(ctx, "POST", rpath(id, "cards"), Card{number}, &out)
	return out.Number, err
}

// RevokeCard takes a card from a resident, and returns its normalised number.
func (c *Client) RevokeCard(ctx context.Context, id, number string) (string, error) {
	var out Card
	err := c.c.Do(ctx, "POST", rpath(id, "cards", "revoke"), Card{number}, &out)
	return out.Number, err
}

// SetPIN sets a resident's PIN.
func (c *Client) SetPIN(ctx context.Context, id, pin string) error {
	return c.c.Do(ctx, "PUT", rpath(id, "pin"), PIN{pin}, nil)
}

// ClearPIN removes a resident's PIN.
func (c *Client) ClearPIN(ctx context.Context, id string) error {
	return c.c.Do(ctx, "DELETE", rpath(id, "pin"), nil, nil)
}

// Enroll enrolls a resident's face.
func (c *Client) Enroll(ctx context.Context, id string, e Enroll) (out Enrolled, err error) {
	err = c.c.Do(ctx, "POST", rpath(id, "face"), e, &out)
	return
}

// DeleteFace destroys a resident's face data (opt-out) at once. requested
// is when the resident asked (a dated form); zero means now.
func (c *Client) DeleteFace(ctx context.Context, id, reason string, requested time.Time) (out Deletion, err error) {
	err = c.c.Do(ctx, "DELETE", rpath(id, "face"), Reason{Reason: reason, Requested: requested}, &out)
	return
}

// Reconsent records a resident's renewed consent; their face data stays.
func (c *Client) Reconsent(ctx context.Context, id string, e Enroll) (out Consent, err error) {
	err = c.c.Do(ctx, "POST", rpath(id, "consent"), e, &out)
	return
}

// Audit returns up to limit audit entries from sequence number from.
func (c *Client) Audit(ctx context.Context, from uint64, limit int) (es []AuditEntry, err error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(limit)}}
	err = c.c.Do(ctx, "GET", "/v0/audit?"+q.Encode(), nil, &es)
	return
}

// VerifyAudit checks the audit hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (v AuditVerify, err error) {
	err = c.c.Do(ctx, "GET", "/v0/audit/verify", nil, &v)
	return
}

// ExportAudit writes the whole audit log as JSON lines to w.
func (c *Client) ExportAudit(ctx context.Context, w io.Writer) error {
	return c.stream(ctx, "GET", "/v0/audit/export", nil, w)
}

// Report returns the data controller's report.
func (c *Client) Report(ctx context.Context) (r Report, err error) {
	err = c.c.Do(ctx, "GET", "/v0/report", nil, &r)
	return
}

// Notice returns the notice residents are shown, in a language ("zh", "en").
func (c *Client) Notice(ctx context.Context, lang string) (n Notice, err error) {
	err = c.c.Do(ctx, "GET", "/v0/notice?lang="+url.QueryEscape(lang), nil, &n)
	return
}

// RotateKey re-wraps every key under the KEK in newKeyFile.
func (c *Client) RotateKey(ctx context.Context, newKeyFile string) (r Rotated, err error) {
	err = c.c.Do(ctx, "POST", "/v0/keys/rotate", RotateKey{newKeyFile}, &r)
	return
}

// Backup writes a consistent, still encrypted copy of the store to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.stream(ctx, "GET", "/v0/backup", nil, w)
}

// Restore sends a backup; the daemon checks it against its key and
// restarts the gate on it.
func (c *Client) Restore(ctx context.Context, backup io.Reader) error {
	return c.stream(ctx, "POST", "/v0/restore", backup, io.Discard)
}

// Backups lists the automatic backups in the data directory, newest first.
func (c *Client) Backups(ctx context.Context) (out []Backup, err error) {
	err = c.c.Do(ctx, "GET", "/v0/backups", nil, &out)
	return
}

// RestoreBackup restores an automatic backup by name ("newest": the newest
// that verifies); the gate starts again on it.
func (c *Client) RestoreBackup(ctx context.Context, name string) error {
	return c.c.Do(ctx, "POST", "/v0/restore/backup", RestoreFrom{Backup: name}, nil)
}

// Decisions calls fn with each access decision as it happens, until ctx
// ends or fn returns an error.
func (c *Client) Decisions(ctx context.Context, fn func(Decision) error) error {
	resp, err := c.c.Send(ctx, "GET", "/v0/decisions", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var d Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}

func (c *Client) stream(ctx context.Context, method, path string, body io.Reader, w io.Writer) error {
	resp, err := c.c.Send(ctx, method, path, "application/octet-stream", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &control.APIError{Status: resp.StatusCode, Message: resp.Status}
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
