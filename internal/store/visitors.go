package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
)

// Visitor passes (schema 3). A pass lets a visitor in a number of times
// within a validity window, by a numeric code typed at a keypad or by a
// signed QR payload shown to a scanner. The code is never stored in
// clear: like a PIN it is peppered with a key derived from the device
// secret and stretched with argon2id; a 16-bit keyed hint of it finds the
// one record to stretch against, so checking a code costs one argon2id
// whatever the number of passes. The QR payload is signed with a key
// derived from the device secret (so it is bound to this gate's store),
// and names the pass; the pass's use count and revocation live in the
// store, so a used or revoked pass stays refused after a restart.

var bucketVisitors = []byte("visitors") // pass ID → pass record

// migrateV3 adds visitor passes.
func migrateV3(tx *bolt.Tx, _ *migrateEnv) error {
	if _, err := tx.CreateBucket(bucketVisitors); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketVisitors, err)
	}
	return nil
}

// Errors a pass use is refused with; each wraps ErrPassRefused.
var (
	ErrPassRefused     = errors.New("store: pass refused")
	ErrPassNotYet      = fmt.Errorf("%w: not valid yet", ErrPassRefused)
	ErrPassExpired     = fmt.Errorf("%w: expired", ErrPassRefused)
	ErrPassRevoked     = fmt.Errorf("%w: revoked", ErrPassRefused)
	ErrPassUsedUp      = fmt.Errorf("%w: already used", ErrPassRefused)
	ErrPassWrongReader = fmt.Errorf("%w: not valid at this reader", ErrPassRefused)
	// ErrPassForged: a QR payload whose signature does not verify (made
	// up, altered, or signed by another gate).
	ErrPassForged = fmt.Errorf("%w: not a pass of this gate", ErrPassRefused)
)

// PassCodeDigits is the length of a visitor code. See docs/ops-visitor.md
// for the guessing arithmetic that sizes it.
const PassCodeDigits = 10

// Bounds on a pass.
const (
	MaxPassUses     = 1000
	MaxPassValidity = 366 * 24 * time.Hour
	maxPassName     = 100
	passHintLen     = 2
)

// Pass is a visitor pass as staff see it. It never holds the code.
type Pass struct {
	ID        string // "v-" and 12 hex digits
	Name      string // who it is for, as the issuer typed it ("courier")
	Issuer    string // the actor who issued it: "staff:<uid>" or a resident ID
	Reader    string // "" for every reader, else the only card reader it opens
	From      time.Time
	Until     time.Time
	Uses      int // allowed uses
	Used      int
	Revoked   bool
	CreatedAt time.Time
	LastUsed  time.Time
}

// State says in words what the pass can do at now.
func (p Pass) State(now time.Time) string {
	switch {
	case p.Revoked:
		return "revoked"
	case p.Used >= p.Uses:
		return "used"
	case !now.Before(p.Until):
		return "expired"
	case now.Before(p.From):
		return "not yet valid"
	}
	return "valid"
}

func (p Pass) live(now time.Time) bool { return !p.Revoked && p.Used < p.Uses && now.Before(p.Until) }

// refusal returns why the pass cannot be used at reader at now, or nil.
func (p Pass) refusal(reader string, now, floor time.Time) error {
	switch {
	case p.Revoked:
		return ErrPassRevoked
	case p.Used >= p.Uses:
		return ErrPassUsedUp
	case !laterOf(now, floor).Before(p.Until): // a clock set back does not revive a pass
		return ErrPassExpired
	case now.Before(p.From):
		return ErrPassNotYet
	case p.Reader != "" && reader != p.Reader:
		return ErrPassWrongReader
	}
	return nil
}

// NewPass is what the issuer asks for.
type NewPass struct {
	Name        string
	Reader      string
	From, Until time.Time
	Uses        int
}

// IssuedPass is a new pass with its secrets, shown once: the code to type
// and the QR payload to show.
type IssuedPass struct {
	Pass
	Code string // PassCodeDigits digits
	QR   string // the signed payload (ParsePassQR reads it)
}

