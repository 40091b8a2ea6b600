package daemon

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifyReadyAndWatchdog plays systemd: a unix datagram socket named in
// NOTIFY_SOCKET must get READY=1, then WATCHDOG=1 while the daemon's loop is
// alive, none once it stalls, and STOPPING=1 at the end.
func TestNotifyReadyAndWatchdog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"} // 400 ms: pings every 200 ms
	var beat atomic.Int64
	beat.Store(time.Now().UnixNano())
	alive := func() time.Time { return time.Unix(0, beat.Load()) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- notifyLoop(ctx, func(k string) string { return env[k] }, alive, slog.New(slog.DiscardHandler))
	}()

	recv := func(d time.Duration) string {
		conn.SetReadDeadline(time.Now().Add(d))
		b := make([]byte, 256)
		n, err := conn.Read(b)
		if err != nil {
			return ""
		}
		return string(b[:n])
	}
	if m := recv(2 * time.Second); !strings.HasPrefix(m, "READY=1") {
		t.Fatalf("first message %q, want READY=1", m)
	}
	// Alive: the heartbeat beats (on its own goroutine, as the daemon's
	// loop does, so that a slow test machine does not starve it), and the
	// watchdog is fed every 200 ms.
	stopBeat := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		for {
			select {
			case <-stopBeat:
				return
			case <-time.After(5 * time.Millisecond):
				beat.Store(time.Now().UnixNano())
			}
		}
	}()
	pings := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		if recv(300*time.Millisecond) == "WATCHDOG=1" {
			pings++
		}
	}
	close(stopBeat)
	<-beating
	if pings < 2 {
		t.Errorf("%d watchdog pings while alive, want several", pings)
	}
	// Stalled: the heartbeat stops, and so do the pings.
	beat.Store(time.Now().Add(-time.Hour).UnixNano())
	recv(250 * time.Millisecond) // one may be in flight
	if m := recv(600 * time.Millisecond); m == "WATCHDOG=1" {
		t.Errorf("watchdog fed while the loop is stalled")
	}
	cancel()
	if m := recv(2 * time.Second); m != "STOPPING=1" {
		t.Errorf("last message %q, want STOPPING=1", m)
	}
	if err := <-done; err != nil {
		t.Errorf("notifyLoop = %v", err)
	}
}

func TestNoNotifySocketNoMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := notifyLoop(ctx, func(string) string { return "" }, time.Now, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("notifyLoop without NOTIFY_SOCKET = %v", err)
	}
}
