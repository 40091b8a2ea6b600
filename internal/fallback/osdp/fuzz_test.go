package osdp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
)

var testTime = time.Unix(1_800_000_000, 0)

func seedRecording(f *testing.F) {
	for _, s := range []string{
		"53650900046100d97a",
		"53e514000445bebafe0101afbeaddeaddead07fd",
		"53e51e000d021850820b4f44b09974c469a0c2eb7a66949def00e3c8a8b6",
		"ff53e50e000d0216402e6383015528",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
}

// FuzzFrame: framing and decoding never panic, never return more bytes than
// given, and a decoded packet re-encodes to the same bytes.
func FuzzFrame(f *testing.F) {
	seedRecording(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			pkt, n, err := Frame(b)
			if n < 0 || n > len(b) {
				t.Fatalf("Frame consumed %d of %d", n, len(b))
			}
			if err == nil {
				p, derr := Decode(pkt)
				if derr == nil && !hasMAC(p.SCBType()) {
					re, eerr := Encode(p, nil)
					if eerr != nil || !bytes.Equal(re, pkt) {
						t.Fatalf("Encode(Decode(%x)) = %x, %v", pkt, re, eerr)
					}
				}
			}
			if n == 0 {
				break
			}
			b = b[n:]
		}
	})
}

// FuzzOpenReply: bytes that were not sealed by the session never open.
func FuzzOpenReply(f *testing.F) {
	seedRecording(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := NewSession(SCBKD[:], [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		s.ClientCryptogram([8]byte{9})
		rmac := s.InitialRMAC()
		if !s.Activate(rmac[:]) {
			t.Fatal("activate")
		}
		pkt, _, err := Frame(b)
		if err != nil {
			return
		}
		p, err := Decode(pkt)
		if err != nil {
			return
		}
		if _, err := s.OpenReply(pkt, p); err == nil {
			// Only possible if the fuzzer forged a 32-bit MAC: report it.
			t.Fatalf("unsealed bytes opened: %x", pkt)
		}
	})
}

// FuzzDecodeReplies: reply decoders never panic, and a card they return
// is canonical: its number is decimal without leading zeros ("0" for a
// Wiegand card numbered 0, issue 12), and its key is the one staff get by
// typing it (fallback.NormalizeCardNumber leaves it as it is).
func FuzzDecodeReplies(f *testing.F) {
	f.Add([]byte{0, 1, 26, 0, 0x80, 0xc0, 0xcc, 0x40})
	f.Add([]byte{0, 0, 5, '0', '1', '2', '3', '4'})
	f.Add([]byte{0, 3, '1', '2', 0x7f})
	f.Add(EncodeRaw(0, 1, mustWiegand(f, 7, 0, 26), 26))
	f.Add(EncodeRaw(0, 1, mustWiegand(f, 0, 0, 34), 34))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func([]byte) (byte, fallback.Card, error){DecodeRaw, DecodeFmt} {
			_, c, err := dec(b)
			if err != nil {
				continue
			}
			if n := c.Number; n == "" || n[0] == '0' && n != "0" || strings.Trim(n, "0123456789") != "" {
				t.Fatalf("card number %q not canonical decimal", n)
			}
			if key, err := fallback.NormalizeCardNumber(c.Key()); err != nil || key != c.Key() {
				t.Fatalf("card key %q: NormalizeCardNumber = %q, %v; want it unchanged", c.Key(), key, err)
			}
		}
		_, _, _ = DecodeKeypad(b)
		_, _ = DecodePDID(b)
		_, _ = DecodePDCap(b)
	})
}

// mustWiegand is the raw n-bit Wiegand frame of a card.
func mustWiegand(tb testing.TB, facility, number uint32, n int) uint64 {
	tb.Helper()
	raw, err := fallback.EncodeWiegand(facility, number, n)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func BenchmarkFrameDecodeOpen(b *testing.B) {
	s, _ := NewSession(SCBKD[:], [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	s.ClientCryptogram([8]byte{9})
	rmac := s.InitialRMAC()
	s.Activate(rmac[:])
	peer := *s
	reply, _ := peer.SealReply(Packet{Addr: 1, Reply: true, CRC: true, Code: ReplyRaw, Data: EncodeRaw(0, 1, 0x2026073, 26)})
	b.ReportAllocs()
	for b.Loop() {
		pkt, _, err := Frame(reply)
		if err != nil {
			b.Fatal(err)
		}
		p, _ := Decode(pkt)
		st := *s
		if _, err := st.OpenReply(pkt, p); err != nil {
			b.Fatal(err)
		}
	}
}
