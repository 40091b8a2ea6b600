package bundle

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func ident(t testing.TB) Identity {
	t.Helper()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sampleRecords(t testing.TB) *Records {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return &Records{
		Version:  PayloadVersion,
		Compound: "green-court",
		Gate:     "main",
		Secret:   s,
		Profiles: Profiles{"cleaners": {"workdays 08:00-18:00"}},
		Groups:   map[string]string{"crew": "cleaners"},
		Residents: []Resident{
			{ID: "r-00000000000a", Name: "Li Wei", Unit: "3-501", Group: "crew",
				PIN: &Hash{Time: 3, MemoryKiB: 32 << 10, Threads: 1, Salt: bytes.Repeat([]byte{1}, 16), Sum: bytes.Repeat([]byte{2}, 32)}},
			{ID: "r-00000000000b", Name: "Li Xiao", Minor: true, Guardian: "r-00000000000a",
				ValidUntil: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
		},
		Cards: []Card{{Token: s.CardToken("2001"), Resident: "r-00000000000a"}},
		Erase: []Erasure{{ID: "e-000000000001", Resident: "r-00000000000c", Requested: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Origin: "north"}},
	}
}

func sealRecords(t testing.TB, office Identity, gate PublicKey, seq, base uint64, r *Records) []byte {
	t.Helper()
	p, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Seal(office, Header{Kind: KindRecords, Seq: seq, Base: base, To: gate}, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	office, gate := ident(t), ident(t)
	want := sampleRecords(t)
	b := sealRecords(t, office, gate.Public(), 7, 0, want)
	h, p, err := Open(b, office.Public(), gate)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if h.Kind != KindRecords || h.Seq != 7 || !h.Snapshot() || h.From != office.Public() || h.To != gate.Public() {
		t.Fatalf("header = %+v", h)
	}
	got, err := DecodeRecords(p, h.Snapshot())
	if err != nil {
		t.Fatalf("DecodeRecords = %v", err)
	}
	if got.Secret != want.Secret || len(got.Residents) != 2 || got.Residents[1].ValidUntil != want.Residents[1].ValidUntil ||
		!bytes.Equal(got.Cards[0].Token, want.Secret.CardToken("2001")) || got.Erase[0] != want.Erase[0] {
		t.Fatalf("DecodeRecords = %+v, want %+v", got, want)
	}
	// Nothing of the payload is readable in the file.
	for _, s := range []string{"Li Wei", "3-501", "cleaners", "green-court"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("bundle holds %q in the clear", s)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	office, gate, other := ident(t), ident(t), ident(t)
	good := sealRecords(t, office, gate.Public(), 3, 0, sampleRecords(t))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	cases := []struct {
		name string
		b    []byte
		from PublicKey
		us   Identity
		want error
	}{
		{"another office signed it", sealRecords(t, other, gate.Public(), 3, 0, sampleRecords(t)), office.Public(), gate, ErrWrongSender},
		{"for another gate", sealRecords(t, office, other.Public(), 3, 0, sampleRecords(t)), office.Public(), gate, ErrNotForUs},
		{"sequence changed", flip(10), office.Public(), gate, ErrBadSignature},
		{"payload bit flipped", flip(headerLen + 5), office.Public(), gate, ErrBadSignature},
		{"signature bit flipped", flip(len(good) - 3), office.Public(), gate, ErrBadSignature},
		{"truncated", good[:len(good)-1], office.Public(), gate, ErrForm},
		{"cut in the header", good[:40], office.Public(), gate, ErrForm},
		{"extended", append(bytes.Clone(good), 0), office.Public(), gate, ErrForm},
		{"wrong magic", append([]byte("GATEDBN2"), good[8:]...), office.Public(), gate, ErrForm},
		{"empty", nil, office.Public(), gate, ErrForm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, p, err := Open(c.b, c.from, c.us)
			if !errors.Is(err, c.want) || !errors.Is(err, ErrRefused) || p != nil {
				t.Fatalf("Open = %v (payload %d bytes), want %v", err, len(p), c.want)
			}
		})
	}
}

// A sender that signs a well-formed bundle whose ciphertext was made for
// another key (re-signed after tampering) is still refused at decryption.
func TestOpenResignedTamperedCiphertext(t *testing.T) {
	office, gate := ident(t), ident(t)
	b := sealRecords(t, office, gate.Public(), 3, 0, sampleRecords(t))
	b = b[:len(b)-sigLen]
	b[headerLen+2] ^= 0x80
	b = append(b, signWith(office, b)...)
	if _, _, err := Open(b, office.Public(), gate); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open = %v, want ErrDecrypt", err)
	}
}

func TestHeaderRules(t *testing.T) {
	office, gate := ident(t), ident(t)
	for _, h := range []Header{
		{Kind: KindRecords, Seq: 0, To: gate.Public()},
		{Kind: KindRecords, Seq: 4, Base: 4, To: gate.Public()},
		{Kind: KindEvents, Seq: 4, Base: 1, To: gate.Public()},
		{Kind: 9, Seq: 4, To: gate.Public()},
	} {
		if _, err := Seal(office, h, []byte("{}")); err == nil {
			t.Errorf("Seal(%+v) = nil error, want a refusal", h)
		}
	}
}

func TestPublicKeyText(t *testing.T) {
	p := ident(t).Public()
	s := p.String()
	got, err := ParsePublicKey("  " + s + "\n")
	if err != nil || got != p {
		t.Fatalf("ParsePublicKey(String()) = %v, %v", got, err)
	}
	bad := []byte(s)
	bad[20] ^= 2 // a typo
	for _, in := range []string{string(bad), s[:len(s)-2], "ssh-ed25519 AAAA", "gated1-", ""} {
		if _, err := ParsePublicKey(in); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParsePublicKey(%q) = %v, want ErrBadKey", in, err)
		}
	}
	if fp := p.Fingerprint(); len(fp) != 19 || strings.Count(fp, "-") != 3 {
		t.Errorf("Fingerprint() = %q", fp)
	}
}

func TestIdentityMarshal(t *testing.T) {
	id := ident(t)
	got, err := UnmarshalIdentity(id.Marshal())
	if err != nil || got.Public() != id.Public() {
		t.Fatalf("UnmarshalIdentity(Marshal()) = %v, %v", got.Public(), err)
	}
	if _, err := UnmarshalIdentity(make([]byte, 10)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("UnmarshalIdentity(short) = %v", err)
	}
}

func TestRecordsCheck(t *testing.T) {
	mut := []struct {
		name     string
		snapshot bool
		f        func(r *Records)
		want     string
	}{
		{"version", true, func(r *Records) { r.Version = 2 }, "payload version 2"},
		{"no secret", true, func(r *Records) { r.Secret = Secret{} }, "no compound secret"},
		{"bad gate name", true, func(r *Records) { r.Gate = "Main Gate" }, "gate"},
		{"duplicate resident", true, func(r *Records) { r.Residents = append(r.Residents, r.Residents[0]) }, "listed twice"},
		{"card of a stranger", true, func(r *Records) { r.Cards[0].Resident = "r-0000000000ff" }, "not in the snapshot"},
		{"short token", true, func(r *Records) { r.Cards[0].Token = r.Cards[0].Token[:8] }, "token is 8 bytes"},
		{"unknown profile", true, func(r *Records) { r.Residents[0].Profile = "night" }, "profile \"night\""},
		{"group of unknown profile", true, func(r *Records) { r.Groups["x"] = "nope" }, "does not define"},
		{"hostile argon2", true, func(r *Records) { r.Residents[0].PIN.MemoryKiB = 1 << 30 }, "out of bounds"},
		{"control character", true, func(r *Records) { r.Residents[0].Name = "a\x1b[2Jb" }, "control character"},
		{"dates reversed", true, func(r *Records) { r.Residents[1].ValidFrom = r.Residents[1].ValidUntil.Add(time.Hour) }, "not before"},
		{"snapshot removes", true, func(r *Records) { r.Remove.Residents = []string{"r-000000000009"} }, "removes nothing"},
		{"delta lists and removes", false, func(r *Records) { r.Remove.Residents = []string{"r-00000000000a"} }, "both listed and removed"},
		{"bad erasure", true, func(r *Records) { r.Erase[0].Resident = "bob" }, "erasure"},
		{"orphan guardian", true, func(r *Records) { r.Residents = r.Residents[1:]; r.Cards = nil }, "guardian"},
	}
	for _, m := range mut {
		t.Run(m.name, func(t *testing.T) {
			r := sampleRecords(t)
			m.f(r)
			p, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeRecords(p, m.snapshot)
			if err == nil || !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), m.want) {
				t.Fatalf("DecodeRecords = %v, want an ErrPayload saying %q", err, m.want)
			}
		})
	}
	// A delta may name residents it does not carry.
	r := sampleRecords(t)
	r.Cards[0].Resident = "r-0000000000ff"
	r.Remove.Cards = [][]byte{r.Secret.CardToken("9")}
	p, _ := r.Encode()
	if _, err := DecodeRecords(p, false); err != nil {
		t.Fatalf("DecodeRecords(delta) = %v", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	r := sampleRecords(t)
	p, _ := r.Encode()
	for name, b := range map[string][]byte{
		"unknown field": bytes.Replace(p, []byte(`"gate"`), []byte(`"template":[1,2],"gate"`), 1),
		"trailing data": append(bytes.Clone(p), []byte(` {}`)...),
		"not JSON":      []byte("\x00\x01"),
	} {
		if _, err := DecodeRecords(b, true); !errors.Is(err, ErrPayload) {
			t.Errorf("%s: DecodeRecords = %v, want ErrPayload", name, err)
		}
	}
}

func TestEventsCheck(t *testing.T) {
	e := &Events{Compound: "green-court", Gate: "north", Applied: 3,
		Audit:    []AuditEntry{{Seq: 5, Kind: "access", Actor: "gate:front", Hash: Digest{1}}, {Seq: 6, Kind: "admin", Actor: "system", Prev: Digest{1}, Hash: Digest{2}}},
		Faces:    map[string]int{"r-00000000000a": 3},
		Receipts: []Receipt{{Erasure: "e-000000000001", Resident: "r-00000000000c", At: time.Now()}},
	}
	p, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvents(p)
	if err != nil || got.Audit[1].Prev != (Digest{1}) || got.Faces["r-00000000000a"] != 3 {
		t.Fatalf("DecodeEvents = %+v, %v", got, err)
	}
	e.Audit[1].Prev = Digest{9}
	p, _ = e.Encode()
	if _, err := DecodeEvents(p); err == nil || !strings.Contains(err.Error(), "does not link") {
		t.Fatalf("DecodeEvents(broken chain) = %v", err)
	}
}

func TestSecretDerivationsDiffer(t *testing.T) {
	s, _ := NewSecret()
	s2, _ := NewSecret()
	if bytes.Equal(s.CardToken("1"), s2.CardToken("1")) || bytes.Equal(s.CardToken("1"), s.CardToken("2")) ||
		bytes.Equal(s.PINPepper(), s.CodePepper()) || bytes.Equal(s.CodePepper(), s.CodeHintKey()) {
		t.Fatal("derived values collide")
	}
}

// The PIN construction is the gate store's: a Hash made here matches only
// its own secret, and hostile parameters are refused before any work.
func TestHash(t *testing.T) {
	pepper := []byte("pepper")
	h, err := NewHash(pepper, "2468", 1, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Matches(pepper, "2468") || h.Matches(pepper, "2469") || h.Matches([]byte("other"), "2468") {
		t.Fatal("Matches does not tell the PIN, another PIN and another pepper apart")
	}
	if _, err := NewHash(pepper, "2468", 1, 1<<30, 1); !errors.Is(err, ErrPayload) {
		t.Fatalf("NewHash with 1 TiB of memory = %v, want refused", err)
	}
	if len(CodeHint([]byte("k"), "0123456789")) != 2 {
		t.Fatal("CodeHint is not 2 bytes")
	}
}
