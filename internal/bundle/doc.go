// Package bundle is the file format a property office and its gates
// exchange: records bundles (office to gate: residents, cards, PIN hashes,
// visitor passes, validity and time profiles, face-data erasure orders) and
// event bundles (gate to office: audit entries, import results, erasure
// receipts and per-resident face template counts).
//
// It owns the envelope (Seal, Open), the keys (Identity, PublicKey), the
// payloads (Records, Events) and the compound secret's derived values
// (CardToken, PINInput). It must never carry a face template, a descriptor
// or a photo: no payload type has a field that can hold one. It never
// touches the network and never chooses where a file goes: callers move
// the bytes, with ReadFile (one file from a folder others fill) and
// WriteFile (whole or not at all, hidden while written).
//
// # Envelope
//
// A bundle is one file:
//
//	magic     8 bytes  "GATEDBN1"
//	kind      1 byte   1 records (office to gate), 2 events (gate to office)
//	seq       8 bytes  the sender's sequence number, big-endian, from 1
//	base      8 bytes  records: 0 for a snapshot, else the seq a delta applies to
//	created   8 bytes  Unix seconds, big-endian
//	from     64 bytes  the sender's public key (Ed25519 || X25519)
//	to       64 bytes  the recipient's public key
//	eph      32 bytes  an ephemeral X25519 public key
//	length    4 bytes  ciphertext length, big-endian, at most MaxPayload+16
//	sealed   length    AES-256-GCM of the payload
//	sig      64 bytes  Ed25519 by from's signing key over every byte before it
//
// The payload key is HKDF-SHA-256 of X25519(eph, to) with eph || to as
// salt; the nonce is zero (each key seals one message) and the header (all
// bytes before sealed) is the additional data. Open checks, in this order,
// the form, the sender (ErrWrongSender), the signature (ErrBadSignature),
// the recipient (ErrNotForUs) and the ciphertext (ErrDecrypt), so a bundle
// from anyone but the pinned office is refused before any decryption.
//
// Sequence rules (a gate refuses an older or replayed bundle, a delta
// against another base) are the importer's: Header carries what it needs.
//
// # Why encrypted and signed
//
// A bundle travels on a USB stick or through a sync engine; whoever copies
// it must learn nothing and change nothing. The signature pins the office;
// encryption to the gate's key keeps residents' names, units and the
// compound secret from anyone without that gate's private key. Card
// numbers and PINs are not in the payload even in the clear: cards travel
// as HMAC-SHA-256 tokens under the compound secret and PINs as argon2id of
// the PIN peppered with it (docs/compound.md has the threat model).
package bundle
