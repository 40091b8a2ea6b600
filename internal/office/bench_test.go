package office

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/store"
)

// BenchmarkCompound is the scale: 10,000 residents, each with a
// card and a PIN, and 20 gates. PINs are hashed with cheap argon2id
// parameters (1 pass, 64 KiB) so the set-up takes seconds, not 15 minutes
// at the default 32 MiB; the size of a hash, and so of a bundle, is the
// same. The store runs with NoSync in the set-up only.
//
//	go test -run '^$' -bench Compound -benchtime 3x ./internal/office/
func BenchmarkCompound(b *testing.B) {
	const residents, gates, entries = 10_000, 20, 5_000
	f := newFixture(b)
	f.o.Close()
	k, err := LoadKEKFile(f.keyf)
	if err != nil {
		b.Fatal(err)
	}
	o, err := Open(f.dir, k, Options{Now: f.clk.now, PIN: cheapPIN, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ids := make([]bundle.Identity, gates)
	for i := range gates {
		ids[i], _ = bundle.NewIdentity()
		if err := o.AddGate("bench", fmt.Sprintf("g%02d", i), ids[i].Public()); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	var rids []string
	for i := range residents {
		r, err := o.AddResident("bench", NewResident{Name: fmt.Sprintf("Resident %05d", i), Unit: fmt.Sprintf("%d-%03d", i/1000, i%1000)})
		if err != nil {
			b.Fatal(err)
		}
		rids = append(rids, r.ID)
		if _, err := o.AddCard("bench", r.ID, fmt.Sprint(1_000_000+i), time.Time{}, time.Time{}); err != nil {
			b.Fatal(err)
		}
		if err := o.SetPIN("bench", r.ID, fmt.Sprintf("%04d", i%10000)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("set-up: %d residents with cards and PINs, %d gates in %v", residents, gates, time.Since(start).Round(time.Millisecond))
	outbox := filepath.Join(b.TempDir(), "outbox")
	collect := filepath.Join(b.TempDir(), "collect")
	evSeq := uint64(0)
	chains := make([]struct {
		seq  uint64
		hash bundle.Digest
	}, gates)
	// report writes every gate's event bundle: applied (as acknowledged)
	// and n new audit entries continuing its chain.
	report := func(b *testing.B, n int) {
		b.Helper()
		evSeq++
		gs, _ := o.Gates()
		for i, g := range gs {
			ev := &bundle.Events{Compound: "greenhill", Gate: g.Name, Applied: g.Published}
			for range n {
				c := &chains[i]
				a := bundle.AuditEntry{Seq: c.seq + 1, Time: f.clk.t, Kind: "access", Actor: "gate:" + g.Name, Subject: "r-0123456789ab",
					Outcome: "granted", Detail: "method=face score=0.412", Prev: c.hash}
				a.Hash = store.AuditEntryHash(a.Seq, a.Time, a.Kind, a.Actor, a.Subject, a.Outcome, a.Detail, a.Prev)
				c.seq, c.hash = a.Seq, a.Hash
				ev.Audit = append(ev.Audit, a)
			}
			payload, err := ev.Encode()
			if err != nil {
				b.Fatal(err)
			}
			eb, err := bundle.Seal(ids[i], bundle.Header{Kind: bundle.KindEvents, Seq: evSeq, To: o.PublicKey()}, payload)
			if err != nil {
				b.Fatal(err)
			}
			p := filepath.Join(collect, g.Name, fmt.Sprintf("events-%020d.gevents", evSeq))
			os.MkdirAll(filepath.Dir(p), 0o750)
			if err := os.WriteFile(p, eb, 0o640); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("snapshot-per-gate", func(b *testing.B) {
		var size int
		for b.Loop() {
			ps, err := o.Publish("bench", outbox, PublishOptions{Snapshot: true, Gates: []string{"g00"}})
			if err != nil {
				b.Fatal(err)
			}
			size = ps[0].Bytes
		}
		b.ReportMetric(float64(size), "bytes/snapshot")
	})
	// Every gate applies a snapshot, so the next publish is a delta.
	if _, err := o.Publish("bench", outbox, PublishOptions{Snapshot: true}); err != nil {
		b.Fatal(err)
	}
	report(b, 0)
	if rep, err := o.Collect("bench", collect); err != nil || rep.Refused() > 0 {
		b.Fatalf("collect: %v %+v", err, rep.Files)
	}
	b.Run("delta-20-changes-20-gates", func(b *testing.B) {
		var size, n int
		for b.Loop() {
			b.StopTimer()
			for i := range 10 { // a typical day: 10 residents' changes, 5 new cards, 5 revoked
				name := fmt.Sprintf("Renamed %d", i)
				if _, err := o.UpdateResident("bench", rids[i], ResidentUpdate{Name: &name}); err != nil {
					b.Fatal(err)
				}
			}
			for range 5 {
				n++
				if _, err := o.AddCard("bench", rids[n], fmt.Sprint(5_000_000+n), time.Time{}, time.Time{}); err != nil {
					b.Fatal(err)
				}
				if _, err := o.RevokeCard("bench", fmt.Sprint(1_000_000+residents/2+n)); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			ps, err := o.Publish("bench", outbox, PublishOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if ps[0].Base == 0 {
				b.Fatalf("publish after a day: a snapshot, want deltas")
			}
			size = ps[0].Bytes
		}
		b.ReportMetric(float64(size), "bytes/delta")
	})
	b.Run("collect-day-5000-entries-20-gates", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			report(b, entries)
			b.StartTimer()
			rep, err := o.Collect("bench", collect)
			if err != nil || rep.Refused() > 0 {
				b.Fatalf("collect: %v %+v", err, rep.Files[0])
			}
		}
	})
}
