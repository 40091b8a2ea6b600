package osdp

import (
	"errors"
	"fmt"
)

// Wire constants.
const (
	som       = 0x53
	markByte  = 0xFF
	ctrlSQN   = 0x03
	ctrlCRC   = 0x04
	ctrlSCB   = 0x08
	replyFlag = 0x80
	// Broadcast is the address every PD answers.
	Broadcast = 0x7F
	// MaxPacket bounds a packet; longer length fields are rejected.
	MaxPacket = 1024
	minPacket = 7 // SOM ADDR LEN LEN CTRL CODE CKSUM
)

// Command codes (CP to PD).
const (
	CmdPoll   = 0x60
	CmdID     = 0x61
	CmdCap    = 0x62
	CmdLStat  = 0x64
	CmdLED    = 0x69
	CmdBuz    = 0x6A
	CmdKeySet = 0x75
	CmdChlng  = 0x76
	CmdSCrypt = 0x77
)

// Reply codes (PD to CP).
const (
	ReplyACK    = 0x40
	ReplyNAK    = 0x41
	ReplyPDID   = 0x45
	ReplyPDCap  = 0x46
	ReplyLStatR = 0x48
	ReplyRaw    = 0x50
	ReplyFmt    = 0x51
	ReplyKeypad = 0x53
	ReplyCCrypt = 0x76
	ReplyRMACI  = 0x78
	ReplyBusy   = 0x79
)

// Security block types.
const (
	SCS11 = 0x11 // CP->PD CHLNG
	SCS12 = 0x12 // PD->CP CCRYPT
	SCS13 = 0x13 // CP->PD SCRYPT
	SCS14 = 0x14 // PD->CP RMAC_I
	SCS15 = 0x15 // CP->PD MAC, no data encryption
	SCS16 = 0x16 // PD->CP MAC, no data encryption
	SCS17 = 0x17 // CP->PD MAC, data encrypted
	SCS18 = 0x18 // PD->CP MAC, data encrypted
)

// Errors callers branch on.
var (
	// ErrShort: the buffer does not hold a whole packet yet.
	ErrShort = errors.New("osdp: incomplete packet")
	// ErrPacket: malformed packet (length, CRC, checksum, layout).
	ErrPacket = errors.New("osdp: bad packet")
	// ErrMAC: a secure-channel MAC or padding did not verify.
	ErrMAC = errors.New("osdp: bad MAC")
)

// Packet is one OSDP message. Data is as on the wire: encrypted under
// SCS_17/18 until opened by a Session.
type Packet struct {
	Addr  byte // 0-0x7E, or Broadcast
	Reply bool // sent by a PD (address bit 7)
	Seq   byte // 0-3
	CRC   bool // CRC-16 (true) or 8-bit checksum
	SCB   []byte
	Code  byte
	Data  []byte
	MAC   []byte // 4 bytes when the security block type is SCS_15-18
}

// SCBType returns the security block type, or 0 without one.
func (p Packet) SCBType() byte {
	if len(p.SCB) < 2 {
		return 0
	}
	return p.SCB[1]
}

func hasMAC(scbType byte) bool { return scbType >= SCS15 && scbType <= SCS18 }

// CRC16 is OSDP's CRC: CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F, not
// reflected), sent least significant byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0x1D0F)
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Checksum is OSDP's 8-bit checksum: the two's complement of the byte sum.
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// Frame finds the first whole packet in buf. It skips bytes before a start
// of message (and the optional 0xFF mark), checks the length field and the
// CRC or checksum, and returns the packet's bytes (from SOM) and how many
// bytes of buf to consume. With ErrShort, consume the bytes skipped and
// wait for more. With ErrPacket, consume (the bad start byte and what came
// before it) and call again: the stream resynchronises on the next SOM.
func Frame(buf []byte) (pkt []byte, consume int, err error) {
	i := 0
	for i < len(buf) && buf[i] != som {
		i++
	}
	if i == len(buf) {
		return nil, i, ErrShort
	}
	b := buf[i:]
	if len(b) < 5 {
		return nil, i, ErrShort
	}
	n := int(b[2]) | int(b[3])<<8
	if n < minPacket || n > MaxPacket || (b[4]&ctrlCRC != 0 && n < minPacket+1) {
		return nil, i + 1, fmt.Errorf("%w: length %d", ErrPacket, n)
	}
	if len(b) < n {
		return nil, i, ErrShort
	}
	b = b[:n]
	if b[4]&ctrlCRC != 0 {
		want := uint16(b[n-2]) | uint16(b[n-1])<<8
		if got := CRC16(b[:n-2]); got != want {
			return nil, i + 1, fmt.Errorf("%w: CRC %04x, want %04x", ErrPacket, got, want)
		}
	} else if got := Checksum(b[:n-1]); got != b[n-1] {
		return nil, i + 1, fmt.Errorf("%w: checksum %02x, want %02x", ErrPacket, got, b[n-1])
	}
	return b, i + n, nil
}

