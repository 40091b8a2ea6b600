package bundle

import (
	"fmt"
	"io"
	"os"
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
