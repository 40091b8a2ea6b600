package bundle

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// MaxFile is the largest a bundle file can be: the largest payload, its
// tag, the header and the signature, rounded up.
const MaxFile = MaxPayload + 4096

// ReadFile reads one bundle file from a folder a sync engine or a USB
// stick fills, so written by someone else: a symbolic link is not
// followed (it could point at a store), a FIFO or device is refused
// without blocking, and nothing larger than a bundle can be is read. It
// only reads; what the bytes are is for Open to say.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes is larger than any bundle", path, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: larger than any bundle", path)
	}
	return b, nil
}

// WriteFile writes a bundle (or any small file of a synced folder) as
// whole or not at all: a hidden temporary file in the same directory
// (".tmp-*", which a sync engine ignores), given mode, fsynced, renamed
// over path, and the directory fsynced.
func WriteFile(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode) // explicit: a umask of 077 would make it unreadable to the sync user
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
