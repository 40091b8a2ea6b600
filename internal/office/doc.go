// Package office is the property office's side of a compound (issue 16):
// its own encrypted bbolt store of the non-biometric records it manages
// for every gate (residents, card tokens, PIN hashes, visitor passes, time
// profiles, which gates each applies to), the records bundles it publishes
// to each gate, and what it collects from the gates' event bundles (their
// audit chains, import results, erasure receipts and opt-outs, face
// template counts), kept 3 years and reported.
//
// It owns that store file and what it writes into a publish outbox
// (<outbox>/<gate>/records-<seq>.gbundle). It must never hold or ask for a
// face template, a descriptor or a photo (a gate reports only counts),
// never store a card number or a PIN in any form but the compound's token
// and argon2id hash, never write outside the store's directory and the
// outbox it is given, and never talk to a network: the bundles are files,
// moved by a USB stick or a sync engine.
//
// # Protection
//
// Every value in the store is sealed with AES-256-GCM under a key derived
// from the office key-encryption key (a 0600 key file, the same rules as
// the gate's: LoadKEKFile), with the bucket and the record's key as
// additional data, so a value moved inside the file does not open. Keys in
// the file are random IDs, sequence numbers and card tokens, none of which
// names a person. A verifier lets Open refuse a wrong key (ErrWrongKey)
// before it changes anything. Every change is recorded in the office's own
// hash-chained log (Log, VerifyLog).
//
// # Deltas
//
// Each change to a record that travels to gates takes the next revision
// number and a change-log entry naming the record and the gates it applied
// to before and after. A published bundle remembers the revision it was
// made at; a delta for a gate against the bundle it acknowledged as applied
// folds the change-log entries after that revision. When the office no
// longer has them (pruned after 90 days, or the gate's applied sequence is
// unknown) it publishes a snapshot.
//
// # Caveats
//
//   - One process at a time: Open takes bbolt's exclusive lock and fails
//     with ErrLocked while another gated office holds it.
//   - Go cannot reliably wipe memory; keys are cleared where held.
package office
