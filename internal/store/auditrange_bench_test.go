package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A busy gate: 5,000 audit entries a day (docs/ops-records.md).
const auditBenchPerDay = 5000

// auditBenchStart is the log's first day, the day after buildGallery's
// residents were enrolled.
var auditBenchStart = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// auditBenchTime is when entry i (from 0) of the benchmark log was
// recorded: evenly through each day.
func auditBenchTime(i int) time.Time {
	return auditBenchStart.Add(time.Duration(i) * (24 * time.Hour / auditBenchPerDay))
}

// auditBenchEvent is a busy gate's mix: mostly face and card grants, some
// refusals with their reason, alarms and staff changes, with the details
// the gate writes (internal/gate) and resident IDs as the store makes them.
func auditBenchEvent(i int) Event {
	sub := fmt.Sprintf("r-%012x", (i*7919)%1000)
	switch i % 20 {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10:
		return Event{Kind: KindAccess, Actor: "gate", Subject: sub, Outcome: "granted", Detail: "method=face reader=front distance=0.412 margin=0.118"}
	case 11, 12, 13, 14:
		return Event{Kind: KindAccess, Actor: "gate", Subject: sub, Outcome: "granted", Detail: "method=card+pin reader=front"}
	case 15:
		return Event{Kind: KindAccess, Actor: "gate", Subject: sub, Outcome: "denied", Detail: "method=card+pin reader=front reason=wrong PIN"}
	case 16:
		return Event{Kind: KindAccess, Actor: "gate", Outcome: "denied", Detail: "method=face reader=front distance=0.612 margin=0.021 reason=face not recognised: use your card"}
	case 17:
		return Event{Kind: KindAccess, Actor: "gate", Subject: sub, Outcome: "denied", Detail: "method=card reader=back reason=your access is not valid at this time: ask the property office"}
	case 18:
		return Event{Kind: KindAdmin, Actor: "gate", Outcome: "alarm", Detail: "alarm=door.held_open the door is held open: please close the door"}
	default:
		return Event{Kind: KindAdmin, Actor: "staff:alice", Subject: sub, Outcome: "ok", Detail: "resident updated"}
	}
}

// BenchmarkAuditLarge measures what a property office does with the audit
// log of three years at a busy gate (GATED_BENCH_AUDIT entries; 5,500,000
// is 3 years at 5,000 a day): open the store (head and last entry checked),
// record one access decision (fsync'd), take an automatic backup (copy,
// fsync, verify the copy), verify the whole chain (gated audit
// verify), and export a day, the newest and the oldest (the entries, and
// the check from them to the sealed head), as JSON lines.
func BenchmarkAuditLarge(b *testing.B) {
	src, kek := sharedAuditStore(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "gated.db")
	if err := copyFile(src, path); err != nil {
		b.Fatal(err)
	}
	n := auditStore.entries
	used, file := usedSize(b, path, kek), fileSize(path)
	b.Logf("audit log: %d entries (%d days at %d a day): %d bytes used (%.0f per 1,000 entries), file %d bytes",
		n, n/auditBenchPerDay, auditBenchPerDay, used, float64(used)/float64(n)*1000, file)
	// The gate's clock reads after the log's last entry.
	appended := 0
	opts := Options{Now: func() time.Time { appended++; return auditBenchTime(n + appended) },
		BackupDir: filepath.Join(dir, "backups"), BackupKeep: 1}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			db, err := Open(path, kek, opts)
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	db, err := Open(path, kek, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// The first appends grow the file (by up to 1 GiB, with an fsync):
	// measure the steady state.
	for range 100 {
		if _, err := db.AppendAudit(auditBenchEvent(0)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("append", func(b *testing.B) {
		ev := auditBenchEvent(0)
		for b.Loop() {
			if _, err := db.AppendAudit(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backup", func(b *testing.B) {
		// What the gate does daily and after changes: copy, fsync and
		// verify the whole copy (the chain too), on a log this size.
		for b.Loop() {
			if _, err := db.AutoBackup(BackupScheduled); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if r, err := db.VerifyAudit(); err != nil || r.Entries < uint64(n) {
				b.Fatalf("VerifyAudit = %+v, %v; want %d entries verified", r, err, n)
			}
		}
	})
	days := n / auditBenchPerDay
	for _, day := range []struct {
		name string
		d    int
	}{{"export-newest-day", max(days-1, 0)}, {"export-oldest-day", 0}} {
		b.Run(day.name, func(b *testing.B) {
			b.ReportAllocs()
			from := auditBenchStart.AddDate(0, 0, day.d)
			for b.Loop() {
				r, err := db.WalkAuditRange(from, from.AddDate(0, 0, 1), func(rec AuditRecord) error {
					return writeAuditJSON(io.Discard, rec.AuditEntry)
				})
				if err != nil || !r.OK() || r.Exported != auditBenchPerDay {
					b.Fatalf("WalkAuditRange(day %d) = %+v, %v; want %d entries, verified", day.d, r, err, auditBenchPerDay)
				}
			}
		})
	}
}

// BenchmarkAuditGrowth measures how the file grows as the gate records
// entries one transaction each, as it does (not in bulk): 20,000 entries of
// the busy gate's mix appended to a copy of the large log, the growth per
// 1,000 reported.
func BenchmarkAuditGrowth(b *testing.B) {
	src, kek := sharedAuditStore(b)
	dir := b.TempDir()
	const appends = 20000
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprintf("g%d.db", i))
		if err := copyFile(src, path); err != nil {
			b.Fatal(err)
		}
		before := usedSize(b, path, kek)
		n := auditStore.entries
		db, err := Open(path, kek, Options{noSync: true, Now: func() time.Time { n++; return auditBenchTime(n) }})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := range appends {
			if _, err := db.AppendAudit(auditBenchEvent(j)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.ReportMetric(float64(usedSize(b, path, kek)-before)/appends*1000, "growth-B/1000-entries")
		os.Remove(path)
		b.StartTimer()
	}
}

// usedSize is the size of the pages a store uses (bbolt's high-water
// mark), without the room bbolt adds to the file ahead of need (the file
// grows by doubling, then in 1 GiB steps).
func usedSize(b *testing.B, path string, kek KEK) int64 {
	db, err := Open(path, kek, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n int64
	db.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}
