package compound

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchInbox wakes the inbox scan when a file is written or moved into
// dir (a sync engine writes a hidden temporary file and renames it), so a
// bundle applies within a second of arriving instead of at the next
// poll. The poll stays as the fallback: an error here only costs latency.
// The channel is closed when the watch ends because dir itself was
// removed or moved away (the caller makes the directory again and
// watches the new one), or when ctx ends.
func watchInbox(ctx context.Context, dir string) (<-chan struct{}, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("compound: watch inbox: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_MOVE_SELF); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("compound: watch inbox %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a pending Read
	wake := make(chan struct{}, 1)
	ended := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-ended:
		}
		f.Close()
	}()
	go func() {
		defer close(ended)
		defer close(wake)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			if watchGone(buf[:n]) {
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

// watchGone reports whether the events in b say the watched directory
// itself went (removed: IN_IGNORED; moved away: IN_MOVE_SELF).
func watchGone(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:8])
		n := int(binary.NativeEndian.Uint32(b[12:16]))
		if mask&(unix.IN_IGNORED|unix.IN_MOVE_SELF) != 0 {
			return true
		}
		if unix.SizeofInotifyEvent+n > len(b) {
			return false
		}
		b = b[unix.SizeofInotifyEvent+n:]
	}
	return false
}
