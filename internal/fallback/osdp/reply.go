package osdp

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
)

// RAW reply formats.
const (
	rawUnspecified = 0
	rawWiegand     = 1
)

// maxRawBits bounds a RAW card: 128 bits covers UIDs and Wiegand formats.
const maxRawBits = 128

// DecodeRaw decodes an osdp_RAW reply's data: reader number, format, bit
// count (LE16) and the bits, most significant first, left-aligned. 26- and
// 34-bit cards must pass the Wiegand parity check; other lengths become a
// FormatRaw card numbered by their bits.
func DecodeRaw(data []byte) (reader byte, card fallback.Card, err error) {
	if len(data) < 4 {
		return 0, card, fmt.Errorf("%w: RAW of %d bytes", ErrPacket, len(data))
	}
	reader, format := data[0], data[1]
	n := int(binary.LittleEndian.Uint16(data[2:4]))
	bits := data[4:]
	if n == 0 || n > maxRawBits || len(bits) != (n+7)/8 {
		return 0, card, fmt.Errorf("%w: RAW of %d bits in %d bytes", ErrPacket, n, len(bits))
	}
	if format != rawUnspecified && format != rawWiegand {
		return 0, card, fmt.Errorf("%w: RAW format %d", ErrPacket, format)
	}
	v := new(big.Int).SetBytes(bits)
	v.Rsh(v, uint(len(bits)*8-n))
	if n == 26 || n == 34 {
		card, err = fallback.DecodeWiegand(v.Uint64(), n)
		return reader, card, err
	}
	if v.Sign() == 0 {
		return 0, card, fmt.Errorf("%w: RAW card number zero", ErrPacket)
	}
	return reader, fallback.Card{Number: v.String(), Bits: n, Format: fallback.FormatRaw}, nil
}

// EncodeRaw builds osdp_RAW data for n bits of v (tests and tools).
func EncodeRaw(reader, format byte, v uint64, n int) []byte {
	nb := (n + 7) / 8
	d := []byte{reader, format, byte(n), byte(n >> 8)}
	x := new(big.Int).Lsh(new(big.Int).SetUint64(v), uint(nb*8-n))
	return append(d, x.FillBytes(make([]byte, nb))...)
}

// DecodeFmt decodes an osdp_FMT reply's data: reader, read direction,
// character count and the card number as ASCII digits.
func DecodeFmt(data []byte) (reader byte, card fallback.Card, err error) {
	if len(data) < 3 || int(data[2]) != len(data)-3 {
		return 0, card, fmt.Errorf("%w: FMT of %d bytes", ErrPacket, len(data))
	}
	c, err := fallback.ParseASCII(fallback.LineConfig{MaxLen: 64}, data[3:])
	if err != nil {
		return 0, card, err
	}
	c.Format = fallback.FormatOSDPText
	return data[0], c, nil
}

// DecodeKeypad decodes an osdp_KEYPAD reply's data: reader, key count and
// the keys ('0'-'9', 0x7F for '*', 0x0D for '#').
func DecodeKeypad(data []byte) (reader byte, keys []byte, err error) {
	if len(data) < 2 || int(data[1]) != len(data)-2 {
		return 0, nil, fmt.Errorf("%w: KEYPAD of %d bytes", ErrPacket, len(data))
	}
	return data[0], data[2:], nil
}

// PDID is a reader's identification (osdp_PDID).
type PDID struct {
	Vendor   [3]byte
	Model    byte
	Version  byte
	Serial   uint32
	Firmware [3]byte // major, minor, build
}

func (id PDID) String() string {
	return fmt.Sprintf("vendor %X model %d v%d serial %08X firmware %d.%d.%d",
		id.Vendor[:], id.Model, id.Version, id.Serial, id.Firmware[0], id.Firmware[1], id.Firmware[2])
}

// DecodePDID decodes osdp_PDID data (12 bytes).
func DecodePDID(data []byte) (PDID, error) {
	if len(data) != 12 {
		return PDID{}, fmt.Errorf("%w: PDID of %d bytes", ErrPacket, len(data))
	}
	var id PDID
	copy(id.Vendor[:], data[0:3])
	id.Model, id.Version = data[3], data[4]
	id.Serial = binary.LittleEndian.Uint32(data[5:9])
	copy(id.Firmware[:], data[9:12])
	return id, nil
}

// Capability is one osdp_PDCAP entry.
type Capability struct {
	Function, Compliance, Number byte
}

// Communication security function code in PDCAP.
const capCommSecurity = 9

// DecodePDCap decodes osdp_PDCAP data: 3-byte entries.
func DecodePDCap(data []byte) ([]Capability, error) {
	if len(data)%3 != 0 {
		return nil, fmt.Errorf("%w: PDCAP of %d bytes", ErrPacket, len(data))
	}
	caps := make([]Capability, 0, len(data)/3)
	for i := 0; i < len(data); i += 3 {
		caps = append(caps, Capability{data[i], data[i+1], data[i+2]})
	}
	return caps, nil
}

// NAK error codes.
const (
	NAKCheck      = 1 // bad CRC/checksum
	NAKLength     = 2
	NAKUnknown    = 3 // unknown command
	NAKSequence   = 4
	NAKSCUnsup    = 5 // secure channel not supported / cryptogram failed
	NAKSCCond     = 6 // secure channel condition not met
	NAKBioType    = 7
	NAKBioFormat  = 8
	NAKRecordFail = 9
)

// Color is an LED color.
type Color byte

const (
	Black Color = iota
	Red
	Green
	Amber
	Blue
	Magenta
	Cyan
	White
)

// LED asks a reader's LED to show a color: steadily (Off = 0) or
// flashing, for Duration (then back to its permanent state) or
// permanently (Duration = 0).
type LED struct {
	Reader, Number byte
	Color          Color
	On, Off        time.Duration // flash times, in 100 ms steps
	Duration       time.Duration // temporary for this long; 0 = permanent
}

func tenths(d time.Duration) byte {
	return byte(min(d/(100*time.Millisecond), 255))
}

// encodeLED builds osdp_LED data (one 14-byte record).
func encodeLED(l LED) []byte {
	on, off := tenths(l.On), tenths(l.Off)
	if on == 0 {
		on = 1 // steady on
	}
	offColor := l.Color
	if l.Off > 0 {
		offColor = Black
	}
	rec := make([]byte, 14)
	rec[0], rec[1] = l.Reader, l.Number
	if l.Duration > 0 {
		timer := uint16(min(l.Duration/(100*time.Millisecond), 65535))
		rec[2], rec[3], rec[4], rec[5], rec[6] = 2, on, off, byte(l.Color), byte(offColor)
		rec[7], rec[8] = byte(timer), byte(timer>>8)
	} else {
		rec[9], rec[10], rec[11], rec[12], rec[13] = 1, on, off, byte(l.Color), byte(offColor)
	}
	return rec
}

// Buzz asks a reader's buzzer to sound On, be silent Off, Count times.
type Buzz struct {
	Reader  byte
	On, Off time.Duration // 100 ms steps
	Count   byte          // 0 sounds until told otherwise
}

// encodeBuz builds osdp_BUZ data (one 5-byte record, tone 2 = default).
func encodeBuz(b Buzz) []byte {
	return []byte{b.Reader, 2, max(tenths(b.On), 1), tenths(b.Off), b.Count}
}

// encodeKeySet builds osdp_KEYSET data for a new SCBK.
func encodeKeySet(key []byte) []byte {
	return append([]byte{1, byte(len(key))}, key...)
}