type passRecord struct {
	Pass
	Hint []byte    // passHintLen bytes of HMAC(code)
	Code pinRecord // argon2id of the peppered code
}

func encodePass(r passRecord) []byte {
	var e encoder
	e.u8(1)
	e.str(r.ID)
	e.str(r.Name)
	e.str(r.Issuer)
	e.str(r.Reader)
	e.time(r.From)
	e.time(r.Until)
	e.u32(uint32(r.Uses))
	e.u32(uint32(r.Used))
	e.bool(r.Revoked)
	e.time(r.CreatedAt)
	e.time(r.LastUsed)
	e.bytes(r.Hint)
	e.bytes(encodePIN(r.Code))
	return e.b
}

func decodePass(b []byte) (passRecord, error) {
	d := decoder{b: b}
	d.version(1, "pass")
	var r passRecord
	r.ID = d.str(maxIDLen)
	r.Name = d.str(maxPassName)
	r.Issuer = d.str(maxIDLen + 16)
	r.Reader = d.str(maxIDLen)
	r.From = d.time()
	r.Until = d.time()
	r.Uses = int(d.u32())
	r.Used = int(d.u32())
	r.Revoked = d.bool()
	r.CreatedAt = d.time()
	r.LastUsed = d.time()
	r.Hint = d.bytes(passHintLen)
	code := d.bytes(256)
	if d.err == nil {
		var err error
		if r.Code, err = decodePIN(code); err != nil {
			d.fail("pass code: %v", err)
		}
	}
	if d.err == nil && (len(r.Hint) != passHintLen || r.Uses < 1 || r.Uses > MaxPassUses || r.Used < 0 || r.Used > r.Uses || !r.Until.After(r.From)) {
		d.fail("pass: bad fields")
	}
	return r, d.finish()
}

// visitorKeys are derived from the device keys: the code pepper and hint
// key, and the QR signing key. They are part of the file format.
type visitorKeys struct{ pepper, hint, sign []byte }

func (k deviceKeys) visitor() visitorKeys {
	d := func(label string) []byte {
		h := hmac.New(sha256.New, k.secret)
		h.Write([]byte(label))
		return h.Sum(nil)
	}
	return visitorKeys{pepper: d("gated/store/visitor-code/v1"), hint: d("gated/store/visitor-hint/v1"), sign: d("gated/store/visitor-qr/v1")}
}

func (k visitorKeys) codeHint(code string) []byte { return bundle.CodeHint(k.hint, code) }

// gateID names the gate in QR payloads: a QR from another gate is told
// apart from a forged one.
func (k visitorKeys) gateID() string {
	h := hmac.New(sha256.New, k.sign)
	h.Write([]byte("gate-id"))
	return hex.EncodeToString(h.Sum(nil)[:4])
}

func (k visitorKeys) mac(body string) []byte {
	h := hmac.New(sha256.New, k.sign)
	h.Write([]byte(body))
	return h.Sum(nil)[:16]
}

// passQRPrefix starts every pass payload.
const passQRPrefix = "GATED1"

// PassQR is a parsed QR payload: what it claims, before its signature is
// checked against the store.
type PassQR struct {
	Gate        string // the issuing gate's ID (8 hex digits)
	Pass        string
	From, Until time.Time
	Uses        int
	body        string
	mac         []byte
}

