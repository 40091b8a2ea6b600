package daemon

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// notifyLoop tells systemd the gate is ready and feeds its watchdog
// (Type=notify, WatchdogSec=) through the unix datagram socket systemd
// names in NOTIFY_SOCKET. The watchdog is fed only while alive() is recent
// (the health loop's heartbeat), so a daemon whose loops are stuck is
// killed and restarted by systemd. Without NOTIFY_SOCKET it does nothing.
func notifyLoop(ctx context.Context, getenv func(string) string, alive func() time.Time, log *slog.Logger) error {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		<-ctx.Done()
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract socket
	}
	send := func(msg string) {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			log.Warn("daemon: sd_notify", "err", err)
			return
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			log.Warn("daemon: sd_notify", "err", err)
		}
	}
	send("READY=1\nSTATUS=gate running")
	var tick <-chan time.Time
	var every time.Duration
	if us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		every = time.Duration(us) * time.Microsecond / 2
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			send("STOPPING=1")
			return nil
		case <-tick:
			if time.Since(alive()) < every {
				send("WATCHDOG=1")
			} else {
				log.Error("daemon: main loop stalled: not feeding the watchdog")
			}
		}
	}
}
