// Package store is gated's encrypted local database: residents, their
// cards, PINs and face templates, consent records, deletion records,
// settings, and a tamper-evident audit log, in one bbolt file.
//
// It owns that file and the keys that protect it. It must never write face
// data, keys, card numbers or PINs anywhere but that file in sealed form,
// never log them, never send anything off the device, and never write
// outside the directory of the store's path (temporary files for creation,
// compaction and restore live next to it, mode 0600).
//
// # Protection
//
// Face templates are sealed with AES-256-GCM under a random data key per
// resident; the additional data binds each ciphertext to its resident, its
// template ID and its clear header, so a record swapped or copied inside
// the file fails to open (ErrTampered). Data keys are wrapped by the device
// key-encryption key (KEK), which comes from a 0600 key file
// (LoadKEKFile) or a systemd credential (LoadKEKCredential) and is never
// stored in the database; a verifier in the file lets Open reject a wrong
// key (ErrWrongKey) before it changes anything. Card numbers are stored as
// HMAC-SHA-256 under a device secret (random, wrapped by the KEK); PINs as
// argon2id of the PIN peppered with that secret, parameters kept per hash.
// The schema and record formats are in docs/store.md.
//
// # Deletion
//
// DestroyFaceData deletes a resident's wrapped data key and templates and
// then rewrites the file (compaction into a new file, fsync, rename), so
// the old bytes are in no page of the store; it leaves a DeletionRecord and
// an audit entry without biometric content. Copies outside the live file
// (older backups, disk blocks the filesystem freed) are crypto-shredded only
// against someone without the KEK: see docs/store.md.
//
// # Audit
//
// Every change a method makes is recorded in the same transaction as an
// audit entry; AppendAudit records access decisions. Entries form a SHA-256
// hash chain whose head is sealed with a key derived from the device
// secret, so VerifyAudit finds an altered, removed or cut-off entry and a
// chain rewritten without the KEK. Events carry only short printable text:
// there is no field for an image or a descriptor. There is no purge: the
// log is kept (at least 3 years, by policy) until a migration adds a purge
// that keeps every entry younger than that.
//
// # Caveats
//
//   - One process at a time: Open takes bbolt's exclusive file lock and
//     fails with ErrLocked while another process holds it. The CLI goes
//     through the daemon's socket, never opens the file itself.
//   - Callbacks of ForEachResident, ForEachTemplate and ForEachAudit run
//     inside a read transaction and under the DB's shared lock: they must
//     not call methods of the same DB (like nested bbolt transactions, that
//     can deadlock against a writer).
//   - DestroyFaceData, DeleteResident, RotateKEK and Compact rewrite the
//     whole file: about 3 s per 100,000 residents, of which other callers
//     wait about 0.4 s (the final catch-up and swap; see
//     docs/performance.md). Meanwhile a writer that must grow bbolt's
//     memory map waits for the copy. The directory needs room for a second
//     copy of the file.
//   - Names, units, consent and deletion records, and the audit log are
//     stored in clear (they are needed without the KEK to restore and to
//     audit); protect the file with its 0600 mode and disk encryption.
//   - Go cannot reliably wipe memory: keys are cleared where the code holds
//     them, but copies made by the runtime may linger until reused.
package store
