//go:build !unix

package store

import (
	"errors"
	"os"
	"time"
)

// Key files are looked at before they are opened; there are no such
// open flags here.
const (
	openKeyFlags = 0
	openNoFollow = 0
)

// fileOwner cannot tell the owner here, so key files are refused.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }

// lockShared is a no-op where flock is missing; bbolt locks on its own.
func lockShared(*os.File, time.Duration) error { return nil }

// lockExclusive is a no-op where flock is missing.
func lockExclusive(*os.File, time.Duration) error { return nil }

func unlock(*os.File) {}

// mapFile is not available here: the page walk reads with ReadAt.
func mapFile(*os.File, int64) ([]byte, func(), error) { return nil, nil, errors.New("no mmap") }

// freeSpace cannot tell here: the restore's own copy finds out.
func freeSpace(string) (uint64, bool) { return 0, false }