// ParsePassQR parses a scanned payload:
//
//	GATED1.<gate>.<pass ID>.<from unix>.<until unix>.<uses>.<signature>
//
// with the signature base64url (no padding) of 16 bytes. It checks the
// form only; DB.UsePassQR checks the signature.
func ParsePassQR(s string) (PassQR, error) {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return PassQR{}, fmt.Errorf("%w: QR payload of %d bytes", ErrInvalid, len(s))
	}
	f := strings.Split(s, ".")
	if len(f) != 7 || f[0] != passQRPrefix {
		return PassQR{}, fmt.Errorf("%w: not a gated pass", ErrInvalid)
	}
	q := PassQR{Gate: f[1], Pass: f[2], body: strings.Join(f[:6], ".")}
	if len(q.Gate) != 8 || !isLowerHex(q.Gate) {
		return PassQR{}, fmt.Errorf("%w: QR gate %q", ErrInvalid, q.Gate)
	}
	if !validPassID(q.Pass) {
		return PassQR{}, fmt.Errorf("%w: QR pass %q", ErrInvalid, q.Pass)
	}
	from, err1 := strconv.ParseInt(f[3], 10, 64)
	until, err2 := strconv.ParseInt(f[4], 10, 64)
	uses, err3 := strconv.Atoi(f[5])
	if err := errors.Join(err1, err2, err3); err != nil || uses < 1 || uses > MaxPassUses || from < 0 || until <= from || until > 1<<40 {
		return PassQR{}, fmt.Errorf("%w: QR validity or uses", ErrInvalid)
	}
	q.From, q.Until, q.Uses = time.Unix(from, 0).UTC(), time.Unix(until, 0).UTC(), uses
	mac, err := base64.RawURLEncoding.Strict().DecodeString(f[6])
	if err != nil || len(mac) != 16 {
		return PassQR{}, fmt.Errorf("%w: QR signature", ErrInvalid)
	}
	q.mac = mac
	return q, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func validPassID(id string) bool {
	return len(id) == 14 && strings.HasPrefix(id, "v-") && isLowerHex(id[2:])
}

func passQR(k visitorKeys, p Pass) string {
	body := fmt.Sprintf("%s.%s.%s.%d.%d.%d", passQRPrefix, k.gateID(), p.ID, p.From.Unix(), p.Until.Unix(), p.Uses)
	return body + "." + base64.RawURLEncoding.EncodeToString(k.mac(body))
}

// newPassCode draws PassCodeDigits uniform random digits.
func newPassCode() string {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(PassCodeDigits), nil))
	if err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return fmt.Sprintf("%0*d", PassCodeDigits, n)
}

func checkNewPass(p NewPass) error {
	switch {
	case p.Name == "" || len(p.Name) > maxPassName || strings.ContainsFunc(p.Name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%w: name: 1 to %d printable characters", ErrInvalid, maxPassName)
	case p.Reader != "" && checkID("reader", p.Reader) != nil:
		return fmt.Errorf("%w: reader %q", ErrInvalid, p.Reader)
	case p.Uses < 1 || p.Uses > MaxPassUses:
		return fmt.Errorf("%w: uses: 1 to %d", ErrInvalid, MaxPassUses)
	case !p.Until.After(p.From):
		return fmt.Errorf("%w: the pass ends before it starts", ErrInvalid)
	case p.Until.Sub(p.From) > MaxPassValidity:
		return fmt.Errorf("%w: a pass is valid at most %s", ErrInvalid, MaxPassValidity)
	case !validTime(p.From) || !validTime(p.Until):
		return fmt.Errorf("%w: validity out of range", ErrInvalid)
	}
	return nil
}

// AddPass issues a visitor pass and returns it with its code and QR
// payload, which are shown once and never stored in clear. The times are
// kept to the second (the QR carries Unix seconds). The issue is audited
// with the pass as subject and the issuer as actor.
func (db *DB) AddPass(actor string, p NewPass) (IssuedPass, error) {
	p.From, p.Until = p.From.UTC().Truncate(time.Second), p.Until.UTC().Truncate(time.Second)
	if err := checkNewPass(p); err != nil {
		return IssuedPass{}, fmt.Errorf("store: add pass: %w", err)
	}
	now, err := db.now()
	if err != nil {
		return IssuedPass{}, fmt.Errorf("store: add pass: %w", err)
	}
	if !db.opts.PIN.valid() {
		return IssuedPass{}, fmt.Errorf("store: add pass: %w: argon2id parameters %+v", ErrInvalid, db.opts.PIN)
	}
	k := db.keys.visitor()
	rec := passRecord{Pass: Pass{ID: "v-" + hex.EncodeToString(randomBytes(6)), Name: p.Name, Issuer: actor, Reader: p.Reader,
		From: p.From, Until: p.Until, Uses: p.Uses, CreatedAt: now}}
	var code string
	for range 64 {
		// A code whose hint is free among live passes, so that a code
		// typed is stretched against one record only.
		code = newPassCode()
		rec.Hint = k.codeHint(code)
		taken := false
		err := db.view(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketVisitors).ForEach(func(_, v []byte) error {
				o, err := decodePass(v)
				if err == nil && bytes.Equal(o.Hint, rec.Hint) && o.live(now) {
					taken = true
				}
				return nil
			})
		})
		if err != nil {
			return IssuedPass{}, fmt.Errorf("store: add pass: %w", err)
		}
		if !taken {
			break
		}
	}
	rec.Code = newPINRecord(k.pepper, code, db.opts.PIN, now) // slow: outside the transaction
	err = db.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketVisitors).Put([]byte(rec.ID), encodePass(rec)); err != nil {
			return err
		}
		detail := fmt.Sprintf("pass issued: uses=%d from=%s until=%s", rec.Uses, rec.From.Format(time.RFC3339), rec.Until.Format(time.RFC3339))
		if rec.Reader != "" {
			detail += " reader=" + rec.Reader
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: rec.ID, Outcome: "ok", Detail: detail})
	})
	if err != nil {
		return IssuedPass{}, fmt.Errorf("store: add pass: %w", err)
	}
	return IssuedPass{Pass: rec.Pass, Code: code, QR: passQR(k, rec.Pass)}, nil
}

