package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// auditDB returns a store with a few dozen audit entries.
func auditDB(t *testing.T) *DB {
	t.Helper()
	db, _, _ := newTestDB(t)
	r := newRand(31)
	res, _ := addEnrolled(t, db, r, "Audit Subject", 2)
	for i := range 20 {
		out := "granted"
		if i%4 == 0 {
			out = "denied"
		}
		if _, err := db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Subject: res.ID, Outcome: out, Detail: "method=face distance=0.38"}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestAuditChain(t *testing.T) {
	db := auditDB(t)
	rep, err := db.VerifyAudit()
	if err != nil || !rep.OK() || rep.Entries != 23 || rep.LastGood != 23 {
		t.Fatalf("VerifyAudit = %+v, %v; want 23 good entries", rep, err)
	}
	var prev [32]byte
	var kinds []Kind
	err = db.ForEachAudit(1, func(a AuditEntry) error {
		if a.PrevHash != prev || a.computeHash() != a.Hash {
			t.Errorf("entry %d does not chain", a.Seq)
		}
		prev = a.Hash
		kinds = append(kinds, a.Kind)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds[0] != KindKeyChange || kinds[1] != KindAdmin || kinds[2] != KindEnroll || kinds[3] != KindAccess {
		t.Errorf("first kinds = %v, want key-change, admin, enroll, access", kinds[:4])
	}
}

func TestAuditTamper(t *testing.T) {
	edit := func(seq uint64, f func(a *AuditEntry)) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			a, err := decodeAudit(b.Get(be64(seq)))
			if err != nil {
				return err
			}
			f(&a)
			return b.Put(be64(seq), encodeAudit(a))
		}
	}
	tests := []struct {
		name         string
		mutate       func(tx *bolt.Tx) error
		wantFirstBad uint64
		wantProblem  string
	}{
		{"altered detail", edit(7, func(a *AuditEntry) { a.Outcome = "granted!" }), 7, "altered"},
		{"altered and rehashed", edit(7, func(a *AuditEntry) { a.Outcome = "x"; a.Hash = a.computeHash() }), 8, "does not link"},
		{"removed entry", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(be64(10)) }, 10, "missing"},
		{"garbage entry", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Put(be64(3), []byte{1, 2, 3}) }, 3, "decode"},
		{"tail cut off", func(tx *bolt.Tx) error {
			for s := uint64(20); s <= 23; s++ {
				if err := tx.Bucket(bucketAudit).Delete(be64(s)); err != nil {
					return err
				}
			}
			return nil
		}, 20, "tail cut off"},
		{"whole chain rewritten without the key", func(tx *bolt.Tx) error {
			// Change entry 5 and recompute every later hash, as someone
			// with the file but not the KEK could.
			b := tx.Bucket(bucketAudit)
			var prev [32]byte
			for s := uint64(1); s <= 23; s++ {
				a, _ := decodeAudit(b.Get(be64(s)))
				if s == 5 {
					a.Subject = "r-someoneelse"
				}
				a.PrevHash = prev
				a.Hash = a.computeHash()
				prev = a.Hash
				if err := b.Put(be64(s), encodeAudit(a)); err != nil {
					return err
				}
			}
			head, _ := decodeAuditHead(tx.Bucket(bucketMeta).Get(metaAuditHead))
			head.Hash = prev
			return tx.Bucket(bucketMeta).Put(metaAuditHead, encodeAuditHead(head))
		}, 1, "seal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := auditDB(t)
			if err := db.bolt.Update(tt.mutate); err != nil {
				t.Fatal(err)
			}
			rep, err := db.VerifyAudit()
			if !errors.Is(err, ErrAuditBroken) || rep.OK() {
				t.Fatalf("VerifyAudit = %+v, %v; want ErrAuditBroken", rep, err)
			}
			if rep.FirstBad != tt.wantFirstBad || !strings.Contains(rep.Problem, tt.wantProblem) {
				t.Errorf("VerifyAudit first bad = %d (%s), want %d (%s)", rep.FirstBad, rep.Problem, tt.wantFirstBad, tt.wantProblem)
			}
		})
	}
}

func TestAuditEventLimits(t *testing.T) {
	db, _, _ := newTestDB(t)
	descriptor := hex.EncodeToString(appendFloats(nil, unitVector(newRand(1), 128)))
	tests := []struct {
		name string
		ev   Event
	}{
		{"unknown kind", Event{Kind: "biometric", Actor: "gate"}},
		{"no actor", Event{Kind: KindAccess}},
		{"descriptor in detail", Event{Kind: KindAccess, Actor: "gate", Detail: descriptor}},
		{"descriptor in subject", Event{Kind: KindAccess, Actor: "gate", Subject: descriptor}},
		{"binary detail", Event{Kind: KindAccess, Actor: "gate", Detail: "\x00\x01\x02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.AppendAudit(tt.ev); !errors.Is(err, ErrInvalid) {
				t.Errorf("AppendAudit = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestAuditExport checks each exported line re-hashes to its hash, so the
// export can be verified away from the device.
func TestAuditExport(t *testing.T) {
	db := auditDB(t)
	var buf bytes.Buffer
	if err := db.ExportAudit(&buf, 1); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var prev string = strings.Repeat("0", 64)
	n := 0
	for sc.Scan() {
		var j auditJSON
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		a := AuditEntry{Seq: j.Seq, Time: j.Time, Event: Event{Kind: j.Kind, Actor: j.Actor, Subject: j.Subject, Outcome: j.Outcome, Detail: j.Detail}}
		p, _ := hex.DecodeString(j.Prev)
		copy(a.PrevHash[:], p)
		h := a.computeHash()
		if j.Prev != prev || hex.EncodeToString(h[:]) != j.Hash {
			t.Errorf("line %d does not verify", n+1)
		}
		prev = j.Hash
		n++
	}
	if n != 23 {
		t.Errorf("exported %d lines, want 23", n)
	}
	var tail bytes.Buffer
	if err := db.ExportAudit(&tail, 20); err != nil || strings.Count(tail.String(), "\n") != 4 {
		t.Errorf("ExportAudit(from 20) = %d lines, %v; want 4", strings.Count(tail.String(), "\n"), err)
	}
	_ = sha256.Size
}

func TestDetailAlwaysFits(t *testing.T) {
	long := strings.Repeat("门", 100) // 300 bytes
	for _, s := range []string{long, "line\nbreak\x00", string([]byte{0xff, 'a'}), ""} {
		d := Detail(s)
		if err := checkText("audit detail", d, maxAuditDetail, false); err != nil {
			t.Errorf("Detail(%q) = %q, refused by the store: %v", s, d, err)
		}
	}
	if d := Detail(long); len(d) != 159 || !utf8.ValidString(d) {
		t.Errorf("Detail of 100 three-byte runes = %d bytes, valid %v; want 159, cut at a rune", len(d), utf8.ValidString(d))
	}
}
