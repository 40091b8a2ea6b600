package compound

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchInbox wakes the inbox scan when a file is written or moved into
// dir (a sync engine writes a hidden temporary file and renames it), so a
// bundle applies within a second of arriving instead of at the next
// poll. The poll stays as the fallback: an error here only costs latency.
func watchInbox(ctx context.Context, dir string) (<-chan struct{}, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("compound: watch inbox: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("compound: watch inbox %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a pending Read
	wake := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select { // the events themselves do not matter: a scan reads the directory
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return wake, nil
}
