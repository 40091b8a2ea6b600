package store

import (
	"fmt"
	"testing"

	"github.com/gated-dev/gated/internal/bundle"
)

// BenchmarkCompoundSnapshot10k: open (verify, decrypt) and apply a
// snapshot of 10,000 residents, each with a card and a PIN. The PIN hashes
// use cheap argon2id parameters: applying stores them, it never runs
// argon2id, so their cost does not enter the measurement.
func BenchmarkCompoundSnapshot10k(b *testing.B) {
	o := newTestOffice(b)
	r := o.records("north")
	pin := officeHash(o.secret.PINPepper(), "2468")
	for i := range 10000 {
		id := fmt.Sprintf("r-%012x", i+1)
		r.Residents = append(r.Residents, bundle.Resident{ID: id, Name: fmt.Sprintf("Resident %d", i), Unit: fmt.Sprintf("%d-%d", i/100, i%100), PIN: pin})
		r.Cards = append(r.Cards, bundle.Card{Token: o.secret.CardToken(fmt.Sprint(100000 + i)), Resident: id})
	}
	for b.Loop() {
		b.StopTimer()
		db, _, _ := newTestDB(b)
		c := joinTest(b, db, o, "north")
		o.seq = 0
		raw := o.seal(b, c.Public, 0, r)
		b.ReportMetric(float64(len(raw)), "bundle-bytes")
		b.StartTimer()
		if _, err := importBundle(db, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompoundEvents5k: an event bundle of 5,000 audit entries.
func BenchmarkCompoundEvents5k(b *testing.B) {
	db, _, _ := newTestDB(b)
	o := newTestOffice(b)
	joinTest(b, db, o, "north")
	for i := range 5000 {
		db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:front", Subject: fmt.Sprintf("r-%012x", i), Outcome: "granted", Detail: "method=card+pin reader=front"})
	}
	id, _ := db.CompoundIdentity()
	for b.Loop() {
		h, ev, err := db.EventBundle(5000)
		if err != nil {
			b.Fatal(err)
		}
		p, _ := ev.Encode()
		raw, err := bundle.Seal(id, h, p)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(raw)), "bundle-bytes")
	}
}
