package store

import "errors"

// Errors that callers branch on. Every error returned by this package wraps
// one of these where one applies, with context (path, resident ID) added
// around it; test with errors.Is.
var (
	// ErrWrongKey: the KEK does not match the one the store was sealed with.
	// Nothing was changed.
	ErrWrongKey = errors.New("store: wrong key (KEK does not match this store)")
	// ErrSchemaTooNew: the file was written by a newer gated. Nothing was changed.
	ErrSchemaTooNew = errors.New("store: schema is newer than this program knows")
	// ErrNotStore: the file is not a gated store (empty, foreign, or a bbolt
	// file of another program). Nothing was changed.
	ErrNotStore = errors.New("store: not a gated store")
	// ErrCorrupt: the file is a bbolt file but truncated or damaged. The
	// error names what is damaged (page, bucket, key, what failed). Open,
	// OpenReadOnly and Check changed nothing; restore a backup.
	ErrCorrupt = errors.New("store: file is truncated or damaged")
	// ErrLocked: another process holds the store open.
	ErrLocked = errors.New("store: file is locked by another process")
	// ErrClosed: the DB was closed, or a failed compaction left it unusable.
	ErrClosed = errors.New("store: closed")
	// ErrInsecureStoreFile: the store file can be read by other users and
	// is owned by another user, so Open cannot make it private. Nothing was
	// changed.
	ErrInsecureStoreFile = errors.New("store: store file is readable by other users and owned by another user")
	// ErrReadOnly: the store was opened read-only (OpenReadOnly, a backup
	// served while the store is damaged); the method changed nothing.
	ErrReadOnly = errors.New("store: read-only (serving from a backup): restore the store to make changes")
	// ErrPending: face data was deleted from the store, but destroying it
	// on disk (rewriting the file, scrubbing backups) has not finished. A
	// pending destruction record keeps it; FinishPending retries it.
	ErrPending = errors.New("store: destruction pending: deleted from the store, not yet from the disk; it is retried")
	// ErrNoBackup: no automatic backup opens and verifies.
	ErrNoBackup = errors.New("store: no usable backup")

	// ErrInsecureKeyFile: the key file's mode or owner is wrong.
	ErrInsecureKeyFile = errors.New("store: key file is not private to this user")
	// ErrBadKeyFile: the key file or credential cannot be read or parsed,
	// or (LoadNewKEKFile) holds a weak key. No key comes with it.
	ErrBadKeyFile = errors.New("store: bad key file")
	// ErrWeakKey: the configured key file or credential holds key
	// material that is evidently not random (typed text, a pattern). The
	// key is usable and returned with the error (a *WeakKeyError), because
	// an earlier gated accepted such keys and a store sealed with one must
	// still open: rotate to a random key. Callers that cannot use a weak
	// key treat it as any error; LoadNewKEKFile refuses one outright.
	ErrWeakKey = errors.New("store: the device key is weak")

	// ErrTampered: a sealed record failed authentication: it was altered,
	// swapped with another record, or copied from another resident.
	ErrTampered = errors.New("store: record failed authentication")
	// ErrNotFound: no such resident, card, template or setting.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid: the caller's input does not pass validation; the message
	// names the field.
	ErrInvalid = errors.New("store: invalid input")
	// ErrCardInUse: the card is assigned to another resident.
	ErrCardInUse = errors.New("store: card assigned to another resident")
	// ErrAlreadyEnrolled: the resident has face data; destroy it before
	// enrolling again.
	ErrAlreadyEnrolled = errors.New("store: resident already has face data")
	// ErrNoFaceData: the resident has no face data to destroy.
	ErrNoFaceData = errors.New("store: resident has no face data")
	// ErrAuditBroken: VerifyAudit found a broken or missing link.
	ErrAuditBroken = errors.New("store: audit chain broken")
	// errDecode: a stored record does not decode. Wrapped into ErrCorrupt
	// or ErrTampered by callers that know which.
	errDecode = errors.New("malformed record")
)
