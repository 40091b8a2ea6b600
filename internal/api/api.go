// Package api is the staff API of the gated daemon: the request and answer
// types exchanged over the control socket, their paths (/v0/...), and a
// typed client for the gated command.
//
// It holds no state and does no I/O of its own beyond the client's calls
// through internal/control. Secrets (card numbers, PINs, photos) travel only
// in request bodies, never in paths, which the daemon logs.
package api

import "time"

// Status is what gated status shows.
type Status struct {
	Device    string    `json:"device"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Face      FaceState `json:"face"`
	Camera    Camera    `json:"camera"`
	Readers   []Reader  `json:"readers"`
	// Alarm is set while every card and PIN reader is down.
	Alarm string `json:"alarm,omitempty"`
	// Alarms lists every alarm standing now (readers down, a damaged
	// store, a door not confirmed locked), one sentence each.
	Alarms []string `json:"alarms,omitempty"`
	// Door says what the door does besides its pulses: "door unlocked by
	// schedule until 09:00" while a scheduled unlock window holds it.
	Door string `json:"door,omitempty"`
	// Degraded is set while the store is damaged and card and PIN are
	// served read-only from a backup: it says what is damaged and how to
	// restore. Changes are refused meanwhile.
	Degraded  string       `json:"degraded,omitempty"`
	Decisions Decisions    `json:"decisions"`
	Last      *Decision    `json:"last_decision,omitempty"`
	Store     StoreSummary `json:"store"`
}

// Calibration is how the gate may use faces, and why (gated calibrate).
type Calibration struct {
	At         time.Time `json:"at"`
	Calibrated bool      `json:"calibrated"` // face.calibrate
	Mode       string    `json:"mode"`       // identify, verify or off
	Threshold  float32   `json:"threshold,omitempty"`
	Margin     float32   `json:"margin,omitempty"`
	Target     float64   `json:"target"`
	// StrangerUpper is the upper bound on a stranger's chance of being let
	// in per attempt in the chosen mode (0 when not estimated).
	StrangerUpper float64 `json:"stranger_upper"`
	// Accept is the share of residents' attempts the chosen mode accepts,
	// measured leave-one-out on the gallery, with its interval (one-sided
	// 95% bounds each side); the mode is chosen on AcceptLow.
	Accept     float64 `json:"accept"`
	AcceptLow  float64 `json:"accept_low"`
	AcceptHigh float64 `json:"accept_high"`
	Residents  int     `json:"residents"`
	Reason     string  `json:"reason"`
	// Spread is the same choice with the bootstrap drawn from other seeds:
	// how firm the mode is. Absent until estimated.
	Spread *CalibrationSpread `json:"spread,omitempty"`
	// Duplicates are residents whose templates show the same face under
	// two names: left out of the stranger estimate; staff should check.
	Duplicates []SameFace `json:"duplicates,omitempty"`
	TradeOff   []TradeOff `json:"trade_off,omitempty"`
}

// SameFace is a pair of residents with templates closer than different
// people's ever are.
type SameFace struct {
	A        string  `json:"a"`
	B        string  `json:"b"`
	Distance float32 `json:"distance"`
}

// CalibrationSpread summarises the calibration under other seeds.
type CalibrationSpread struct {
	Seeds int            `json:"seeds"`
	Modes map[string]int `json:"modes"` // mode -> how many seeds chose it
	// The 1:N and 1:1 thresholds over the seeds.
	IdentifyMin float32 `json:"identify_min"`
	IdentifyMax float32 `json:"identify_max"`
	VerifyMin   float32 `json:"verify_min"`
	VerifyMax   float32 `json:"verify_max"`
}

// TradeOff is one row of the calibration's table: the 1:N threshold that
// meets a stranger-accept rate at the gallery's size.
type TradeOff struct {
	Threshold        float32 `json:"threshold"`
	Margin           float32 `json:"margin"`
	StrangerUpper    float64 `json:"stranger_upper"`
	PairFMRUpper     float64 `json:"pair_fmr_upper"`
	ResidentsCorrect float64 `json:"residents_correct"`
	VerifyAccept     float64 `json:"verify_accept"`
}

// FaceState describes face recognition at the gate.
type FaceState struct {
	Enabled bool   `json:"enabled"`
	Mode    string `json:"mode"` // identify, verify or off
	Model   string `json:"model,omitempty"`
	// Calibration says why the mode is what it is.
	Calibration *Calibration `json:"calibration,omitempty"`
	Threshold   float32      `json:"threshold,omitempty"`
	Margin      float32      `json:"margin,omitempty"`
	Frames      int          `json:"frames,omitempty"`
	Residents   int          `json:"residents"`
	Templates   int          `json:"templates"`
	// OtherModel counts residents whose face data was made by another
	// model than face.model: it is kept (and purged) but not matched; they
	// enroll again to use face.
	OtherModel int `json:"other_model,omitempty"`
}

// Camera is the camera's state.
type Camera struct {
	Up      bool   `json:"up"`
	Source  string `json:"source,omitempty"`
	LastErr string `json:"last_error,omitempty"`
	Frames  uint64 `json:"frames"`
	// NIR is the near-infrared camera's state, one sentence ("" without
	// [camera.nir]).
	NIR string `json:"nir,omitempty"`
}

// Reader is one card reader's or keypad's health.
type Reader struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Up         bool      `json:"up"`
	Since      time.Time `json:"since"`
	LastErr    string    `json:"last_error,omitempty"`
	Frames     uint64    `json:"frames"`
	Dropped    uint64    `json:"dropped"`
	Reconnects uint64    `json:"reconnects"`
}

// Decisions counts access decisions since the daemon started.
type Decisions struct {
	Granted map[string]int `json:"granted"`
	Denied  map[string]int `json:"denied"`
}

// Decision is one access decision (`gated watch --json` prints one a
// line). Every field is always present, empty when it does not apply.
type Decision struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`   // face, card, card+pin, card+face, exit, door, visitor-code, visitor-qr
	Outcome  string    `json:"outcome"`  // granted, denied, need-pin, locked-out, turn (asked to turn the head)
	Resident string    `json:"resident"` // resident ID, when known ("" for an unknown face or card)
	Name     string    `json:"name"`     // the resident's display name, when known
	Reader   string    `json:"reader"`   // the card reader or keypad, for card decisions
	Pass     string    `json:"pass"`     // the visitor pass, for visitor codes and QR (never a person)
	Reason   string    `json:"reason"`   // why not, and what to do instead
	// Distance of the face to the resident's templates (an unknown face:
	// to the nearest resident's); 0 when no face was compared, and 0.000
	// can be a real distance (the enrolled photo itself).
	Distance float32 `json:"distance"`
	// Margin to the runner-up resident, for a face matched to a resident;
	// null otherwise, and when there is no runner-up (a gallery of one
	// resident).
	Margin *float32 `json:"margin"`
}

