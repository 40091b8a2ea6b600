package store

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits, in bytes, checked on input and on decode.
const (
	maxIDLen       = 64
	maxNameLen     = 256
	maxUnitLen     = 64
	maxModelLen    = 64
	maxLangLen     = 35 // longest common BCP 47 tag
	maxNoticeLen   = 64
	maxActorLen    = 128
	maxReasonLen   = 512
	maxSettingKey  = 128
	maxSettingVal  = 64 << 10
	maxDims        = 4096
	maxTemplates   = 16 // per resident
	maxAuditText   = 128
	maxAuditDetail = 160
)

// Status says whether a resident may pass the gate at all.
type Status uint8

// Resident statuses.
const (
	StatusActive   Status = 1
	StatusDisabled Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusActive:
		return "active"
	case StatusDisabled:
		return "disabled"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

func (s Status) valid() bool { return s == StatusActive || s == StatusDisabled }

// Resident is a person allowed through the gate. It holds no biometric data.
type Resident struct {
	ID     string // set by AddResident: "r-" and 12 hex digits
	Name   string // display name
	Unit   string // flat or house number
	Status Status // zero means StatusActive on AddResident
	// Minor marks a resident under 14: enrollment then requires guardian
	// consent (PIPL art. 31). GuardianID optionally names the guardian's
	// resident ID.
	Minor      bool
	GuardianID string
	CreatedAt  time.Time // set by the store
	UpdatedAt  time.Time // set by the store
	Access     Access    // when the resident may pass (schedule.go); set by SetResidentAccess
}

func encodeResident(r Resident) []byte {
	e := encoder{b: make([]byte, 0, 64+len(r.Name)+len(r.Unit))}
	e.u8(residentVersion(r))
	e.str(r.ID)
	e.str(r.Name)
	e.str(r.Unit)
	e.u8(uint8(r.Status))
	e.bool(r.Minor)
	e.str(r.GuardianID)
	e.time(r.CreatedAt)
	e.time(r.UpdatedAt)
	if residentVersion(r) == 2 {
		e.access(r.Access)
	}
	return e.b
}

func decodeResident(b []byte) (Resident, error) {
	d := decoder{b: b}
	v := d.version12("resident")
	r := Resident{
		ID:         d.str(maxIDLen),
		Name:       d.str(maxNameLen),
		Unit:       d.str(maxUnitLen),
		Status:     Status(d.u8()),
		Minor:      d.bool(),
		GuardianID: d.str(maxIDLen),
		CreatedAt:  d.time(),
		UpdatedAt:  d.time(),
	}
	if v == 2 {
		r.Access = d.access()
	}
	if d.err == nil && !r.Status.valid() {
		d.fail("resident: bad status %d", r.Status)
	}
	return r, d.finish()
}

// ConsentMethod says how consent was given.
type ConsentMethod uint8

// Consent methods.
const (
	// ConsentAtDevice: the resident read the notice and agreed at the gate's
	// enrollment screen.
	ConsentAtDevice ConsentMethod = 1
	// ConsentStaffPaper: staff recorded a signed paper form; RecordedBy
	// names the staff member.
	ConsentStaffPaper ConsentMethod = 2
)

func (m ConsentMethod) String() string {
	switch m {
	case ConsentAtDevice:
		return "device"
	case ConsentStaffPaper:
		return "staff-paper"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

func (m ConsentMethod) valid() bool { return m == ConsentAtDevice || m == ConsentStaffPaper }

// Guardian is the person who consents for a resident under 14.
type Guardian struct {
	Name       string
	Relation   string // e.g. "mother", "legal guardian"
	ResidentID string // optional: the guardian's own resident ID
}

// Consent is the record of a resident agreeing to face recognition under a
// given privacy notice.
type Consent struct {
	ID            string // set by the store
	ResidentID    string // set by the store
	NoticeVersion string // e.g. "2026-09"
	// NoticeSHA256 is the SHA-256 of the exact notice text shown or signed.
	NoticeSHA256 [32]byte
	Language     string // BCP 47 tag of the notice, e.g. "zh-CN"
	GivenAt      time.Time
	Method       ConsentMethod
	RecordedBy   string    // staff member, for ConsentStaffPaper
	Guardian     *Guardian // required when the resident is a minor
	WithdrawnAt  time.Time // zero while consent stands
}

func encodeConsent(c Consent) []byte {
	var e encoder
	e.u8(1)
	e.str(c.ID)
	e.str(c.ResidentID)
	e.str(c.NoticeVersion)
	e.b = append(e.b, c.NoticeSHA256[:]...)
	e.str(c.Language)
	e.time(c.GivenAt)
	e.u8(uint8(c.Method))
	e.str(c.RecordedBy)
	e.bool(c.Guardian != nil)
	if g := c.Guardian; g != nil {
		e.str(g.Name)
		e.str(g.Relation)
		e.str(g.ResidentID)
	}
	e.time(c.WithdrawnAt)
	return e.b
}

func decodeConsent(b []byte) (Consent, error) {
	d := decoder{b: b}
	d.version(1, "consent")
	var c Consent
	c.ID = d.str(maxIDLen)
	c.ResidentID = d.str(maxIDLen)
	c.NoticeVersion = d.str(maxNoticeLen)
	copy(c.NoticeSHA256[:], d.fixed(32))
	c.Language = d.str(maxLangLen)
	c.GivenAt = d.time()
	c.Method = ConsentMethod(d.u8())
	c.RecordedBy = d.str(maxActorLen)
	if d.bool() {
		c.Guardian = &Guardian{Name: d.str(maxNameLen), Relation: d.str(maxNameLen), ResidentID: d.str(maxIDLen)}
	}
	c.WithdrawnAt = d.time()
	if d.err == nil && !c.Method.valid() {
		d.fail("consent: bad method %d", c.Method)
	}
	return c, d.finish()
}

// DeletionRecord proves that a resident's face data was destroyed. It holds
// no biometric content.
type DeletionRecord struct {
	ReceiptID  string // "d-" and 16 hex digits; give it to the resident
	ResidentID string
	Actor      string    // who asked for it
	Reason     string    // why, e.g. "consent withdrawn at desk"
	At         time.Time // when the data was destroyed
	Templates  int       // how many templates were destroyed
	// RequestedAt is when the deletion was asked for (a dated cancellation
	// form, the end of a retention period); equal to At when it was done on
	// the spot. Records written by schema 1 code have it equal to At.
	RequestedAt time.Time
	// Pending is not stored in the record: it is true while the
	// destruction on disk has not finished (see PendingDestruction), as of
	// when the record was returned.
	Pending bool
}

// Deletion records are version 2: version 1 lacked RequestedAt.
func encodeDeletion(r DeletionRecord) []byte {
	var e encoder
	e.u8(2)
	e.str(r.ReceiptID)
	e.str(r.ResidentID)
	e.str(r.Actor)
	e.str(r.Reason)
	e.time(r.At)
	e.u32(uint32(r.Templates))
	e.time(r.RequestedAt)
	return e.b
}

func decodeDeletion(b []byte) (DeletionRecord, error) {
	d := decoder{b: b}
	var v uint8
	if len(b) > 0 {
		v = b[0]
	}
	switch v {
	case 1, 2:
		d.version(v, "deletion")
	default:
		d.version(2, "deletion")
	}
	r := DeletionRecord{
		ReceiptID:  d.str(maxIDLen),
		ResidentID: d.str(maxIDLen),
		Actor:      d.str(maxActorLen),
		Reason:     d.str(maxReasonLen),
		At:         d.time(),
		Templates:  int(d.u32()),
	}
	r.RequestedAt = r.At
	if v == 2 {
		r.RequestedAt = d.time()
	}
	return r, d.finish()
}

// cardRecord is the value stored under a card's keyed hash.
type cardRecord struct {
	ResidentID string
	AssignedAt time.Time
	Access     Access // the card's own window of dates (schedule.go)
}

func encodeCard(c cardRecord) []byte {
	var e encoder
	e.u8(cardVersion(c))
	e.str(c.ResidentID)
	e.time(c.AssignedAt)
	if cardVersion(c) == 2 {
		e.time(c.Access.ValidFrom)
		e.time(c.Access.ValidUntil)
	}
	return e.b
}

func decodeCard(b []byte) (cardRecord, error) {
	d := decoder{b: b}
	v := d.version12("card")
	c := cardRecord{ResidentID: d.str(maxIDLen), AssignedAt: d.time()}
	if v == 2 {
		c.Access = Access{ValidFrom: d.time(), ValidUntil: d.time()}
		if d.err == nil && c.Access.Zero() {
			d.fail("card: version 2 record with no validity (it is written as version 1)")
		}
	}
	return c, d.finish()
}

// settingKey checks a setting name: printable ASCII without spaces.
func validSettingKey(k string) bool {
	if k == "" || len(k) > maxSettingKey {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// checkText validates a human-readable field: valid UTF-8, no control
// characters, at most max bytes, and non-empty when required.
func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	case len(v) > max:
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalid, field, len(v), max)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, field)
		}
	}
	return nil
}
