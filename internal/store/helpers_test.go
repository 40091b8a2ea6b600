package store

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testClock is a settable clock that advances a millisecond per reading.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// set moves the clock to t (forwards or back).
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testPIN are cheap argon2id parameters for tests.
var testPIN = PINParams{Time: 1, MemoryKiB: 64, Threads: 1}

func testOptions(t testing.TB) Options {
	return Options{
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         newTestClock().Now,
		PIN:         testPIN,
		LockTimeout: 200 * time.Millisecond,
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustKEK(t testing.TB) KEK {
	t.Helper()
	k, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestDB opens a new store in a temp dir and closes it at cleanup.
func newTestDB(t testing.TB) (*DB, string, KEK) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gated.db")
	kek := mustKEK(t)
	db, err := Open(path, kek, testOptions(t))
	if err != nil {
		t.Fatalf("Open(%s) = %v, want nil", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path, kek
}

// unitVector returns a random unit vector, like a dlib descriptor.
func unitVector(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	var n float64
	for i := range v {
		f := r.NormFloat64()
		v[i] = float32(f)
		n += f * f
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

func testConsent() Consent {
	return Consent{
		NoticeVersion: "2026-09",
		NoticeSHA256:  sha256.Sum256([]byte("notice text v2026-09")),
		Language:      "zh-CN",
		Method:        ConsentAtDevice,
	}
}

func testEnrollment(r *rand.Rand, n int) Enrollment {
	e := Enrollment{Consent: testConsent()}
	for range n {
		e.Templates = append(e.Templates, Template{Model: "dlib-resnet-v1", Vector: unitVector(r, 128)})
	}
	return e
}

// addEnrolled adds a resident with n templates and returns both.
func addEnrolled(t testing.TB, db *DB, r *rand.Rand, name string, n int) (Resident, Enrollment) {
	t.Helper()
	res, err := db.AddResident("staff:test", Resident{Name: name, Unit: "3-201"})
	if err != nil {
		t.Fatalf("AddResident(%q) = %v", name, err)
	}
	e, err := db.Enroll("staff:test", res.ID, testEnrollment(r, n))
	if err != nil {
		t.Fatalf("Enroll(%s) = %v", res.ID, err)
	}
	return res, e
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func writeTestFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// newBufferLogger logs text lines into b (read it once the work is done).
func newBufferLogger(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&syncBuffer{b: b}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
