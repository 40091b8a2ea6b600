package store

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
)

// PINParams are argon2id parameters. Each stored hash records the
// parameters it was made with, so changing them affects new PINs only.
type PINParams struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// MinPINLen is the fewest digits a PIN has: a shorter keypad entry is a
// code (the kiosk's 1#, 2#, ...), never a PIN.
const MinPINLen = 4

// DefaultPINParams returns the parameters used when Options.PIN is zero:
// argon2id, 3 passes, 32 MiB, 1 thread. They take about 90 ms to verify on
// one core of a 2-core AMD EPYC (see docs/performance.md); a gate
// device is slower, so measure with BenchmarkVerifyPIN on it.
func DefaultPINParams() PINParams { return PINParams{Time: 3, MemoryKiB: 32 << 10, Threads: 1} }

const (
	pinSaltLen = 16
	pinHashLen = 32
	minPINLen  = MinPINLen
	maxPINLen  = 32
	// Bounds on stored parameters, so a damaged record cannot make
	// VerifyPIN allocate gigabytes or spin for minutes.
	maxPINTime   = 64
	maxPINMemory = 1 << 20 // KiB (1 GiB)
)

func (p PINParams) valid() bool {
	return p.Time >= 1 && p.Time <= maxPINTime && p.MemoryKiB >= 8*uint32(p.Threads) &&
		p.MemoryKiB <= maxPINMemory && p.Threads >= 1
}

// pinRecord is a PIN hash with the parameters it was made with.
type pinRecord struct {
	Params PINParams
	Salt   []byte
	Hash   []byte
	SetAt  time.Time
}

func encodePIN(r pinRecord) []byte {
	var e encoder
	e.u8(1)
	e.u32(r.Params.Time)
	e.u32(r.Params.MemoryKiB)
	e.u8(r.Params.Threads)
	e.bytes(r.Salt)
	e.bytes(r.Hash)
	e.time(r.SetAt)
	return e.b
}

func decodePIN(b []byte) (pinRecord, error) {
	d := decoder{b: b}
	d.version(1, "pin")
	r := pinRecord{
		Params: PINParams{Time: d.u32(), MemoryKiB: d.u32(), Threads: d.u8()},
		Salt:   d.bytes(64),
		Hash:   d.bytes(64),
		SetAt:  d.time(),
	}
	if d.err == nil && (!r.Params.valid() || len(r.Salt) < 8 || len(r.Hash) < 16) {
		d.fail("pin: bad parameters")
	}
	return r, d.finish()
}

// checkPIN accepts 4 to 32 ASCII digits.
func checkPIN(pin string) error {
	if len(pin) < minPINLen || len(pin) > maxPINLen {
		return fmt.Errorf("%w: PIN must be %d to %d digits", ErrInvalid, minPINLen, maxPINLen)
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return fmt.Errorf("%w: PIN must be digits only", ErrInvalid)
		}
	}
	return nil
}

// pinHash peppers the PIN with a key derived from the device secret, then
// stretches it with argon2id. Without the KEK a copied file does not allow
// an offline guess of even a 4-digit PIN.
func pinHash(pepper []byte, pin string, salt []byte, p PINParams, n uint32) []byte {
	return bundle.PepperedHash(pepper, pin, salt, p.Time, p.MemoryKiB, p.Threads, n)
}

func newPINRecord(pepper []byte, pin string, p PINParams, now time.Time) pinRecord {
	salt := randomBytes(pinSaltLen)
	return pinRecord{Params: p, Salt: salt, Hash: pinHash(pepper, pin, salt, p, pinHashLen), SetAt: now}
}

func (r pinRecord) matches(pepper []byte, pin string) bool {
	got := pinHash(pepper, pin, r.Salt, r.Params, uint32(len(r.Hash)))
	return subtle.ConstantTimeCompare(got, r.Hash) == 1
}
