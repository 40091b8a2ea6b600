package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Stored records use one small binary format: a version byte, then fields in
// a fixed order. Integers are big-endian, strings and byte strings carry a
// uvarint length, times are int64 Unix nanoseconds (0 = zero time). Decoders
// reject trailing bytes, over-long fields and invalid UTF-8, so every record
// has exactly one encoding. The format is described in docs/store.md.

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) bytes(v []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) str(v string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) time(t time.Time) { e.u64(uint64(timeToInt(t))) }

// timeToInt maps the zero time to 0 and everything else to Unix nanoseconds.
func timeToInt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func intToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// minTime and maxTime bound the times a record may carry (int64 nanoseconds).
var (
	minTime = time.Unix(0, 1).UTC()
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func validTime(t time.Time) bool {
	return t.IsZero() || (!t.Before(minTime) && t.Before(maxTime))
}

// decoder reads fields in order; the first failure sticks and later reads
// return zero values, so decode functions check d.err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errDecode}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("short record")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	v := d.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u32() uint32 {
	v := d.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (d *decoder) u64() uint64 {
	v := d.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (d *decoder) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool")
		return false
	}
}

func (d *decoder) length(max int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad length")
		return 0
	}
	// Reject non-minimal varints so each record has one encoding.
	if k != len(binary.AppendUvarint(nil, n)) {
		d.fail("non-minimal length")
		return 0
	}
	if n > uint64(max) {
		d.fail("field too long (%d > %d)", n, max)
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

func (d *decoder) bytes(max int) []byte {
	n := d.length(max)
	v := d.take(n)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) str(max int) string {
	n := d.length(max)
	v := d.take(n)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(v) {
		d.fail("invalid UTF-8")
		return ""
	}
	return string(v)
}

func (d *decoder) time() time.Time {
	n := int64(d.u64())
	t := intToTime(n)
	if n < 0 {
		d.fail("negative time")
	}
	return t
}

// fixed reads exactly n bytes into a fresh slice.
func (d *decoder) fixed(n int) []byte {
	v := d.take(n)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// finish reports the sticky error, or an error if bytes remain.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// version reads the leading version byte and checks it.
func (d *decoder) version(want uint8, what string) {
	if v := d.u8(); d.err == nil && v != want {
		d.fail("%s: unknown version %d", what, v)
	}
}

// appendFloats appends v as little-endian IEEE-754 float32s (the layout of
// the vector inside a sealed template).
func appendFloats(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// readFloats decodes little-endian float32s from b into dst (len(b)/4 values).
func readFloats(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