// StoreSummary is a short account of what the store holds.
type StoreSummary struct {
	Residents         int    `json:"residents"`
	ResidentsWithFace int    `json:"residents_with_face"`
	Templates         int    `json:"templates"`
	AuditEntries      uint64 `json:"audit_entries"`
	FileBytes         int64  `json:"file_bytes"`
	KEK               string `json:"kek"` // fingerprint only
	// PendingDestructions counts opt-outs whose data is out of use but not
	// yet gone from every file (retried until it is; see gated report).
	PendingDestructions int `json:"pending_destructions"`
	// Backups is how many automatic backups verify; NewestBackup when the
	// newest was taken.
	Backups      int       `json:"backups"`
	NewestBackup time.Time `json:"newest_backup,omitzero"`
}

// Resident is a resident as staff see it. Cards and PINs are stored
// hashed: only their count and presence are known.
type Resident struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Unit       string    `json:"unit"`
	Status     string    `json:"status"`
	Minor      bool      `json:"minor,omitempty"`
	GuardianID string    `json:"guardian_id,omitempty"`
	HasPIN     bool      `json:"has_pin"`
	Face       bool      `json:"face"`
	Templates  int       `json:"templates,omitempty"`
	Consents   []Consent `json:"consents,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	Access *AccessState `json:"access,omitempty"` // limits, when set (schedule.go)
}

// NewResident adds a resident.
type NewResident struct {
	Name       string `json:"name"`
	Unit       string `json:"unit"`
	Minor      bool   `json:"minor,omitempty"`
	GuardianID string `json:"guardian_id,omitempty"`
}

// ResidentUpdate changes the fields it sets.
type ResidentUpdate struct {
	Name       *string `json:"name,omitempty"`
	Unit       *string `json:"unit,omitempty"`
	Minor      *bool   `json:"minor,omitempty"`
	GuardianID *string `json:"guardian_id,omitempty"`
	Status     *string `json:"status,omitempty"` // "active" or "disabled"
}

// Card assigns or revokes a card. Number is the card's key as readers
// report it: the decimal number, or "facility:number" for Wiegand cards.
type Card struct {
	Number string `json:"number"`
}

// PIN sets a resident's PIN.
type PIN struct {
	PIN string `json:"pin"`
}

// Consent is a consent record.
type Consent struct {
	ID            string    `json:"id"`
	NoticeVersion string    `json:"notice_version"`
	NoticeSHA256  string    `json:"notice_sha256"`
	Language      string    `json:"language"`
	Method        string    `json:"method"` // "device" or "paper"
	RecordedBy    string    `json:"recorded_by,omitempty"`
	Guardian      *Guardian `json:"guardian,omitempty"`
	GivenAt       time.Time `json:"given_at"`
	WithdrawnAt   time.Time `json:"withdrawn_at,omitzero"`
}

// Guardian consents for a resident under 14.
type Guardian struct {
	Name       string `json:"name"`
	Relation   string `json:"relation"`
	ResidentID string `json:"resident_id,omitempty"`
}

// Enroll asks the daemon to enroll a resident's face from photos (staff
// with a signed paper form) or from the gate's camera.
type Enroll struct {
	// Photos are JPEG or PNG files; they are decoded, used and dropped: no
	// photo is ever stored.
	Photos [][]byte `json:"photos,omitempty"`
	// Camera captures Frames good frames from the gate's camera instead.
	Camera  bool     `json:"camera,omitempty"`
	Frames  int      `json:"frames,omitempty"`
	Timeout Duration `json:"timeout,omitzero"`
	// Consent: how it was given, in which language, to which notice version
	// (the daemon's current notice when empty), and a guardian for a minor.
	Method        string    `json:"method"` // "paper" (staff) or "device"
	Language      string    `json:"language"`
	NoticeVersion string    `json:"notice_version,omitempty"`
	Guardian      *Guardian `json:"guardian,omitempty"`
}

// Enrolled is the result of an enrollment.
type Enrolled struct {
	Resident  string   `json:"resident"`
	Templates int      `json:"templates"`
	Consent   Consent  `json:"consent"`
	Refused   []string `json:"refused,omitempty"` // photos refused by the quality gate, and why
}

// Deletion is the receipt for destroyed face data or a deleted resident.
type Deletion struct {
	ReceiptID string    `json:"receipt_id"`
	Resident  string    `json:"resident"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	Templates int       `json:"templates"`
	// RequestedAt is when the deletion was asked for; Deadline the end of
	// the 15th working day after it (the legal limit); OnTime whether At
	// came before it.
	RequestedAt time.Time `json:"requested_at"`
	Deadline    time.Time `json:"deadline"`
	OnTime      bool      `json:"on_time"`
	// Pending is set when the data is out of use and its records deleted,
	// but not yet gone from every file under the data directory (the file
	// could not be rewritten: a full disk, a crash); PendingReason says
	// why. It is retried at start and on a timer until done.
	Pending       bool   `json:"pending,omitempty"`
	PendingReason string `json:"pending_reason,omitempty"`
}

