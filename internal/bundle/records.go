package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
	"unicode/utf8"
)

// PayloadVersion is the version of the Records and Events payloads.
const PayloadVersion = 1

// Limits on payload fields. They match the gate store's own limits.
const (
	MaxResidents = 100_000
	MaxCards     = 400_000
	MaxPasses    = 100_000
	maxName      = 100
	maxUnit      = 32
	maxReason    = 160
	maxWindows   = 16
	tokenLen     = 32
)

// ErrPayload wraps every payload validation error.
var ErrPayload = errors.New("bundle: bad payload")

// Records is a records bundle's payload: what the office holds for one
// gate. A snapshot lists everything (and Remove is empty); a delta lists
// what was added or changed since its base, and Remove what went. Profiles,
// Groups and Erase are always complete.
type Records struct {
	Version   int               `json:"version"`
	Compound  string            `json:"compound"`
	Gate      string            `json:"gate"` // the gate's name at the office
	Secret    Secret            `json:"secret"`
	Residents []Resident        `json:"residents,omitempty"`
	Cards     []Card            `json:"cards,omitempty"`
	Passes    []Pass            `json:"passes,omitempty"`
	Remove    Removals          `json:"remove,omitzero"`
	Profiles  Profiles          `json:"profiles,omitempty"`
	Groups    map[string]string `json:"groups,omitempty"`
	// Erase lists every face-data erasure order this gate has not yet
	// receipted; a gate carries each out once (by ID) and receipts it in
	// its next event bundle.
	Erase []Erasure `json:"erase,omitempty"`
	// Acked is what the office holds from this gate, so the gate stops
	// re-sending it: event bundles are idempotent, each repeating what is
	// not yet acknowledged, so a lost file costs nothing.
	Acked Acks `json:"acked,omitzero"`
}

// Acks tell a gate what the office holds from it.
type Acks struct {
	Audit    uint64   `json:"audit,omitempty"`    // the gate's audit entries up to this seq
	Events   uint64   `json:"events,omitempty"`   // the gate's event bundles up to this seq
	OptOuts  []string `json:"opt_outs,omitempty"` // erasure IDs asked at this gate the office has recorded
	Receipts []string `json:"receipts,omitempty"` // erasure IDs this gate receipted, recorded at the office
}

// Profiles are weekly time profiles by name, in the syntax of
// [schedule.profiles] in gated.toml ("workdays 08:00-18:00").
type Profiles map[string][]string

// Resident is a person the office manages. No field can hold face data.
type Resident struct {
	ID         string    `json:"id"` // "r-" and 12 hex digits, the same at every gate
	Name       string    `json:"name"`
	Unit       string    `json:"unit,omitempty"`
	Minor      bool      `json:"minor,omitempty"`
	Guardian   string    `json:"guardian,omitempty"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	Profile    string    `json:"profile,omitempty"`
	Group      string    `json:"group,omitempty"`
	PIN        *Hash     `json:"pin,omitempty"` // argon2id of the PIN peppered with Secret.PINPepper
}

// Hash is an argon2id hash with its parameters.
type Hash struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
	Salt      []byte `json:"salt"`
	Sum       []byte `json:"sum"`
}

// Card is a card by its token (Secret.CardToken of the number).
type Card struct {
	Token      []byte    `json:"token"`
	Resident   string    `json:"resident"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
}

// Pass is a visitor pass the office issued for this gate. Its uses are
// counted at each gate it opens (docs/compound.md).
type Pass struct {
	ID      string    `json:"id"` // "v-" and 12 hex digits
	Name    string    `json:"name"`
	Reader  string    `json:"reader,omitempty"`
	From    time.Time `json:"from"`
	Until   time.Time `json:"until"`
	Uses    int       `json:"uses"`
	Revoked bool      `json:"revoked,omitempty"`
	Hint    []byte    `json:"hint"` // 2 bytes: HMAC(CodeHintKey, code)
	Code    Hash      `json:"code"` // argon2id of the code peppered with CodePepper
}

// Removals lists what a delta takes away.
type Removals struct {
	Residents []string `json:"residents,omitempty"` // with their cards, PIN and face data
	Cards     [][]byte `json:"cards,omitempty"`     // tokens
	Passes    []string `json:"passes,omitempty"`
}

// Erasure orders a resident's face data destroyed at every gate: an
// opt-out made at the office or at one gate.
type Erasure struct {
	ID        string    `json:"id"` // "e-" and 12 hex digits, the same at every gate
	Resident  string    `json:"resident"`
	Requested time.Time `json:"requested"` // when the person asked (the 15-working-day clock runs from here)
	Origin    string    `json:"origin"`    // "office" or the gate where it was asked
	Reason    string    `json:"reason,omitempty"`
}

