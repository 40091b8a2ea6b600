package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func BenchmarkEnroll(b *testing.B) {
	db, _, _ := newTestDB(b)
	r := newRand(7)
	ids := make([]string, 0, b.N)
	for range b.N {
		res, err := db.AddResident("staff:bench", Resident{Name: "Bench Resident", Unit: "1-101"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	es := make([]Enrollment, b.N)
	for i := range es {
		es[i] = testEnrollment(r, 3)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Enroll("staff:bench", ids[i], es[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// galleryStore is a large store built once per test binary run and shared
// by the benchmarks that read it.
var galleryStore struct {
	once        sync.Once
	dir, path   string
	kek         KEK
	residents   int
	built       time.Duration
	err         error
	fileBytes   int64
	templatesPR int
}

func benchResidents() int {
	if n, err := strconv.Atoi(os.Getenv("GATED_BENCH_RESIDENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// buildGallery writes a store of n residents with k templates each (random
// 128-d unit vectors), 1000 residents per transaction, without fsync.
func buildGallery(path string, kek KEK, n, k int) error {
	opts := Options{PIN: testPIN, noSync: true}
	db, err := Open(path, kek, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	r := newRand(42)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
				res := Resident{ID: fmt.Sprintf("r-%012x", done), Name: fmt.Sprintf("Resident %d", done),
					Unit: fmt.Sprintf("%d-%d", done/1000, done%1000), Status: StatusActive, CreatedAt: now, UpdatedAt: now}
				if err := tx.Bucket(bucketResidents).Put([]byte(res.ID), encodeResident(res)); err != nil {
					return err
				}
				if _, err := enrollTx(tx, kek, db.keys, now, "staff:bench", res.ID, testEnrollment(r, k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return db.bolt.Sync()
}

func sharedGallery(b *testing.B) (string, KEK) {
	g := &galleryStore
	g.once.Do(func() {
		g.dir, g.err = os.MkdirTemp("", "gated-store-bench-")
		if g.err != nil {
			return
		}
		g.path = filepath.Join(g.dir, "gallery.db")
		g.kek, g.err = GenerateKEK()
		if g.err != nil {
			return
		}
		g.residents, g.templatesPR = benchResidents(), 3
		start := time.Now()
		g.err = buildGallery(g.path, g.kek, g.residents, g.templatesPR)
		g.built = time.Since(start)
		if fi, err := os.Stat(g.path); err == nil {
			g.fileBytes = fi.Size()
		}
	})
	if g.err != nil {
		b.Fatal(g.err)
	}
	b.Logf("gallery: %d residents × %d templates, file %d bytes (%.0f bytes/resident), built in %v",
		g.residents, g.templatesPR, g.fileBytes, float64(g.fileBytes)/float64(g.residents), g.built)
	return g.path, g.kek
}

// BenchmarkOpenLoadGallery measures what the daemon does at start: open the
// store and decrypt every template into one contiguous []float32 gallery.
func BenchmarkOpenLoadGallery(b *testing.B) {
	path, kek := sharedGallery(b)
	var heap uint64
	var opening, loading time.Duration
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		db, err := Open(path, kek, Options{})
		if err != nil {
			b.Fatal(err)
		}
		opening += time.Since(start)
		start = time.Now()
		gallery := make([]float32, 0, galleryStore.residents*galleryStore.templatesPR*128)
		ids := make([]string, 0, galleryStore.residents*galleryStore.templatesPR)
		err = db.ForEachTemplate("dlib-resnet-v1", func(t Template) error {
			gallery = append(gallery, t.Vector...)
			ids = append(ids, t.ResidentID)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		loading += time.Since(start)
		db.Close()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		if len(ids) != galleryStore.residents*galleryStore.templatesPR {
			b.Fatalf("loaded %d templates, want %d", len(ids), galleryStore.residents*galleryStore.templatesPR)
		}
		runtime.KeepAlive(gallery)
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(galleryStore.fileBytes)/float64(galleryStore.residents), "file-B/resident")
	b.ReportMetric(float64(opening.Milliseconds())/float64(b.N), "open-ms")
	b.ReportMetric(float64(loading.Milliseconds())/float64(b.N), "load-ms")
}

// BenchmarkCompactLarge measures DestroyFaceData on a store of the shared
// gallery's size: the delete plus the whole-file rewrite. "locked-ms" is
// how long other callers had to wait (the catch-up and swap), measured
// with an audit append racing the copy.
func BenchmarkCompactLarge(b *testing.B) {
	src, kek := sharedGallery(b)
	dir := b.TempDir()
	var lockWait time.Time
	var locked time.Duration
	defer func() { b.ReportMetric(float64(locked.Milliseconds()), "locked-ms") }()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprintf("c%d.db", i))
		if err := copyFile(src, path); err != nil {
			b.Fatal(err)
		}
		db, err := Open(path, kek, Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.afterCopy = func() {
			// A write between snapshot and swap forces the catch-up walk.
			db.AppendAudit(Event{Kind: KindAccess, Actor: "gate:bench", Outcome: "denied"})
			lockWait = time.Now()
		}
		b.StartTimer()
		if _, err := db.DestroyFaceData("staff:bench", "r-000000000005", "benchmark"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		locked = time.Since(lockWait)
		if fi, err := os.Stat(path); err == nil {
			b.ReportMetric(float64(fi.Size())/float64(galleryStore.residents), "compacted-B/resident")
		}
		db.Close()
		os.Remove(path)
		b.StartTimer()
	}
}

// BenchmarkAutoBackupLarge measures one automatic backup of the shared
// gallery: the snapshot, fsync, and the complete verification of the copy.
func BenchmarkAutoBackupLarge(b *testing.B) {
	src, kek := sharedGallery(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "gated.db")
	if err := copyFile(src, path); err != nil {
		b.Fatal(err)
	}
	db, err := Open(path, kek, Options{BackupDir: filepath.Join(dir, "backups"), BackupKeep: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		if _, err := db.AutoBackup(BackupScheduled); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDestroyWithBackups measures an opt-out on the shared gallery
// with two automatic backups to scrub: the deletion, the store's rewrite,
// and each backup opened, re-applied, rewritten and verified.
func BenchmarkDestroyWithBackups(b *testing.B) {
	src, kek := sharedGallery(b)
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		d := filepath.Join(dir, strconv.Itoa(i))
		os.MkdirAll(d, 0o700)
		path := filepath.Join(d, "gated.db")
		if err := copyFile(src, path); err != nil {
			b.Fatal(err)
		}
		db, err := Open(path, kek, Options{BackupDir: filepath.Join(d, "backups")})
		if err != nil {
			b.Fatal(err)
		}
		for range 2 {
			if _, err := db.AutoBackup(BackupScheduled); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := db.DestroyFaceData("staff:bench", fmt.Sprintf("r-%012x", 7+i), "benchmark"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		os.RemoveAll(d)
		b.StartTimer()
	}
}

// auditStore is a store with a long audit log (3 years of a busy gate),
// built once per test binary run.
var auditStore struct {
	once      sync.Once
	dir, path string
	kek       KEK
	entries   int
	err       error
}

func benchAuditEntries() int {
	if n, err := strconv.Atoi(os.Getenv("GATED_BENCH_AUDIT")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func sharedAuditStore(b *testing.B) (string, KEK) {
	s := &auditStore
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "gated-store-bench-audit-"); s.err != nil {
			return
		}
		s.path = filepath.Join(s.dir, "audit.db")
		if s.kek, s.err = GenerateKEK(); s.err != nil {
			return
		}
		s.entries = benchAuditEntries()
		s.err = buildGallery(s.path, s.kek, 1000, 3)
		if s.err != nil {
			return
		}
		db, err := Open(s.path, s.kek, Options{noSync: true})
		if err != nil {
			s.err = err
			return
		}
		defer db.Close()
		for done := 0; done < s.entries && s.err == nil; {
			s.err = db.bolt.Update(func(tx *bolt.Tx) error {
				for i := 0; i < 20000 && done < s.entries; i, done = i+1, done+1 {
					if _, err := appendAuditEntry(tx, db.keys, auditBenchTime(done), auditBenchEvent(done)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if s.err == nil {
			s.err = db.bolt.Sync()
		}
	})
	if s.err != nil {
		b.Fatal(s.err)
	}
	b.Logf("audit store: %d entries, file %d bytes", s.entries, fileSize(s.path))
	return s.path, s.kek
}

// BenchmarkOpenAuditLog measures what Open's verification costs on a store
// with a long audit log, checking only the sealed head and last entry (as
// Open does) or decoding and linking every entry (as Check does).
func BenchmarkOpenAuditLog(b *testing.B) {
	path, kek := sharedAuditStore(b)
	for _, bc := range []struct {
		name          string
		whole, breaks bool
	}{{"head", false, false}, {"whole-chain", true, false}, {"whole-chain-past-breaks", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				// whole-chain-past-breaks is the walk a backup's check makes
				// (deepCheckCopy): it collects breaks instead of stopping.
				db, err := open(path, kek, Options{verifyAllAudit: bc.whole, auditEntryBreaksOK: bc.breaks}, true)
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func BenchmarkVerifyPIN(b *testing.B) {
	path := filepath.Join(b.TempDir(), "pin.db")
	opts := testOptions(b)
	opts.PIN = DefaultPINParams()
	db, err := Open(path, mustKEK(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	res, err := db.AddResident("staff:bench", Resident{Name: "PIN Bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.SetPIN("staff:bench", res.ID, "482913"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ok, err := db.VerifyPIN(res.ID, "482913")
		if err != nil || !ok {
			b.Fatalf("VerifyPIN = %v, %v; want true, nil", ok, err)
		}
	}
}

func BenchmarkLookupCard(b *testing.B) {
	db, _, _ := newTestDB(b)
	res, err := db.AddResident("staff:bench", Resident{Name: "Card Bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.AssignCard("staff:bench", res.ID, "04A1B2C3D4"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.LookupCard("04A1B2C3D4"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	db, _, _ := newTestDB(b)
	ev := Event{Kind: KindAccess, Actor: "gate:front", Subject: "r-0123456789ab", Outcome: "granted", Detail: "method=face distance=0.41"}
	for b.Loop() {
		if _, err := db.AppendAudit(ev); err != nil {
			b.Fatal(err)
		}
	}
}
