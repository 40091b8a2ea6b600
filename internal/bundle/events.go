package bundle

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Limits on an event bundle.
const (
	MaxAuditEntries = 1_000_000
	maxAuditText    = 128
	maxAuditDetail  = 160
	maxImportError  = 300
)

// Events is an event bundle's payload: what a gate reports to the office
// since its previous event bundle. It never holds a template or a photo:
// face data appears only as a count per resident.
type Events struct {
	Version  int    `json:"version"`
	Compound string `json:"compound"`
	Gate     string `json:"gate"`
	// Applied is the newest records bundle the gate has applied (0: none).
	Applied uint64 `json:"applied"`
	// Imports reports each records bundle the gate tried since the last
	// event bundle, applied or refused.
	Imports []Import `json:"imports,omitempty"`
	// Audit is the gate's audit chain from entry From on, in order; the
	// office checks that each links to the one before, and the first to
	// the last it holds (Prev of entry From).
	Audit []AuditEntry `json:"audit,omitempty"`
	// Faces counts the face templates the gate holds per resident the
	// office manages (residents without face data are absent).
	Faces map[string]int `json:"faces,omitempty"`
	// Receipts confirm erasure orders carried out at this gate.
	Receipts []Receipt `json:"receipts,omitempty"`
	// OptOuts are erasures asked at this gate (already carried out here),
	// for the office to order at the others.
	OptOuts []Erasure `json:"opt_outs,omitempty"`
}

// Import is the result of one records bundle at the gate.
type Import struct {
	Seq   uint64    `json:"seq"`
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// AuditEntry is one entry of a gate's audit chain, as the gate's store
// holds it (store.AuditEntry): the office recomputes Hash.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Prev    Digest    `json:"prev"`
	Hash    Digest    `json:"hash"`
}

// Digest is a SHA-256 value, hex in JSON.
type Digest [32]byte

// MarshalText writes d as hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(d[:])), nil }

// UnmarshalText reads 64 hex digits.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: digest is %d hex digits, want 64", ErrPayload, len(b))
	}
	if _, err := hex.Decode(d[:], b); err != nil {
		return fmt.Errorf("%w: digest: %v", ErrPayload, err)
	}
	return nil
}

// Receipt confirms that an erasure order was carried out at a gate.
type Receipt struct {
	Erasure   string    `json:"erasure"`
	Resident  string    `json:"resident"`
	At        time.Time `json:"at"`
	Templates int       `json:"templates"` // destroyed here (0: the gate held none)
}

// Check validates e on its own (the chain's hashes are the office's to
// check against its copy).
func (e *Events) Check() error {
	if e.Version != PayloadVersion {
		return fmt.Errorf("%w: payload version %d, this gated reads %d", ErrPayload, e.Version, PayloadVersion)
	}
	if err := CheckName("compound", e.Compound); err != nil {
		return err
	}
	if err := CheckName("gate", e.Gate); err != nil {
		return err
	}
	if len(e.Audit) > MaxAuditEntries {
		return fmt.Errorf("%w: %d audit entries, limit %d", ErrPayload, len(e.Audit), MaxAuditEntries)
	}
	for i, a := range e.Audit {
		if i > 0 && a.Seq != e.Audit[i-1].Seq+1 {
			return fmt.Errorf("%w: audit entry %d follows %d", ErrPayload, a.Seq, e.Audit[i-1].Seq)
		}
		if i > 0 && a.Prev != e.Audit[i-1].Hash {
			return fmt.Errorf("%w: audit entry %d does not link to entry %d", ErrPayload, a.Seq, e.Audit[i-1].Seq)
		}
		if a.Seq == 0 {
			return fmt.Errorf("%w: audit entry 0", ErrPayload)
		}
		for _, f := range []struct {
			what, s string
			max     int
		}{{"actor", a.Actor, maxAuditText}, {"subject", a.Subject, maxAuditText}, {"outcome", a.Outcome, maxAuditText},
			{"kind", a.Kind, maxAuditText}, {"detail", a.Detail, maxAuditDetail}} {
			if err := checkText("audit "+f.what, f.s, f.max, false); err != nil {
				return fmt.Errorf("audit entry %d: %w", a.Seq, err)
			}
		}
	}
	for id, n := range e.Faces {
		if err := CheckID('r', id); err != nil {
			return fmt.Errorf("faces: %w", err)
		}
		if n < 1 || n > 1000 {
			return fmt.Errorf("%w: faces: %d templates for %s", ErrPayload, n, id)
		}
	}
	for _, r := range e.Receipts {
		if err := CheckID('e', r.Erasure); err != nil {
			return fmt.Errorf("receipt: %w", err)
		}
		if err := CheckID('r', r.Resident); err != nil {
			return fmt.Errorf("receipt %s: %w", r.Erasure, err)
		}
		if r.Templates < 0 || r.At.IsZero() {
			return fmt.Errorf("%w: receipt %s: bad count or time", ErrPayload, r.Erasure)
		}
	}
	for _, o := range e.OptOuts {
		if err := o.Check(); err != nil {
			return fmt.Errorf("opt-out: %w", err)
		}
	}
	for _, im := range e.Imports {
		if err := checkText("import error", im.Error, maxImportError, false); err != nil {
			return err
		}
	}
	return nil
}

// Encode returns the payload's bytes for Seal.
func (e *Events) Encode() ([]byte, error) {
	if e.Version == 0 {
		e.Version = PayloadVersion
	}
	return json.Marshal(e)
}

// DecodeEvents reads and checks an events payload strictly.
func DecodeEvents(b []byte) (*Events, error) {
	var e Events
	if err := decodeStrict(b, &e); err != nil {
		return nil, err
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Truncate cuts s to n bytes at a rune boundary, for error texts that go
// into an event bundle.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// MaxImportError is the longest Import.Error.
const MaxImportError = maxImportError
