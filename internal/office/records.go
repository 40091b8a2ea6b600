package office

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/schedule"
)

// Resident is a person the office manages: the record a gate receives
// (bundle.Resident; it has no field for face data) and what only the
// office keeps. The guardian goes to a gate only when the gate also has
// the guardian.
type Resident struct {
	bundle.Resident
	Gates   []string  `json:"gates,omitempty"` // empty: every gate
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// NewResident is what staff give for a new resident.
type NewResident struct {
	Name, Unit            string
	Minor                 bool
	Guardian              string
	ValidFrom, ValidUntil time.Time
	Profile, Group        string
	Gates                 []string // nil: every gate
}

// ResidentUpdate changes the fields that are not nil.
type ResidentUpdate struct {
	Name, Unit, Guardian, Profile, Group *string
	Minor                                *bool
	ValidFrom, ValidUntil                *time.Time
	Gates                                *[]string // empty: every gate
}

// Card is a card by its token; the number itself is never kept.
type Card struct {
	Token      []byte    `json:"token"`
	Last2      string    `json:"last2"` // the number's last 2 digits, for staff to tell cards apart
	Resident   string    `json:"resident"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	Added      time.Time `json:"added"`
}

// Pass is a visitor pass issued at the office; the code is never kept.
type Pass struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	From    time.Time   `json:"from"`
	Until   time.Time   `json:"until"`
	Uses    int         `json:"uses"`
	Revoked bool        `json:"revoked,omitempty"`
	Gates   []string    `json:"gates,omitempty"`
	Hint    []byte      `json:"hint"`
	Code    bundle.Hash `json:"code"`
	Issued  time.Time   `json:"issued"`
	Issuer  string      `json:"issuer"`
}

// NewPass is what staff ask for.
type NewPass struct {
	Name        string
	From, Until time.Time
	Uses        int
	Gates       []string
}

// IssuedPass is a new pass with its code, shown once.
type IssuedPass struct {
	Pass
	Code string
}

// PassCodeDigits is the length of a visitor code (the gate's).
const PassCodeDigits = 10

// change is one change-log entry: a record and the gates it applied to
// before and after the change.
type change struct {
	Rev      uint64    `json:"rev"`
	Kind     byte      `json:"kind"` // 'r' resident, 'c' card (ID: token hex), 'v' pass
	ID       string    `json:"id"`
	Resident string    `json:"resident,omitempty"` // a card's resident
	Before   []string  `json:"before,omitempty"`
	After    []string  `json:"after,omitempty"`
	At       time.Time `json:"at"`
}

func (o *Office) logChange(tx *bolt.Tx, kind byte, id, resident string, before, after []string) error {
	c, err := o.counters(tx)
	if err != nil {
		return err
	}
	c.Rev++
	c.LastChange = o.now()
	if err := o.put(tx, bucketChanges, be64(c.Rev), change{Rev: c.Rev, Kind: kind, ID: id, Resident: resident, Before: before, After: after, At: c.LastChange}); err != nil {
		return err
	}
	return o.setCounters(tx, c)
}

func newID(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// gateNames lists the gates in name order.
func (o *Office) gateNames(tx *bolt.Tx) []string {
	var out []string
	tx.Bucket(bucketGates).ForEach(func(k, _ []byte) error { out = append(out, string(k)); return nil })
	return out
}

// expand turns a record's gate list (empty: every gate) into names.
func (o *Office) expand(tx *bolt.Tx, gates []string) []string {
	if len(gates) == 0 {
		return o.gateNames(tx)
	}
	return gates
}

func (o *Office) checkGates(tx *bolt.Tx, gates []string) error {
	for _, g := range gates {
		if tx.Bucket(bucketGates).Get([]byte(g)) == nil {
			return fmt.Errorf("%w: no gate %q (gated office gate list)", ErrInvalid, g)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(gates)))) != len(gates) {
		return fmt.Errorf("%w: a gate is listed twice", ErrInvalid)
	}
	return nil
}

// checkResident validates r with the bundle's own rules and the office's
// profiles, groups and guardian.
func (o *Office) checkResident(tx *bolt.Tx, r Resident) error {
	rec := bundle.Records{Version: bundle.PayloadVersion, Compound: o.compound, Gate: "check", Secret: o.secret,
		Residents: []bundle.Resident{o.toBundle(r, true)}, Profiles: bundle.Profiles{}, Groups: map[string]string{}}
	if r.Profile != "" {
		if tx.Bucket(bucketProfiles).Get([]byte(r.Profile)) == nil {
			return fmt.Errorf("%w: no profile %q (gated office schedule profile set)", ErrInvalid, r.Profile)
		}
		rec.Profiles[r.Profile] = []string{"x"}
	}
	if r.Group != "" {
		var p string
		if ok, err := o.get(tx, bucketGroups, []byte(r.Group), &p); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: no group %q (gated office schedule group set)", ErrInvalid, r.Group)
		}
		rec.Groups[r.Group] = p
		rec.Profiles[p] = []string{"x"}
	}
	if err := rec.Check(false); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if r.Guardian != "" {
		if r.Guardian == r.ID {
			return fmt.Errorf("%w: a resident is not their own guardian", ErrInvalid)
		}
		if tx.Bucket(bucketResidents).Get([]byte(r.Guardian)) == nil {
			return fmt.Errorf("%w: guardian %s is not a resident", ErrInvalid, r.Guardian)
		}
	}
	if r.Guardian != "" && !r.Minor {
		return fmt.Errorf("%w: a guardian is for a minor (--minor)", ErrInvalid)
	}
	return o.checkGates(tx, r.Gates)
}

func (o *Office) toBundle(r Resident, guardian bool) bundle.Resident {
	b := r.Resident
	if !guardian {
		b.Guardian = ""
	}
	return b
}

// AddResident adds a resident for the gates it names (every gate when none).
func (o *Office) AddResident(actor string, n NewResident) (Resident, error) {
	now := o.now()
	r := Resident{Resident: bundle.Resident{ID: newID("r"), Name: n.Name, Unit: n.Unit, Minor: n.Minor, Guardian: n.Guardian,
		ValidFrom: n.ValidFrom, ValidUntil: n.ValidUntil, Profile: n.Profile, Group: n.Group}, Gates: n.Gates, Created: now, Updated: now}
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := o.checkResident(tx, r); err != nil {
			return err
		}
		if err := o.put(tx, bucketResidents, []byte(r.ID), r); err != nil {
			return err
		}
		if err := o.logChange(tx, 'r', r.ID, "", nil, o.expand(tx, r.Gates)); err != nil {
			return err
		}
		return o.logTx(tx, actor, "resident add", r.ID, "gates="+gatesText(r.Gates))
	})
	if err != nil {
		return Resident{}, fmt.Errorf("office: add resident: %w", err)
	}
	return r, nil
}

func gatesText(g []string) string {
	if len(g) == 0 {
		return "all"
	}
	return strings.Join(g, ",")
}

func (o *Office) resident(tx *bolt.Tx, id string) (Resident, error) {
	var r Resident
	ok, err := o.get(tx, bucketResidents, []byte(id), &r)
	if err == nil && !ok {
		err = fmt.Errorf("%w: resident %s", ErrNotFound, id)
	}
	return r, err
}

// cardsOf lists a resident's cards.
func (o *Office) cardsOf(tx *bolt.Tx, id string) ([]Card, error) {
	var out []Card
	err := each(o, tx, bucketCards, nil, func(_ []byte, c *Card) error {
		if c.Resident == id {
			out = append(out, *c)
		}
		return nil
	})
	return out, err
}

// UpdateResident changes a resident's fields; a change of gates takes
// the resident (with cards and PIN) to the new gates and removes it, with
// its face data, from the gates it no longer applies to.
func (o *Office) UpdateResident(actor, id string, u ResidentUpdate) (Resident, error) {
	var r Resident
	err := o.db.Update(func(tx *bolt.Tx) error {
		var err error
		if r, err = o.resident(tx, id); err != nil {
			return err
		}
		before := o.expand(tx, r.Gates)
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&r.Name, u.Name)
		set(&r.Unit, u.Unit)
		set(&r.Guardian, u.Guardian)
		set(&r.Profile, u.Profile)
		set(&r.Group, u.Group)
		if u.Minor != nil {
			r.Minor = *u.Minor
		}
		if u.ValidFrom != nil {
			r.ValidFrom = *u.ValidFrom
		}
		if u.ValidUntil != nil {
			r.ValidUntil = *u.ValidUntil
		}
		if u.Gates != nil {
			r.Gates = *u.Gates
		}
		r.Updated = o.now()
		if err := o.checkResident(tx, r); err != nil {
			return err
		}
		if err := o.put(tx, bucketResidents, []byte(r.ID), r); err != nil {
			return err
		}
		after := o.expand(tx, r.Gates)
		if err := o.logChange(tx, 'r', r.ID, "", before, after); err != nil {
			return err
		}
		if !slices.Equal(before, after) {
			// Cards go with the resident to gates newly added; at the
			// gates dropped they go with the resident's removal.
			cards, err := o.cardsOf(tx, r.ID)
			if err != nil {
				return err
			}
			for _, c := range cards {
				if err := o.logChange(tx, 'c', hex.EncodeToString(c.Token), r.ID, before, after); err != nil {
					return err
				}
			}
		}
		return o.logTx(tx, actor, "resident set", r.ID, "gates="+gatesText(r.Gates))
	})
	if err != nil {
		return Resident{}, fmt.Errorf("office: update resident %s: %w", id, err)
	}
	return r, nil
}

// Residents lists every resident, in ID order.
func (o *Office) Residents() ([]Resident, error) {
	var out []Resident
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketResidents, nil, func(_ []byte, r *Resident) error { out = append(out, *r); return nil })
	})
	return out, err
}

// Resident returns one resident and their cards.
func (o *Office) Resident(id string) (Resident, []Card, error) {
	var r Resident
	var cards []Card
	err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		if r, err = o.resident(tx, id); err != nil {
			return err
		}
		cards, err = o.cardsOf(tx, id)
		return err
	})
	return r, cards, err
}

// RemoveResident removes a resident with their cards and PIN from every
// gate, and orders their face data destroyed at every gate it applied to
// (an erasure order, so each gate's receipt comes back). It returns the
// order.
func (o *Office) RemoveResident(actor, id, reason string) (Erasure, error) {
	var e Erasure
	err := o.db.Update(func(tx *bolt.Tx) error {
		r, err := o.resident(tx, id)
		if err != nil {
			return err
		}
		var minors []string
		err = each(o, tx, bucketResidents, nil, func(_ []byte, x *Resident) error {
			if x.Guardian == id {
				minors = append(minors, x.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(minors) > 0 {
			return fmt.Errorf("%w: %s is the guardian of %s: change that first", ErrInvalid, id, strings.Join(minors, ", "))
		}
		cards, err := o.cardsOf(tx, id)
		if err != nil {
			return err
		}
		for _, c := range cards {
			if err := tx.Bucket(bucketCards).Delete(c.Token); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketResidents).Delete([]byte(id)); err != nil {
			return err
		}
		before := o.expand(tx, r.Gates)
		if err := o.logChange(tx, 'r', id, "", before, nil); err != nil {
			return err
		}
		if e, err = o.newErasure(tx, id, "office", reason, o.now(), targetsFor(before, o.faceGates(tx, id), "")); err != nil {
			return err
		}
		return o.logTx(tx, actor, "resident remove", id, fmt.Sprintf("erasure %s; %d cards; reason: %s", e.ID, len(cards), reason))
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("office: remove resident %s: %w", id, err)
	}
	return e, nil
}

// AddCard registers a card (as NormalizeCardNumber reads it) for a
// resident; only its token and last 2 digits are kept.
func (o *Office) AddCard(actor, residentID, number string, from, until time.Time) (Card, error) {
	n, err := fallback.NormalizeCardNumber(number)
	if err != nil {
		return Card{}, fmt.Errorf("office: add card: %w", err)
	}
	c := Card{Token: o.secret.CardToken(n), Last2: last2(n), Resident: residentID, ValidFrom: from, ValidUntil: until, Added: o.now()}
	if !from.IsZero() && !until.IsZero() && !from.Before(until) {
		return Card{}, fmt.Errorf("office: add card: %w: valid from is not before valid until", ErrInvalid)
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		r, err := o.resident(tx, residentID)
		if err != nil {
			return err
		}
		var old Card
		if ok, err := o.get(tx, bucketCards, c.Token, &old); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: the card is assigned to %s already", ErrExists, old.Resident)
		}
		if err := o.put(tx, bucketCards, c.Token, c); err != nil {
			return err
		}
		g := o.expand(tx, r.Gates)
		if err := o.logChange(tx, 'c', hex.EncodeToString(c.Token), r.ID, nil, g); err != nil {
			return err
		}
		return o.logTx(tx, actor, "card add", r.ID, "card:"+hex.EncodeToString(c.Token[:4])+" ending "+c.Last2)
	})
	if err != nil {
		return Card{}, fmt.Errorf("office: add card: %w", err)
	}
	return c, nil
}

func last2(n string) string {
	if len(n) < 2 {
		return n
	}
	return n[len(n)-2:]
}

// RevokeCard removes a card from every gate.
func (o *Office) RevokeCard(actor, number string) (Card, error) {
	n, err := fallback.NormalizeCardNumber(number)
	if err != nil {
		return Card{}, fmt.Errorf("office: revoke card: %w", err)
	}
	token := o.secret.CardToken(n)
	var c Card
	err = o.db.Update(func(tx *bolt.Tx) error {
		ok, err := o.get(tx, bucketCards, token, &c)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no such card", ErrNotFound)
		}
		r, err := o.resident(tx, c.Resident)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketCards).Delete(token); err != nil {
			return err
		}
		if err := o.logChange(tx, 'c', hex.EncodeToString(token), r.ID, o.expand(tx, r.Gates), nil); err != nil {
			return err
		}
		return o.logTx(tx, actor, "card revoke", r.ID, "card:"+hex.EncodeToString(token[:4])+" ending "+c.Last2)
	})
	if err != nil {
		return Card{}, fmt.Errorf("office: revoke card: %w", err)
	}
	return c, nil
}

func (o *Office) pinParams() PINParams {
	if o.opts.PIN == (PINParams{}) {
		return DefaultPINParams()
	}
	return o.opts.PIN
}

func checkPIN(pin string) error {
	if len(pin) < 4 || len(pin) > 32 || strings.Trim(pin, "0123456789") != "" {
		return fmt.Errorf("%w: a PIN is 4 to 32 digits", ErrInvalid)
	}
	return nil
}

// SetPIN sets a resident's PIN (hashed here; never kept in clear).
func (o *Office) SetPIN(actor, id, pin string) error {
	if err := checkPIN(pin); err != nil {
		return fmt.Errorf("office: set PIN: %w", err)
	}
	pp := o.pinParams()
	h, err := bundle.NewHash(o.secret.PINPepper(), pin, pp.Time, pp.MemoryKiB, pp.Threads) // slow: outside the transaction
	if err != nil {
		return fmt.Errorf("office: set PIN: %w", err)
	}
	return o.changePIN(actor, id, &h, "pin set")
}

// ClearPIN removes a resident's PIN.
func (o *Office) ClearPIN(actor, id string) error { return o.changePIN(actor, id, nil, "pin clear") }

func (o *Office) changePIN(actor, id string, h *bundle.Hash, what string) error {
	err := o.db.Update(func(tx *bolt.Tx) error {
		r, err := o.resident(tx, id)
		if err != nil {
			return err
		}
		r.PIN, r.Updated = h, o.now()
		if err := o.put(tx, bucketResidents, []byte(id), r); err != nil {
			return err
		}
		g := o.expand(tx, r.Gates)
		if err := o.logChange(tx, 'r', id, "", g, g); err != nil {
			return err
		}
		return o.logTx(tx, actor, what, id, "")
	})
	if err != nil {
		return fmt.Errorf("office: %s: %w", what, err)
	}
	return nil
}

func newPassCode() string {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(PassCodeDigits), nil))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%0*d", PassCodeDigits, n)
}

// AddPass issues a visitor pass for the gates it names (every gate when
// none) and returns it with its code, shown once.
func (o *Office) AddPass(actor string, n NewPass) (IssuedPass, error) {
	now := o.now()
	p := Pass{ID: newID("v"), Name: n.Name, From: n.From.UTC().Truncate(time.Second), Until: n.Until.UTC().Truncate(time.Second),
		Uses: n.Uses, Gates: n.Gates, Issued: now, Issuer: actor}
	var code string
	hintKey := o.secret.CodeHintKey()
	err := o.db.View(func(tx *bolt.Tx) error {
		if err := o.checkGates(tx, p.Gates); err != nil {
			return err
		}
		live := map[string]bool{}
		err := each(o, tx, bucketPasses, nil, func(_ []byte, x *Pass) error {
			if !x.Revoked && now.Before(x.Until) {
				live[string(x.Hint)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for range 64 { // a code whose hint is free among live passes
			code = newPassCode()
			if p.Hint = bundle.CodeHint(hintKey, code); !live[string(p.Hint)] {
				break
			}
		}
		return nil
	})
	if err != nil {
		return IssuedPass{}, fmt.Errorf("office: add pass: %w", err)
	}
	pp := o.pinParams()
	if p.Code, err = bundle.NewHash(o.secret.CodePepper(), code, pp.Time, pp.MemoryKiB, pp.Threads); err != nil {
		return IssuedPass{}, fmt.Errorf("office: add pass: %w", err)
	}
	bp := bundle.Pass{ID: p.ID, Name: p.Name, From: p.From, Until: p.Until, Uses: p.Uses, Hint: p.Hint, Code: p.Code}
	rec := bundle.Records{Version: bundle.PayloadVersion, Compound: o.compound, Gate: "check", Secret: o.secret, Passes: []bundle.Pass{bp}}
	if err := rec.Check(false); err != nil {
		return IssuedPass{}, fmt.Errorf("office: add pass: %w: %v", ErrInvalid, err)
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		if err := o.put(tx, bucketPasses, []byte(p.ID), p); err != nil {
			return err
		}
		if err := o.logChange(tx, 'v', p.ID, "", nil, o.expand(tx, p.Gates)); err != nil {
			return err
		}
		return o.logTx(tx, actor, "visitor add", p.ID, fmt.Sprintf("uses=%d from=%s until=%s gates=%s", p.Uses,
			p.From.Format(time.RFC3339), p.Until.Format(time.RFC3339), gatesText(p.Gates)))
	})
	if err != nil {
		return IssuedPass{}, fmt.Errorf("office: add pass: %w", err)
	}
	return IssuedPass{Pass: p, Code: code}, nil
}

// Passes lists every pass.
func (o *Office) Passes() ([]Pass, error) {
	var out []Pass
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketPasses, nil, func(_ []byte, p *Pass) error { out = append(out, *p); return nil })
	})
	slices.SortFunc(out, func(a, b Pass) int { return a.Issued.Compare(b.Issued) })
	return out, err
}

// RevokePass revokes a pass at every gate.
func (o *Office) RevokePass(actor, id string) error {
	err := o.db.Update(func(tx *bolt.Tx) error {
		var p Pass
		ok, err := o.get(tx, bucketPasses, []byte(id), &p)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: pass %s", ErrNotFound, id)
		}
		p.Revoked = true
		if err := o.put(tx, bucketPasses, []byte(id), p); err != nil {
			return err
		}
		g := o.expand(tx, p.Gates)
		if err := o.logChange(tx, 'v', id, "", g, g); err != nil {
			return err
		}
		return o.logTx(tx, actor, "visitor revoke", id, "")
	})
	if err != nil {
		return fmt.Errorf("office: revoke pass: %w", err)
	}
	return nil
}

// SetProfile defines or replaces a weekly time profile ("workdays
// 08:00-18:00"; the syntax of [schedule.profiles]).
func (o *Office) SetProfile(actor, name string, windows []string) error {
	if err := bundle.CheckName("profile", name); err != nil {
		return err
	}
	if len(windows) == 0 || len(windows) > 16 {
		return fmt.Errorf("office: profile %s: %w: 1 to 16 windows", name, ErrInvalid)
	}
	if _, err := schedule.ParseProfile(name, windows); err != nil {
		return fmt.Errorf("office: profile %s: %w", name, err)
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		if err := o.put(tx, bucketProfiles, []byte(name), windows); err != nil {
			return err
		}
		return o.logTx(tx, actor, "profile set", name, strings.Join(windows, "; "))
	})
}

// RemoveProfile removes a profile no resident or group uses.
func (o *Office) RemoveProfile(actor, name string) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketProfiles).Get([]byte(name)) == nil {
			return fmt.Errorf("office: %w: profile %s", ErrNotFound, name)
		}
		if user := o.usedBy(tx, func(r *Resident) bool { return r.Profile == name }); user != "" {
			return fmt.Errorf("office: %w: profile %s is used by %s", ErrInvalid, name, user)
		}
		var group string
		each(o, tx, bucketGroups, nil, func(k []byte, p *string) error {
			if *p == name {
				group = string(k)
			}
			return nil
		})
		if group != "" {
			return fmt.Errorf("office: %w: profile %s is used by group %s", ErrInvalid, name, group)
		}
		if err := tx.Bucket(bucketProfiles).Delete([]byte(name)); err != nil {
			return err
		}
		return o.logTx(tx, actor, "profile remove", name, "")
	})
}

func (o *Office) usedBy(tx *bolt.Tx, f func(*Resident) bool) string {
	var who string
	each(o, tx, bucketResidents, nil, func(_ []byte, r *Resident) error {
		if who == "" && f(r) {
			who = r.ID
		}
		return nil
	})
	return who
}

// SetGroup makes a group of residents follow a profile.
func (o *Office) SetGroup(actor, name, profile string) error {
	if err := bundle.CheckName("group", name); err != nil {
		return err
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketProfiles).Get([]byte(profile)) == nil {
			return fmt.Errorf("office: %w: no profile %q", ErrInvalid, profile)
		}
		if err := o.put(tx, bucketGroups, []byte(name), profile); err != nil {
			return err
		}
		return o.logTx(tx, actor, "group set", name, "profile="+profile)
	})
}

// RemoveGroup removes a group no resident is in.
func (o *Office) RemoveGroup(actor, name string) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketGroups).Get([]byte(name)) == nil {
			return fmt.Errorf("office: %w: group %s", ErrNotFound, name)
		}
		if user := o.usedBy(tx, func(r *Resident) bool { return r.Group == name }); user != "" {
			return fmt.Errorf("office: %w: group %s has %s", ErrInvalid, name, user)
		}
		if err := tx.Bucket(bucketGroups).Delete([]byte(name)); err != nil {
			return err
		}
		return o.logTx(tx, actor, "group remove", name, "")
	})
}

// Schedules returns the profiles and groups.
func (o *Office) Schedules() (bundle.Profiles, map[string]string, error) {
	var p bundle.Profiles
	var g map[string]string
	err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		p, g, err = o.schedules(tx)
		return err
	})
	return p, g, err
}

func (o *Office) schedules(tx *bolt.Tx) (bundle.Profiles, map[string]string, error) {
	p := bundle.Profiles{}
	g := map[string]string{}
	err := each(o, tx, bucketProfiles, nil, func(k []byte, w *[]string) error { p[string(k)] = *w; return nil })
	if err == nil {
		err = each(o, tx, bucketGroups, nil, func(k []byte, v *string) error { g[string(k)] = *v; return nil })
	}
	return p, g, err
}

// Gate is a gate the office publishes to, and what it has collected from it.
type Gate struct {
	Name        string    `json:"name"`
	Key         string    `json:"key"` // the gate's public key (bundle.PublicKey.String)
	Added       time.Time `json:"added"`
	Published   uint64    `json:"published,omitempty"` // the newest records bundle written for it
	PublishedAt time.Time `json:"published_at,omitzero"`
	Applied     uint64    `json:"applied,omitempty"` // the newest it reported applied
	EventsSeq   uint64    `json:"events_seq,omitempty"`
	EventsAt    time.Time `json:"events_at,omitzero"` // the newest event bundle's creation
	CollectedAt time.Time `json:"collected_at,omitzero"`
	AuditSeq    uint64    `json:"audit_seq,omitempty"` // the gate's audit chain is held up to this entry
	AuditHash   bundle.Digest
	AuditHeld   int             `json:"audit_held,omitempty"` // entries kept (3 years)
	ChainError  string          `json:"chain_error,omitempty"`
	Refusal     string          `json:"refusal,omitempty"` // the last event bundle refused, and why
	RefusedAt   time.Time       `json:"refused_at,omitzero"`
	Faces       map[string]int  `json:"faces,omitempty"`
	Imports     []bundle.Import `json:"imports,omitempty"` // the latest import results (up to 20)
}

// PublicKey parses the gate's key.
func (g Gate) PublicKey() (bundle.PublicKey, error) { return bundle.ParsePublicKey(g.Key) }

// AddGate registers a gate by name and public key (what gated compound
// join printed on it).
func (o *Office) AddGate(actor, name string, key bundle.PublicKey) error {
	if err := bundle.CheckName("gate", name); err != nil {
		return err
	}
	if key.IsZero() {
		return fmt.Errorf("office: add gate: %w: no key", ErrInvalid)
	}
	if key == o.id.Public() {
		return fmt.Errorf("office: add gate: %w: that is the office's own key", ErrInvalid)
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketGates).Get([]byte(name)) != nil {
			return fmt.Errorf("office: add gate: %w: gate %s", ErrExists, name)
		}
		var dup string
		each(o, tx, bucketGates, nil, func(_ []byte, g *Gate) error {
			if g.Key == key.String() {
				dup = g.Name
			}
			return nil
		})
		if dup != "" {
			return fmt.Errorf("office: add gate: %w: gate %s has this key", ErrExists, dup)
		}
		if err := o.put(tx, bucketGates, []byte(name), Gate{Name: name, Key: key.String(), Added: o.now()}); err != nil {
			return err
		}
		return o.logTx(tx, actor, "gate add", name, "key "+key.Fingerprint())
	})
}

// Gates lists the gates.
func (o *Office) Gates() ([]Gate, error) {
	var out []Gate
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketGates, nil, func(_ []byte, g *Gate) error { out = append(out, *g); return nil })
	})
	return out, err
}

func (o *Office) gate(tx *bolt.Tx, name string) (Gate, error) {
	var g Gate
	ok, err := o.get(tx, bucketGates, []byte(name), &g)
	if err == nil && !ok {
		err = fmt.Errorf("%w: gate %s", ErrNotFound, name)
	}
	return g, err
}

// Erasure is an order to destroy a resident's face data at gates, and
// what came back.
type Erasure struct {
	bundle.Erasure
	Targets  []string                  `json:"targets"` // the gates ordered (not the gate it was asked at)
	Receipts map[string]bundle.Receipt `json:"receipts,omitempty"`
	Done     time.Time                 `json:"done,omitzero"` // every target receipted
}

// Pending lists the targets that have not receipted.
func (e Erasure) Pending() []string {
	var out []string
	for _, g := range e.Targets {
		if _, ok := e.Receipts[g]; !ok {
			out = append(out, g)
		}
	}
	return out
}

// faceGates lists the gates that report face data for a resident.
func (o *Office) faceGates(tx *bolt.Tx, id string) []string {
	var out []string
	each(o, tx, bucketGates, nil, func(_ []byte, g *Gate) error {
		if g.Faces[id] > 0 {
			out = append(out, g.Name)
		}
		return nil
	})
	return out
}

// targetsFor is the union of a and b without except, sorted.
func targetsFor(a, b []string, except string) []string {
	var out []string
	for _, g := range append(slices.Clone(a), b...) {
		if g != except && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

func (o *Office) newErasure(tx *bolt.Tx, resident, origin, reason string, requested time.Time, targets []string) (Erasure, error) {
	e := Erasure{Erasure: bundle.Erasure{ID: newID("e"), Resident: resident, Requested: requested, Origin: origin, Reason: reason}, Targets: targets}
	if err := e.Erasure.Check(); err != nil {
		return Erasure{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(targets) == 0 {
		e.Done = o.now()
	}
	return e, o.put(tx, bucketErasures, []byte(e.ID), e)
}

// OptOut orders a resident's face data destroyed at every gate: the
// resident asked at the office (requested is when; zero: now).
func (o *Office) OptOut(actor, residentID, reason string, requested time.Time) (Erasure, error) {
	if requested.IsZero() {
		requested = o.now()
	}
	var e Erasure
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := bundle.CheckID('r', residentID); err != nil {
			return err
		}
		if _, err := o.resident(tx, residentID); err != nil && len(o.faceGates(tx, residentID)) == 0 {
			return err
		}
		var err error
		if e, err = o.newErasure(tx, residentID, "office", reason, requested, o.gateNames(tx)); err != nil {
			return err
		}
		return o.logTx(tx, actor, "optout", residentID, "erasure "+e.ID+" to "+gatesText(e.Targets)+"; reason: "+reason)
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("office: opt-out: %w", err)
	}
	return e, nil
}

// Erasures lists every erasure order, oldest request first.
func (o *Office) Erasures() ([]Erasure, error) {
	var out []Erasure
	err := o.db.View(func(tx *bolt.Tx) error {
		return each(o, tx, bucketErasures, nil, func(_ []byte, e *Erasure) error { out = append(out, *e); return nil })
	})
	slices.SortFunc(out, func(a, b Erasure) int { return a.Requested.Compare(b.Requested) })
	return out, err
}