// Passes lists every pass, oldest first.
func (db *DB) Passes() ([]Pass, error) {
	var out []Pass
	err := db.view(func(tx *bolt.Tx) error {
		list := func(k, v []byte) error {
			r, err := decodePass(v)
			if err != nil {
				return fmt.Errorf("%w: pass %s: %w", ErrCorrupt, printableKey(k), err)
			}
			out = append(out, r.Pass)
			return nil
		}
		if ob := tx.Bucket(bucketOfficePasses); ob != nil { // compound.go
			if err := ob.ForEach(list); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketVisitors).ForEach(list)
	})
	if err != nil {
		return nil, fmt.Errorf("store: passes: %w", err)
	}
	sortPasses(out)
	return out, nil
}

func sortPasses(ps []Pass) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].CreatedAt.Before(ps[j-1].CreatedAt); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// CountPassesIssued counts the passes actor issued at or after since (the
// kiosk's per-resident daily limit).
func (db *DB) CountPassesIssued(actor string, since time.Time) (int, error) {
	ps, err := db.Passes()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.Issuer == actor && !p.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}

// RevokePass revokes a pass: it is refused from now on. Revoking a revoked
// pass is a no-op; an unknown ID is ErrNotFound.
func (db *DB) RevokePass(actor, id string) error {
	return db.changePass(actor, id, "pass revoked", func(r *passRecord, _ time.Time) error {
		if r.Revoked {
			return errNoChange
		}
		r.Revoked = true
		return nil
	})
}

var errNoChange = errors.New("no change")

// loadPass returns the visitors bucket and the pass id in it: ErrNotFound,
// or ErrCorrupt for a record that does not decode.
func loadPass(tx *bolt.Tx, id string) (*bolt.Bucket, passRecord, error) {
	b := tx.Bucket(bucketVisitors)
	v := b.Get([]byte(id))
	if v == nil {
		if ob := tx.Bucket(bucketOfficePasses); ob != nil { // compound.go
			b, v = ob, ob.Get([]byte(id))
		}
	}
	if v == nil {
		return nil, passRecord{}, fmt.Errorf("%w: pass %s", ErrNotFound, id)
	}
	r, err := decodePass(v)
	if err != nil {
		return nil, passRecord{}, fmt.Errorf("%w: pass %s: %w", ErrCorrupt, id, err)
	}
	return b, r, nil
}

