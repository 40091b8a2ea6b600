package osdp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// SCBKD is the default secure channel base key of OSDP's install mode,
// used only to pair a reader and replace it with its own key via KEYSET.
var SCBKD = [16]byte{0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F}

// Session is one secure channel session's state, the same on both ends:
// session keys derived from the base key and the CP's random number, and
// the MAC chain (each message's MAC is the next one's IV).
type Session struct {
	enc, mac1, mac2 cipher.Block
	rndA, rndB      [8]byte
	cmac, rmac      [16]byte // last command MAC, last reply MAC
}

// NewSession derives the session keys S-ENC, S-MAC1 and S-MAC2 from the
// base key scbk and the CP's random number rndA.
func NewSession(scbk []byte, rndA [8]byte) (*Session, error) {
	base, err := aes.NewCipher(scbk)
	if err != nil || len(scbk) != 16 {
		return nil, fmt.Errorf("osdp: secure channel base key must be 16 bytes, got %d", len(scbk))
	}
	derive := func(b1 byte) cipher.Block {
		var in, out [16]byte
		in[0], in[1] = 0x01, b1
		copy(in[2:8], rndA[:6])
		base.Encrypt(out[:], in[:])
		c, _ := aes.NewCipher(out[:])
		return c
	}
	return &Session{enc: derive(0x82), mac1: derive(0x01), mac2: derive(0x02), rndA: rndA}, nil
}

func ecb(c cipher.Block, a, b []byte) [16]byte {
	var in, out [16]byte
	copy(in[:8], a)
	copy(in[8:], b)
	c.Encrypt(out[:], in[:])
	return out
}

// ClientCryptogram is what the PD proves its key with in CCRYPT:
// AES(S-ENC, RND.A || RND.B). It records rndB.
func (s *Session) ClientCryptogram(rndB [8]byte) [16]byte {
	s.rndB = rndB
	return ecb(s.enc, s.rndA[:], rndB[:])
}

// VerifyClientCryptogram checks the PD's cryptogram in constant time and
// records rndB.
func (s *Session) VerifyClientCryptogram(rndB [8]byte, got []byte) bool {
	want := s.ClientCryptogram(rndB)
	return subtle.ConstantTimeCompare(want[:], got) == 1
}

// ServerCryptogram is what the CP proves its key with in SCRYPT:
// AES(S-ENC, RND.B || RND.A).
func (s *Session) ServerCryptogram() [16]byte {
	return ecb(s.enc, s.rndB[:], s.rndA[:])
}

// InitialRMAC is AES(S-MAC2, AES(S-MAC1, server cryptogram)), sent by the PD
// in RMAC_I; it seeds the MAC chain.
func (s *Session) InitialRMAC() [16]byte {
	sc := s.ServerCryptogram()
	var t, r [16]byte
	s.mac1.Encrypt(t[:], sc[:])
	s.mac2.Encrypt(r[:], t[:])
	return r
}

// Activate checks the PD's initial R-MAC in constant time and, when it
// matches, starts the MAC chain.
func (s *Session) Activate(rmacI []byte) bool {
	want := s.InitialRMAC()
	if subtle.ConstantTimeCompare(want[:], rmacI) != 1 {
		return false
	}
	s.rmac = want
	return true
}

// mac computes OSDP's MAC of b: AES-CBC with S-MAC1 over all blocks but the
// last, S-MAC2 for the last, from iv; b is padded with 0x80 then zeros
// unless it is already a multiple of 16 bytes.
func (s *Session) mac(b []byte, iv [16]byte) [16]byte {
	n := len(b)
	padded := n
	if n%16 != 0 || n == 0 {
		padded = (n/16 + 1) * 16
	}
	buf := make([]byte, padded)
	copy(buf, b)
	if padded != n {
		buf[n] = 0x80
	}
	x := iv
	for i := 0; i < padded; i += 16 {
		subtle.XORBytes(x[:], x[:], buf[i:i+16])
		if i+16 < padded {
			s.mac1.Encrypt(x[:], x[:])
		} else {
			s.mac2.Encrypt(x[:], x[:])
		}
	}
	return x
}

