// Package store is gated's encrypted local database: residents, their
// cards, PINs and face templates, consent records, deletion records,
// settings, and a tamper-evident audit log, in one bbolt file.
//
// It owns that file, its automatic backups, its audit journal and the keys
// that protect them. It must never write face data, keys, card numbers or
// PINs anywhere but those files in sealed form, never log them, never send
// anything off the device, and never write outside the directory of the
// store's path, Options.BackupDir and a journal path the caller gives
// (temporary files for creation, compaction, restore and backups live next
// to their file, mode 0600).
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
// key (ErrWrongKey) before it changes anything. A configured key that is
// evidently not random (typed text) is used, with ErrWeakKey, because an
// earlier gated accepted such keys; LoadNewKEKFile refuses one as the new
// key of a rotation. Card numbers are stored as HMAC-SHA-256 under a
// device secret (random, wrapped by the KEK); PINs as argon2id of the PIN
// peppered with that secret, parameters kept per hash. The schema and
// record formats are in docs/store.md.
//
// # Damage
//
// A damaged file never crashes the process. Open, OpenReadOnly and Check
// walk the page structure with bounds-checked reads before bbolt maps the
// file (bbolt follows page IDs and offsets with unsafe pointers, and its
// own Tx.Check runs in a goroutine whose faults recover cannot catch),
// then run Tx.Check, then decode every record the gate serves from and
// decrypt every data key, template and secret with the KEK. A failure is
// ErrCorrupt naming the page or the bucket, key and what failed. Every
// later read and update turns a fault or panic (a disk error under the
// memory map) into ErrCorrupt. The daemon then serves card and PIN from
// the newest automatic backup that verifies (OpenNewestBackup, read-only,
// ErrReadOnly for any change), records its audit entries in a Journal,
// and imports them (ImportJournal) once the store is restored. A damaged
// journal is moved aside and a new one started (OpenJournal returns both
// the journal and a *JournalMovedError), so it never stops the daemon.
//
// # Deletion
//
// DestroyFaceData deletes a resident's wrapped data key and templates in
// one transaction that also stores a DeletionRecord, a pending destruction
// record and an audit entry, none with biometric content. Then it destroys
// the data on disk: it rewrites the file (compaction into a new file,
// fsync, rename), so the old bytes are in no page of the store, scrubs
// every automatic backup, removes leftover temporary files, and only then
// removes the pending record with a "destroyed on disk" audit entry. If a
// step fails (a full disk, a crash), the destruction is pending
// (ErrPending, DeletionRecord.Pending) and FinishPending retries it.
// Copies outside data_dir (manual backups), disk blocks the filesystem
// freed and flash cells are crypto-shredded only against someone without
// the KEK: see docs/store.md.
//
// # Backups
//
// AutoBackup writes a verified, still-encrypted snapshot into
// Options.BackupDir, named with a generation that orders backups whatever
// the clock says. Scheduled backups and those taken after a change are
// pruned apart (Options.BackupKeep, Options.ChangeBackupKeep); a key
// rotation replaces them with one under the new key (if that cannot be
// done at once, ErrRotatedPending: the store records it and FinishPending
// does it). A backup of a store whose old audit entries rotted keeps them
// as they are, checked against the store's own (BackupInfo.AuditDamage).
// A restore is staged while the daemon runs (StageRestore,
// StageAutoBackup) and applied before the next open (ApplyStaged; one
// that cannot be applied yet for want of space stays staged).
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
//     copy of the file. A destruction also rewrites every automatic backup
//     that may hold the data.
//   - Open reads the whole file and decrypts every key and template: about
//     1 to 1.8 s at 100,000 residents, before the gallery load
//     (docs/store.md).
//   - Verification cannot see a flipped bit inside a clear record that
//     still decodes (a name, a PIN hash, a card's hashed key): bbolt has no
//     page checksums. Sealed records and the audit chain do catch it.
//   - Lock-out counters (SetFailures) are kept, not judged: the gate owns
//     the policy.
//   - Names, units, consent and deletion records, and the audit log are
//     stored in clear (they are needed without the KEK to restore and to
//     audit); protect the file with its 0600 mode and disk encryption.
//   - Go cannot reliably wipe memory: keys are cleared where the code holds
//     them, but copies made by the runtime may linger until reused.
package store