// changePass applies fn to the pass in one transaction with its audit
// entry (detail); fn returning errNoChange commits nothing.
func (db *DB) changePass(actor, id, detail string, fn func(*passRecord, time.Time) error) error {
	now, err := db.now()
	if err != nil {
		return fmt.Errorf("store: pass %s: %w", id, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b, r, err := loadPass(tx, id)
		if err != nil {
			return err
		}
		if r.Issuer == "office" && tx.Bucket(bucketVisitors).Get([]byte(id)) == nil {
			return fmt.Errorf("pass %s: %w", id, ErrManaged)
		}
		if err := fn(&r, now); err != nil {
			return err
		}
		if err := b.Put([]byte(id), encodePass(r)); err != nil {
			return err
		}
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Subject: id, Outcome: "ok", Detail: detail})
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: pass %s: %w", id, err)
	}
	return nil
}

// FindPassCode returns the ID of the pass whose code is code, or
// ErrNotFound. It takes one argon2id whether or not a pass matches (a
// decoy when no hint does), so its time does not tell a guesser whether
// the guess's hint matched. It checks no validity: UsePass does.
// Rate-limiting guesses is the caller's job.
func (db *DB) FindPassCode(code string) (string, error) {
	k := db.keys.visitor()
	hint := k.codeHint(code)
	var cands []passRecord
	var office []passRecord // compound.go: the office's passes, peppered with the compound secret
	var officePepper []byte
	var officeErr error // damaged compound records cost the office's passes only
	err := db.view(func(tx *bolt.Tx) error {
		office, officePepper, officeErr = officePassCandidates(tx, db.keys, code)
		return tx.Bucket(bucketVisitors).ForEach(func(_, v []byte) error {
			r, err := decodePass(v)
			if err == nil && hmac.Equal(r.Hint, hint) {
				cands = append(cands, r)
			}
			return nil
		})
	})
	if err != nil {
		return "", fmt.Errorf("store: find pass code: %w", err)
	}
	if len(code) != PassCodeDigits || checkPIN(code) != nil {
		cands, office = nil, nil
	}
	for _, r := range office {
		if r.Code.matches(officePepper, code) {
			return r.ID, nil
		}
	}
	if officeErr != nil {
		db.log.Error("store: the office's visitor passes cannot be read", "err", officeErr)
	}
	if len(cands) == 0 && len(office) == 0 && officeErr == nil {
		decoy := pinRecord{Params: db.opts.PIN, Salt: make([]byte, pinSaltLen), Hash: make([]byte, pinHashLen)}
		if decoy.Params.valid() {
			decoy.matches(k.pepper, code)
		}
		return "", fmt.Errorf("store: find pass code: %w: no pass has this code", ErrNotFound)
	}
	// Live passes never share a hint (AddPass), so cands holds one live
	// pass at most; used ones may share it.
	for _, r := range cands {
		if r.Code.matches(k.pepper, code) {
			return r.ID, nil
		}
	}
	if officeErr != nil {
		return "", fmt.Errorf("store: find pass code: %w", officeErr)
	}
	return "", fmt.Errorf("store: find pass code: %w: no pass has this code", ErrNotFound)
}

// UsePass spends one use of the pass at reader (the card reader of the
// door), in one transaction: refused (an error wrapping ErrPassRefused,
// which says why) when it is revoked, used up, outside its validity or
// bound to another reader. The count is in the store, so a used pass
// stays used after a restart. The caller audits the decision.
func (db *DB) UsePass(id, reader string) (Pass, error) {
	var out Pass
	err := db.changePassQuiet(id, func(r *passRecord, now, floor time.Time) error {
		if err := r.refusal(reader, now, floor); err != nil {
			out = r.Pass
			return err
		}
		r.Used++
		r.LastUsed = now
		out = r.Pass
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("store: use pass %s: %w", id, err)
	}
	return out, nil
}

// changePassQuiet applies fn to the pass, with the clock and the clock
// floor, in one transaction, unaudited (the gate audits the decision).
func (db *DB) changePassQuiet(id string, fn func(r *passRecord, now, floor time.Time) error) error {
	now, err := db.now()
	if err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		b, r, err := loadPass(tx, id)
		if err != nil {
			return err
		}
		if err := fn(&r, now, clockFloor(tx)); err != nil {
			return err
		}
		return b.Put([]byte(id), encodePass(r))
	})
}