// Decode splits a packet returned by Frame into its fields. The slices
// alias pkt.
func Decode(pkt []byte) (Packet, error) {
	if len(pkt) < minPacket || pkt[0] != som {
		return Packet{}, fmt.Errorf("%w: too short", ErrPacket)
	}
	p := Packet{
		Addr:  pkt[1] &^ replyFlag,
		Reply: pkt[1]&replyFlag != 0,
		Seq:   pkt[4] & ctrlSQN,
		CRC:   pkt[4]&ctrlCRC != 0,
	}
	if pkt[4]&^(ctrlSQN|ctrlCRC|ctrlSCB) != 0 {
		return Packet{}, fmt.Errorf("%w: control byte %#02x", ErrPacket, pkt[4])
	}
	body := pkt[5:]
	if p.CRC {
		body = body[:len(body)-2]
	} else {
		body = body[:len(body)-1]
	}
	if pkt[4]&ctrlSCB != 0 {
		if len(body) < 2 || int(body[0]) < 2 || int(body[0]) > len(body) {
			return Packet{}, fmt.Errorf("%w: security block", ErrPacket)
		}
		p.SCB, body = body[:body[0]], body[body[0]:]
		if t := p.SCB[1]; t < SCS11 || t > SCS18 {
			return Packet{}, fmt.Errorf("%w: security block type %#02x", ErrPacket, t)
		}
	}
	if hasMAC(p.SCBType()) {
		if len(body) < 5 {
			return Packet{}, fmt.Errorf("%w: no room for MAC", ErrPacket)
		}
		p.MAC, body = body[len(body)-4:], body[:len(body)-4]
	}
	if len(body) < 1 {
		return Packet{}, fmt.Errorf("%w: no command or reply code", ErrPacket)
	}
	p.Code, p.Data = body[0], body[1:]
	return p, nil
}

// Encode returns the packet on the wire. When the security block type
// calls for a MAC, mac computes it over the bytes before it (the session's
// job); mac may be nil otherwise.
func Encode(p Packet, mac func(b []byte) []byte) ([]byte, error) {
	if p.Seq > 3 || p.Addr > Broadcast {
		return nil, fmt.Errorf("%w: sequence %d or address %d", ErrPacket, p.Seq, p.Addr)
	}
	addr := p.Addr
	if p.Reply {
		addr |= replyFlag
	}
	ctrl := p.Seq
	if p.CRC {
		ctrl |= ctrlCRC
	}
	if len(p.SCB) > 0 {
		ctrl |= ctrlSCB
	}
	withMAC := hasMAC(p.SCBType())
	if withMAC && mac == nil {
		return nil, fmt.Errorf("%w: security block %#02x needs a MAC", ErrPacket, p.SCBType())
	}
	b := make([]byte, 0, 5+len(p.SCB)+1+len(p.Data)+4+2)
	b = append(b, som, addr, 0, 0, ctrl)
	b = append(b, p.SCB...)
	b = append(b, p.Code)
	b = append(b, p.Data...)
	n := len(b) + 1
	if p.CRC {
		n++
	}
	if withMAC {
		n += 4
	}
	if n > MaxPacket {
		return nil, fmt.Errorf("%w: %d bytes", ErrPacket, n)
	}
	b[2], b[3] = byte(n), byte(n>>8)
	if withMAC {
		b = append(b, mac(b)[:4]...)
	}
	if p.CRC {
		c := CRC16(b)
		b = append(b, byte(c), byte(c>>8))
	} else {
		b = append(b, Checksum(b))
	}
	return b, nil
}