// Pending is a destruction not yet complete on disk.
type Pending struct {
	ReceiptID string    `json:"receipt_id"`
	Resident  string    `json:"resident"`
	Since     time.Time `json:"since"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
}

// Backup is one automatic backup in the data directory.
type Backup struct {
	Name  string    `json:"name"`
	Taken time.Time `json:"taken"`
	Size  int64     `json:"size"`
	// Generation orders the backups (newest first), whatever the clock
	// said; Kind is "scheduled" or "change" (taken after staff changes).
	Generation uint64 `json:"generation"`
	Kind       string `json:"kind"`
}

// RestoreFrom names an automatic backup to restore ("newest" for the
// newest that verifies).
type RestoreFrom struct {
	Backup string `json:"backup"`
}

// Reason says why something is deleted, and when it was asked for (a dated
// cancellation form; empty: now).
type Reason struct {
	Reason    string    `json:"reason"`
	Requested time.Time `json:"requested,omitzero"`
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Hash    string    `json:"hash"`
}

// AuditVerify is the result of checking the audit chain.
type AuditVerify struct {
	OK       bool   `json:"ok"`
	Entries  uint64 `json:"entries"`
	Problem  string `json:"problem,omitempty"`
	FirstBad uint64 `json:"first_bad,omitempty"`
}

// RotateKey asks the daemon to re-wrap every key under the KEK in a new key
// file (made with gated keygen, readable by the daemon).
type RotateKey struct {
	NewKeyFile string `json:"new_key_file"`
}

// Rotated is the result of a key rotation.
type Rotated struct {
	Old string `json:"old"` // fingerprints
	New string `json:"new"`
	// Warning, when set, says what did not follow the rotation (the
	// file's rewrite, the retirement of old backups); the store is sealed
	// with the new key all the same.
	Warning string `json:"warning,omitempty"`
}

// Report is what a data controller must be able to show (gated report).
type Report struct {
	Device           string         `json:"device"`
	GeneratedAt      time.Time      `json:"generated_at"`
	Controller       string         `json:"controller"`
	Contact          string         `json:"contact"`
	PeopleWithFace   int            `json:"people_with_face_data"`
	FilingThreshold  int            `json:"filing_threshold"`
	FilingShare      float64        `json:"filing_share"`
	FilingRequired   bool           `json:"filing_required"`
	Residents        int            `json:"residents"`
	Templates        int            `json:"templates"`
	Purposes         []string       `json:"purposes"`
	Method           string         `json:"method"`
	Storage          string         `json:"storage"`
	Retention        string         `json:"retention"`
	DeletionPolicy   string         `json:"deletion_policy"`
	NoticeVersion    string         `json:"notice_version"`
	ConsentsByNotice map[string]int `json:"consents_by_notice"`
	WithdrawnConsent int            `json:"withdrawn_consents"`
	Deletions        []Deletion     `json:"deletions"`
	Security         []string       `json:"security_measures"`
	Audit            AuditVerify    `json:"audit"`
	AuditRetention   string         `json:"audit_retention"`
	FaceMode         string         `json:"face_mode"`
	Calibration      *Calibration   `json:"calibration,omitempty"`
	// Working days: the calendar deadlines are counted on.
	Calendar string `json:"calendar"`
	// LateDeletions counts deletions done after their legal deadline.
	LateDeletions int `json:"late_deletions"`
	// Expiring lists face data whose consent ends within 30 days (the
	// resident may consent again at the gate or the office).
	Expiring []Expiry `json:"expiring"`
	// Pending lists destructions not yet complete on disk.
	Pending []Pending `json:"pending_destructions"`
	// Activity is what the audit log says of the period (gated report --from --to).
	Activity *Activity `json:"activity,omitempty"`
}

// Expiry is when a resident's face data will be purged unless they consent
// again.
type Expiry struct {
	Resident string    `json:"resident"`
	Name     string    `json:"name"`
	At       time.Time `json:"at"`
}

// Notice is the text residents are shown before they consent.
type Notice struct {
	Version  string `json:"version"`
	Language string `json:"language"`
	Text     string `json:"text"`
	SHA256   string `json:"sha256"`
}

// Duration is a time.Duration written as "30s".
type Duration struct{ time.Duration }

// MarshalText writes "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// IsZero lets omitzero drop an unset duration.
func (d Duration) IsZero() bool { return d.Duration == 0 }
