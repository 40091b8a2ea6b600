package bundle

import (
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the gate's first contact with a file
// from the inbox: parse, check the sender, verify, decrypt, decode.
func FuzzOpen(f *testing.F) {
	office, err := UnmarshalIdentity(make([]byte, identitySize))
	if err != nil {
		f.Fatal(err)
	}
	seed := make([]byte, identitySize)
	seed[0] = 1
	gate, err := UnmarshalIdentity(seed)
	if err != nil {
		f.Fatal(err)
	}
	good := sealRecords(f, office, gate.Public(), 2, 1, sampleRecords(f))
	f.Add(good)
	f.Add(good[:headerLen])
	f.Add([]byte("GATEDBN1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := Open(b, office.Public(), gate)
		if err != nil {
			if p != nil {
				t.Fatalf("Open returned a payload with error %v", err)
			}
			return
		}
		if h.Seq == 0 || h.Base >= h.Seq {
			t.Fatalf("Open accepted header %+v", h)
		}
		_, _ = DecodeRecords(p, h.Snapshot())
	})
}

// FuzzDecodeRecords covers the payload decoder on its own (a sender whose
// key is stolen can sign anything).
func FuzzDecodeRecords(f *testing.F) {
	p, _ := sampleRecords(f).Encode()
	f.Add(p, true)
	f.Add([]byte(`{"version":1}`), false)
	f.Fuzz(func(t *testing.T, b []byte, snapshot bool) {
		r, err := DecodeRecords(b, snapshot)
		if err == nil {
			if err := r.Check(snapshot); err != nil {
				t.Fatalf("decoded records fail their own check: %v", err)
			}
		}
	})
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`{"version":1,"compound":"c","gate":"g","applied":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvents(b)
		if err == nil {
			if err := e.Check(); err != nil {
				t.Fatalf("decoded events fail their own check: %v", err)
			}
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	id, _ := UnmarshalIdentity(make([]byte, identitySize))
	f.Add(id.Public().String())
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublicKey(s)
		if err == nil {
			if q, err := ParsePublicKey(p.String()); err != nil || q != p {
				t.Fatalf("round trip of %q failed: %v", s, err)
			}
		}
	})
}
