//go:build !unix

package store

import (
	"os"
	"time"
)

// fileOwner cannot tell the owner here, so key files are refused.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }

// lockShared is a no-op where flock is missing; bbolt locks on its own.
func lockShared(*os.File, time.Duration) error { return nil }

// lockExclusive is a no-op where flock is missing.
func lockExclusive(*os.File, time.Duration) error { return nil }

func unlock(*os.File) {}
