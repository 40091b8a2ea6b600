package api

import (
	"context"
	"time"
)

// CompoundJoin asks the gate to join a compound.
type CompoundJoin struct {
	Office   string `json:"office"` // the office's public key ("gated1-...")
	Compound string `json:"compound"`
	Gate     string `json:"gate"`
}

// Compound is the gate's membership and what it holds from the office.
type Compound struct {
	Compound    string              `json:"compound"`
	Gate        string              `json:"gate"`
	Office      string              `json:"office"`
	OfficePrint string              `json:"office_fingerprint"`
	Public      string              `json:"public"` // this gate's key, for gated office gate add
	PublicPrint string              `json:"public_fingerprint"`
	JoinedAt    time.Time           `json:"joined_at"`
	Applied     uint64              `json:"applied"`
	EventSeq    uint64              `json:"event_seq"`
	AckedAudit  uint64              `json:"acked_audit"`
	Residents   int                 `json:"residents"`
	Cards       int                 `json:"cards"`
	Passes      int                 `json:"passes"`
	Profiles    map[string][]string `json:"profiles,omitempty"`
	Warnings    []string            `json:"warnings,omitempty"`
}

// BundleFile carries a bundle's bytes (a records bundle to import, an
// event bundle exported) and its file name.
type BundleFile struct {
	Name  string `json:"name,omitempty"`
	Bytes []byte `json:"bytes"`
}

// Imported is what an import applied.
type Imported struct {
	Seq       uint64     `json:"seq"`
	Snapshot  bool       `json:"snapshot"`
	Residents int        `json:"residents"`
	Removed   int        `json:"removed"`
	Cards     int        `json:"cards"`
	Passes    int        `json:"passes"`
	Erased    int        `json:"erased"`
	Deletions []Deletion `json:"deletions,omitempty"`
	Warnings  []string   `json:"warnings,omitempty"`
}

// JoinCompound makes the gate a member and returns its key for the office.
func (c *Client) JoinCompound(ctx context.Context, j CompoundJoin) (out Compound, err error) {
	err = c.c.Do(ctx, "POST", "/v0/compound/join", j, &out)
	return
}

// Compound returns the gate's membership.
func (c *Client) Compound(ctx context.Context) (out Compound, err error) {
	err = c.c.Do(ctx, "GET", "/v0/compound", nil, &out)
	return
}

// Import hands the daemon a records bundle's bytes.
func (c *Client) Import(ctx context.Context, f BundleFile) (out Imported, err error) {
	err = c.c.Do(ctx, "POST", "/v0/compound/import", f, &out)
	return
}

// ExportEvents returns the gate's next event bundle (the caller writes it).
func (c *Client) ExportEvents(ctx context.Context) (out BundleFile, err error) {
	err = c.c.Do(ctx, "POST", "/v0/compound/export", nil, &out)
	return
}