var (
	idRE   = regexp.MustCompile(`^[a-z]-[0-9a-f]{12}$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// CheckID checks an ID of the form the office makes, with prefix ("r",
// "v", "e").
func CheckID(prefix byte, id string) error {
	if !idRE.MatchString(id) || id[0] != prefix {
		return fmt.Errorf("%w: ID %q: want %c- and 12 hex digits", ErrPayload, id, prefix)
	}
	return nil
}

// CheckName checks a gate, compound, profile or group name: lower-case
// letters, digits, - and _, up to 32.
func CheckName(what, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%w: %s %q: lower-case letters, digits, - and _ (up to 32)", ErrPayload, what, s)
	}
	return nil
}

func checkText(what, s string, max int, required bool) error {
	switch {
	case required && s == "":
		return fmt.Errorf("%w: %s is empty", ErrPayload, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrPayload, what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not UTF-8", ErrPayload, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s has a control character", ErrPayload, what)
		}
	}
	return nil
}

func checkWindow(what string, from, until time.Time) error {
	if !from.IsZero() && !until.IsZero() && !from.Before(until) {
		return fmt.Errorf("%w: %s: valid from %s is not before valid until %s", ErrPayload, what,
			from.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return nil
}

// Check bounds argon2id parameters so a hostile bundle cannot make a gate
// allocate gigabytes or spin for minutes.
func (h Hash) Check() error {
	switch {
	case h.Time < 1 || h.Time > 64, h.Threads < 1, h.MemoryKiB < 8*uint32(h.Threads), h.MemoryKiB > 1<<20:
		return fmt.Errorf("%w: argon2id parameters t=%d m=%d p=%d out of bounds", ErrPayload, h.Time, h.MemoryKiB, h.Threads)
	case len(h.Salt) < 8 || len(h.Salt) > 64 || len(h.Sum) < 16 || len(h.Sum) > 64:
		return fmt.Errorf("%w: argon2id salt or sum of the wrong length", ErrPayload)
	}
	return nil
}

// Check validates r on its own: forms, limits, duplicates, and for a
// snapshot that every card and guardian names a resident in it.
func (r *Records) Check(snapshot bool) error {
	if r.Version != PayloadVersion {
		return fmt.Errorf("%w: payload version %d, this gated reads %d", ErrPayload, r.Version, PayloadVersion)
	}
	if err := CheckName("compound", r.Compound); err != nil {
		return err
	}
	if err := CheckName("gate", r.Gate); err != nil {
		return err
	}
	if r.Secret == (Secret{}) {
		return fmt.Errorf("%w: no compound secret", ErrPayload)
	}
	if len(r.Residents) > MaxResidents || len(r.Cards) > MaxCards || len(r.Passes) > MaxPasses {
		return fmt.Errorf("%w: more than %d residents, %d cards or %d passes", ErrPayload, MaxResidents, MaxCards, MaxPasses)
	}
	if snapshot && (len(r.Remove.Residents)+len(r.Remove.Cards)+len(r.Remove.Passes) > 0) {
		return fmt.Errorf("%w: a snapshot removes nothing", ErrPayload)
	}
	for n, ws := range r.Profiles {
		if err := CheckName("profile", n); err != nil {
			return err
		}
		if len(ws) == 0 || len(ws) > maxWindows {
			return fmt.Errorf("%w: profile %s has %d windows (1 to %d)", ErrPayload, n, len(ws), maxWindows)
		}
		for _, w := range ws {
			if err := checkText("profile "+n, w, 64, true); err != nil {
				return err
			}
		}
	}
	for g, p := range r.Groups {
		if err := CheckName("group", g); err != nil {
			return err
		}
		if _, ok := r.Profiles[p]; !ok {
			return fmt.Errorf("%w: group %s names profile %q, which the bundle does not define", ErrPayload, g, p)
		}
	}
	ids := make(map[string]bool, len(r.Residents))
	for i, x := range r.Residents {
		if err := x.check(r); err != nil {
			return fmt.Errorf("resident %d: %w", i, err)
		}
		if ids[x.ID] {
			return fmt.Errorf("%w: resident %s listed twice", ErrPayload, x.ID)
		}
		ids[x.ID] = true
	}
	if snapshot {
		for _, x := range r.Residents {
			if x.Guardian != "" && !ids[x.Guardian] {
				return fmt.Errorf("%w: resident %s: guardian %s is not in the snapshot", ErrPayload, x.ID, x.Guardian)
			}
		}
	}
	tokens := make(map[string]bool, len(r.Cards))
	for i, c := range r.Cards {
		if len(c.Token) != tokenLen {
			return fmt.Errorf("%w: card %d: token is %d bytes, want %d", ErrPayload, i, len(c.Token), tokenLen)
		}
		if err := CheckID('r', c.Resident); err != nil {
			return fmt.Errorf("card %d: %w", i, err)
		}
		if snapshot && !ids[c.Resident] {
			return fmt.Errorf("%w: card %d: resident %s is not in the snapshot", ErrPayload, i, c.Resident)
		}
		if err := checkWindow("card", c.ValidFrom, c.ValidUntil); err != nil {
			return err
		}
		if tokens[string(c.Token)] {
			return fmt.Errorf("%w: card %d listed twice", ErrPayload, i)
		}
		tokens[string(c.Token)] = true
	}
	passes := make(map[string]bool, len(r.Passes))
	for i, p := range r.Passes {
		if err := p.check(); err != nil {
			return fmt.Errorf("pass %d: %w", i, err)
		}
		if passes[p.ID] {
			return fmt.Errorf("%w: pass %s listed twice", ErrPayload, p.ID)
		}
		passes[p.ID] = true
	}
	for _, id := range r.Remove.Residents {
		if err := CheckID('r', id); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		if ids[id] {
			return fmt.Errorf("%w: resident %s both listed and removed", ErrPayload, id)
		}
	}
	for _, t := range r.Remove.Cards {
		if len(t) != tokenLen {
			return fmt.Errorf("%w: remove: a card token is %d bytes, want %d", ErrPayload, len(t), tokenLen)
		}
		if tokens[string(t)] {
			return fmt.Errorf("%w: a card both listed and removed", ErrPayload)
		}
	}
	for _, id := range r.Remove.Passes {
		if err := CheckID('v', id); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	for _, id := range append(append([]string{}, r.Acked.OptOuts...), r.Acked.Receipts...) {
		if err := CheckID('e', id); err != nil {
			return fmt.Errorf("acked: %w", err)
		}
	}
	seen := make(map[string]bool, len(r.Erase))
	for _, e := range r.Erase {
		if err := e.Check(); err != nil {
			return err
		}
		if seen[e.ID] {
			return fmt.Errorf("%w: erasure %s listed twice", ErrPayload, e.ID)
		}
		seen[e.ID] = true
	}
	return nil
}

func (x Resident) check(r *Records) error {
	if err := CheckID('r', x.ID); err != nil {
		return err
	}
	if err := checkText("name", x.Name, maxName, true); err != nil {
		return err
	}
	if err := checkText("unit", x.Unit, maxUnit, false); err != nil {
		return err
	}
	if x.Guardian != "" {
		if err := CheckID('r', x.Guardian); err != nil {
			return fmt.Errorf("guardian: %w", err)
		}
	}
	if err := checkWindow("resident "+x.ID, x.ValidFrom, x.ValidUntil); err != nil {
		return err
	}
	if x.Profile != "" {
		if _, ok := r.Profiles[x.Profile]; !ok {
			return fmt.Errorf("%w: resident %s: profile %q is not in the bundle", ErrPayload, x.ID, x.Profile)
		}
	}
	if x.Group != "" {
		if _, ok := r.Groups[x.Group]; !ok {
			return fmt.Errorf("%w: resident %s: group %q is not in the bundle", ErrPayload, x.ID, x.Group)
		}
	}
	if x.PIN != nil {
		if err := x.PIN.Check(); err != nil {
			return fmt.Errorf("resident %s: PIN: %w", x.ID, err)
		}
	}
	return nil
}

func (p Pass) check() error {
	if err := CheckID('v', p.ID); err != nil {
		return err
	}
	if err := checkText("pass name", p.Name, maxName, true); err != nil {
		return err
	}
	if p.Reader != "" {
		if err := CheckName("reader", p.Reader); err != nil {
			return err
		}
	}
	switch {
	case p.Uses < 1 || p.Uses > 1000:
		return fmt.Errorf("%w: pass %s: %d uses (1 to 1000)", ErrPayload, p.ID, p.Uses)
	case p.From.IsZero() || !p.From.Before(p.Until):
		return fmt.Errorf("%w: pass %s: from is not before until", ErrPayload, p.ID)
	case p.Until.Sub(p.From) > 366*24*time.Hour:
		return fmt.Errorf("%w: pass %s: valid for more than 366 days", ErrPayload, p.ID)
	case len(p.Hint) != 2:
		return fmt.Errorf("%w: pass %s: hint is %d bytes, want 2", ErrPayload, p.ID, len(p.Hint))
	}
	return p.Code.Check()
}

// Check validates an erasure order.
func (e Erasure) Check() error {
	if err := CheckID('e', e.ID); err != nil {
		return fmt.Errorf("erasure: %w", err)
	}
	if err := CheckID('r', e.Resident); err != nil {
		return fmt.Errorf("erasure %s: %w", e.ID, err)
	}
	if e.Requested.IsZero() {
		return fmt.Errorf("%w: erasure %s: no request time", ErrPayload, e.ID)
	}
	if e.Origin != "office" {
		if err := CheckName("erasure origin", e.Origin); err != nil {
			return err
		}
	}
	return checkText("erasure reason", e.Reason, maxReason, false)
}

// Encode returns the payload's bytes for Seal.
func (r *Records) Encode() ([]byte, error) {
	if r.Version == 0 {
		r.Version = PayloadVersion
	}
	return json.Marshal(r)
}

// DecodeRecords reads and checks a records payload strictly: an unknown
// field, trailing data or any check failure is an error.
func DecodeRecords(b []byte, snapshot bool) (*Records, error) {
	var r Records
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	if err := r.Check(snapshot); err != nil {
		return nil, err
	}
	return &r, nil
}

func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrPayload, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the payload", ErrPayload)
	}
	return nil
}