// CheckPassQR verifies a scanned payload's signature with this gate's key
// and returns the pass it names: ErrPassForged when the signature does
// not verify (also a payload of another gate, whose ID the error names),
// ErrInvalid when it is not a pass payload at all. The payload's validity
// and uses must be the record's: UsePass then spends a use.
func (db *DB) CheckPassQR(payload string) (string, error) {
	q, err := ParsePassQR(payload)
	if err != nil {
		return "", fmt.Errorf("store: check QR: %w", err)
	}
	k := db.keys.visitor()
	if !hmac.Equal(k.mac(q.body), q.mac) {
		if q.Gate != k.gateID() {
			return "", fmt.Errorf("store: check QR: %w (issued by gate %s, this is %s)", ErrPassForged, q.Gate, k.gateID())
		}
		return "", fmt.Errorf("store: check QR: %w", ErrPassForged)
	}
	var r passRecord
	err = db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketVisitors).Get([]byte(q.Pass))
		if v == nil {
			return fmt.Errorf("%w: pass %s", ErrNotFound, q.Pass)
		}
		var err error
		if r, err = decodePass(v); err != nil {
			return fmt.Errorf("%w: pass %s: %w", ErrCorrupt, q.Pass, err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: check QR: %w", err)
	}
	if !r.From.Equal(q.From) || !r.Until.Equal(q.Until) || r.Uses != q.Uses {
		return "", fmt.Errorf("store: check QR: %w: payload differs from the pass record", ErrPassForged)
	}
	return r.ID, nil
}

// verifyVisitors checks every pass record decodes and sits under its ID.
func verifyVisitors(tx *bolt.Tx, _ KEK, _ deviceKeys, _ *verifyCounts) error {
	return tx.Bucket(bucketVisitors).ForEach(func(k, v []byte) error {
		r, err := decodePass(v)
		if err != nil {
			return damaged(bucketVisitors, k, "%v", err)
		}
		if r.ID != string(k) || !validPassID(r.ID) {
			return damaged(bucketVisitors, k, "record is of pass %s", r.ID)
		}
		return nil
	})
}

// PassKeep is how long a pass is kept after it ended (expired, used up,
// or revoked and past its validity): long enough for staff to see what
// happened to it; its uses stay in the audit log, under its ID, for the
// log's retention. Then its record (the visitor's name, the code's hash)
// is removed by PrunePasses.
const PassKeep = 30 * 24 * time.Hour

// PrunePasses removes the passes that ended more than keep ago, with one
// audit entry, and returns how many. A pass ends at its Until, or at its
// last use when that used it up.
func (db *DB) PrunePasses(actor string, keep time.Duration) (int, error) {
	now, err := db.now()
	if err != nil {
		return 0, fmt.Errorf("store: prune passes: %w", err)
	}
	n := 0
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVisitors)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			r, err := decodePass(v)
			if err != nil {
				return nil // a damaged record is the file check's to report, not ours to delete
			}
			ended := r.Until
			if r.Used >= r.Uses && !r.LastUsed.IsZero() && r.LastUsed.Before(ended) {
				ended = r.LastUsed
			}
			if !r.live(now) && now.Sub(ended) > keep {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil || len(old) == 0 {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return appendAudit(tx, db.keys, now, Event{Kind: KindAdmin, Actor: actor, Outcome: "ok",
			Detail: Detail(fmt.Sprintf("%d visitor passes that ended more than %s ago removed (their uses stay in the audit log)", n, keep))})
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune passes: %w", err)
	}
	return n, nil
}