func not(b [16]byte) [16]byte {
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// encrypt pads data with 0x80 and zeros to whole blocks and encrypts it
// with AES-CBC under S-ENC.
func (s *Session) encrypt(data []byte, iv [16]byte) []byte {
	n := (len(data)/16 + 1) * 16
	out := make([]byte, n)
	copy(out, data)
	out[len(data)] = 0x80
	cipher.NewCBCEncrypter(s.enc, iv[:]).CryptBlocks(out, out)
	return out
}

func (s *Session) decrypt(data []byte, iv [16]byte) ([]byte, error) {
	if len(data) == 0 || len(data)%16 != 0 {
		return nil, fmt.Errorf("%w: encrypted data of %d bytes", ErrMAC, len(data))
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(s.enc, iv[:]).CryptBlocks(out, data)
	i := len(out) - 1
	for i > 0 && out[i] == 0 {
		i--
	}
	if out[i] != 0x80 {
		return nil, fmt.Errorf("%w: bad padding", ErrMAC)
	}
	return out[:i], nil
}

// seal encodes p under the session: SCS_15/16 without data, SCS_17/18 with
// data encrypted; the MAC chain advances. cmd says which direction.
func (s *Session) seal(p Packet, cmd bool) ([]byte, error) {
	ivMAC := s.rmac // commands chain on the last reply MAC
	if !cmd {
		ivMAC = s.cmac
	}
	t := byte(SCS15)
	if !cmd {
		t = SCS16
	}
	if len(p.Data) > 0 {
		t += 2
		p.Data = s.encrypt(p.Data, not(ivMAC))
	}
	p.SCB = []byte{2, t}
	var full [16]byte
	b, err := Encode(p, func(b []byte) []byte {
		full = s.mac(b, ivMAC)
		return full[:]
	})
	if err != nil {
		return nil, err
	}
	if cmd {
		s.cmac = full
	} else {
		s.rmac = full
	}
	return b, nil
}

// open checks a sealed packet's MAC (in constant time) and decrypts its
// data. The MAC chain advances only when it verifies.
func (s *Session) open(pkt []byte, p Packet, cmd bool) (Packet, error) {
	want := byte(SCS16)
	ivMAC := s.cmac // replies chain on the command just sent
	if cmd {
		want, ivMAC = SCS15, s.rmac
	}
	t := p.SCBType()
	if t != want && t != want+2 {
		return Packet{}, fmt.Errorf("%w: security block type %#02x, want %#02x or %#02x", ErrMAC, t, want, want+2)
	}
	macOff := len(pkt) - 4 - 1
	if p.CRC {
		macOff--
	}
	full := s.mac(pkt[:macOff], ivMAC)
	if subtle.ConstantTimeCompare(full[:4], p.MAC) != 1 {
		return Packet{}, fmt.Errorf("%w: MAC mismatch", ErrMAC)
	}
	if t == want+2 {
		d, err := s.decrypt(p.Data, not(ivMAC))
		if err != nil {
			return Packet{}, err
		}
		p.Data = d
	}
	if cmd {
		s.cmac = full
	} else {
		s.rmac = full
	}
	return p, nil
}

// SealCommand encodes a CP command under the session.
func (s *Session) SealCommand(p Packet) ([]byte, error) { return s.seal(p, true) }

// OpenReply verifies and decrypts a PD reply to the last sealed command.
func (s *Session) OpenReply(pkt []byte, p Packet) (Packet, error) { return s.open(pkt, p, false) }

// SealReply encodes a PD reply under the session (the PD's side, for tests
// and tools that play a reader).
func (s *Session) SealReply(p Packet) ([]byte, error) { return s.seal(p, false) }

// OpenCommand verifies and decrypts a CP command (the PD's side).
func (s *Session) OpenCommand(pkt []byte, p Packet) (Packet, error) { return s.open(pkt, p, true) }
