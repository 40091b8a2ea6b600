package store

import (
	"testing"
	"time"
)

// The compound's stored records (schema 4) get the same property as every
// other record: never a panic, and whatever decodes re-encodes to the
// same bytes.

func FuzzDecodeMember(f *testing.F) {
	m := member{Name: "parkview", Gate: "north", JoinedAt: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	m.Office[0], m.Public[5] = 1, 2
	f.Add(encodeMember(m))
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, decodeMember, encodeMember) })
}

func FuzzDecodeOfficeResident(f *testing.F) {
	p := pinRecord{Params: PINParams{Time: 1, MemoryKiB: 64, Threads: 1}, Salt: make([]byte, 16), Hash: make([]byte, 32), SetAt: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	f.Add(encodeOfficeResident(officeResident{PIN: &p}))
	f.Add(encodeOfficeResident(officeResident{}))
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, decodeOfficeResident, encodeOfficeResident) })
}

func FuzzDecodeErasure(f *testing.F) {
	at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	f.Add(encodeErasure(erasureRecord{ID: "e-000000000001", Resident: "r-000000000002", Origin: "north", Reason: "withdrew consent",
		Requested: at, At: at, Order: true, Templates: 3, Acked: true}))
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, decodeErasure, encodeErasure) })
}
