package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// A restore is staged while the daemon holds the store: the backup is
// checked completely, waits next to the store, and is restored by
// ApplyStaged before the store is next opened. Only this package's file
// names are used: the staged backup, and temporary files Open removes.

// stagedPath is where a staged backup waits.
func stagedPath(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), "."+filepath.Base(dbPath)+".staged")
}

// ErrNoStagedBackup: StageAutoBackup found no backup of that name.
var ErrNoStagedBackup = fmt.Errorf("%w: no such automatic backup", ErrNotFound)

// ErrStillStaged: ApplyStaged could not restore the staged backup for a
// reason that may pass (a full disk, the store locked by another
// process). The store is as it was; the backup stays staged, and the next
// ApplyStaged (the next start) tries it again.
var ErrStillStaged = errors.New("store: the staged restore was not applied; it stays staged and is tried again at the next start")

// restoreRoom is the free space a staged backup of size bytes needs to be
// applied, besides its own staged copy: Restore's copy of it, and an
// eighth and a mebibyte more for what Restore adds (audit entries, the
// replaced store's audit export).
func restoreRoom(size int64) uint64 { return uint64(size) + uint64(size)/8 + 1<<20 }

// checkRoom refuses, wrapping syscall.ENOSPC, when dir has less than need
// bytes free. It says nothing where free space cannot be read.
func checkRoom(dir string, need uint64, size int64) error {
	free, ok := freeSpace(dir)
	if !ok || free >= need {
		return nil
	}
	return fmt.Errorf("%w: not enough free space in %s to restore this backup: it is %s, and restoring it needs %s free "+
		"(a copy while it is checked and renamed into place), %s are: free space in the data directory and try again",
		syscall.ENOSPC, dir, mib(uint64(size)), mib(need), mib(free))
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// StageRestore checks a backup read from r completely against kek, as
// Restore will (bbolt consistency, a gated store, every data key, the audit
// chain's sealed head; entries that do not verify are kept, and Restore
// warns about them), and stages it for ApplyStaged. A backup that fails is
// refused with why, and nothing is staged. So is one that the directory
// has no room to apply (about twice its size: the staged copy and
// Restore's own), with an error wrapping syscall.ENOSPC.
func StageRestore(dbPath string, r io.Reader, kek KEK) error {
	tmp, err := writeTemp(filepath.Dir(dbPath), "."+filepath.Base(dbPath)+".restore-*", r)
	if err != nil {
		return fmt.Errorf("store: stage restore: %w", err)
	}
	return stage(dbPath, tmp, kek)
}

// StageAutoBackup stages the automatic backup named name in dir, or with
// name "newest", the newest one that verifies. It returns the backup
// staged.
func StageAutoBackup(dbPath, dir, name string, kek KEK) (BackupInfo, error) {
	bs, err := ListBackups(dir)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: stage backup: %w", err)
	}
	var tried []string
	for _, b := range bs {
		if name != "newest" && filepath.Base(b.Path) != name {
			continue
		}
		// Room for the staged copy and for Restore's own.
		if err := checkRoom(filepath.Dir(dbPath), uint64(b.Size)+restoreRoom(b.Size), b.Size); err != nil {
			return b, fmt.Errorf("store: stage backup %s: %w", filepath.Base(b.Path), err)
		}
		opts := Options{}.withDefaults()
		if _, err := deepCheckCopy(b.Path, kek, uint32(len(opts.migrations)), opts.LockTimeout); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", filepath.Base(b.Path), err))
			continue
		}
		in, err := os.Open(b.Path)
		if err != nil {
			return b, fmt.Errorf("store: stage backup: %w", err)
		}
		err = StageRestore(dbPath, in, kek)
		in.Close()
		return b, err
	}
	if len(tried) > 0 {
		return BackupInfo{}, fmt.Errorf("store: stage backup: %w: none verifies: %v", ErrCorrupt, tried)
	}
	return BackupInfo{}, fmt.Errorf("store: stage backup %q: %w (gated backup list)", name, ErrNoStagedBackup)
}

func stage(dbPath, tmp string, kek KEK) error {
	defer os.Remove(tmp) // a no-op once renamed
	fi, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("store: stage restore: %w", err)
	}
	// The staged copy is written: what is left must hold Restore's.
	if err := checkRoom(filepath.Dir(dbPath), restoreRoom(fi.Size()), fi.Size()); err != nil {
		return fmt.Errorf("store: stage restore: %w", err)
	}
	opts := Options{}.withDefaults()
	// Entries of the audit chain that do not verify do not stop a restore
	// (Restore warns about them): a backup keeps a store's damaged entries
	// as they are.
	if _, err := deepCheckCopy(tmp, kek, uint32(len(opts.migrations)), opts.LockTimeout); err != nil {
		return fmt.Errorf("store: the backup is refused: it does not open with this gate's key, or is damaged: %w", err)
	}
	if err := os.Rename(tmp, stagedPath(dbPath)); err != nil {
		return fmt.Errorf("store: stage restore: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// ApplyStaged restores the staged backup over the store at dbPath, if one
// is staged, and reports whether it did. A restore that fails leaves the
// store as it was. The staged file is removed when the restore is done or
// refused for what the backup is; when it failed for a reason that may
// pass (a full disk: syscall.ENOSPC or EDQUOT; ErrLocked), it stays
// staged and the error wraps ErrStillStaged: raise the alarm, and the next
// ApplyStaged (the next start) tries it again.
//
// Each of keys is tried in turn while the backup says it is the wrong key
// (ErrWrongKey): after a rotation whose new key is not yet configured, the
// backup is sealed with the new key, and the configured one comes first.
func ApplyStaged(dbPath string, opts Options, keys ...KEK) (RestoreReport, bool, error) {
	staged := stagedPath(dbPath)
	if _, err := os.Stat(staged); errors.Is(err, os.ErrNotExist) {
		return RestoreReport{}, false, nil
	}
	if len(keys) == 0 {
		return RestoreReport{}, false, fmt.Errorf("store: apply staged restore: %w: no key", ErrInvalid)
	}
	var rep RestoreReport
	var err error
	for _, kek := range keys {
		if rep, err = Restore(dbPath, staged, kek, opts); !errors.Is(err, ErrWrongKey) {
			break
		}
	}
	if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrLocked)) {
		return rep, false, fmt.Errorf("store: apply staged restore: %w: %w", ErrStillStaged, err)
	}
	os.Remove(staged)
	syncDir(filepath.Dir(dbPath))
	return rep, err == nil, err
}

// writeTemp copies r into a new 0600 temporary file in dir, synced.
func writeTemp(dir, pattern string, r io.Reader) (string, error) {
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	name := out.Name()
	err = out.Chmod(0o600)
	if err == nil {
		_, err = io.Copy(out, r)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}
