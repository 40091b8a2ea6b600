//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// mapFile maps the first size bytes of f read-only; unmap releases them.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), err error) {
	if size <= 0 || size != int64(int(size)) {
		return nil, nil, errors.New("cannot map")
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { syscall.Munmap(data) }, nil
}

// Flags for opening a key file without blocking on a FIFO, without
// making a terminal ours, and (openNoFollow) without following a link.
const (
	openKeyFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
	openNoFollow = syscall.O_NOFOLLOW
)

func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// lockExclusive takes an exclusive flock on f (bbolt's writer lock),
// retrying until timeout.
func lockExclusive(f *os.File, timeout time.Duration) error {
	return flockRetry(f, syscall.LOCK_EX, timeout)
}

func unlock(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// lockShared takes a shared flock on f (the lock bbolt's read-only opens
// take; bbolt's writer takes it exclusively), retrying until timeout.
func lockShared(f *os.File, timeout time.Duration) error {
	return flockRetry(f, syscall.LOCK_SH, timeout)
}

func flockRetry(f *os.File, how int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeSpace is the room left for this user's files on dir's filesystem.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
