package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

// BenchmarkLockCommand measures what systemd waits for after a crash
// (ExecStopPost=) and before a start (ExecCondition=): exec gated-lock, read
// [relay], send the lock to a pty board, exit. ns/op is the whole process
// (exec to exit); to-OFF-p50/p99-ms is the time from exec to the lock frame
// arriving at the board, the number the 1 s promise is about. Compare
// cmd/gated's BenchmarkRelayLockCommand (the same through the big gated
// binary) and internal/door's BenchmarkLockNow (the lock alone).
func BenchmarkLockCommand(b *testing.B) {
	bin := lockBinary(b)
	p := serialtest.New(b)
	peer := p.OpenPeer(100 * time.Millisecond)
	frames := make(chan time.Time, 16)
	stop := make(chan struct{})
	defer close(stop)
	go relaytest.Watch(peer, stop, func(_ []byte, at time.Time) { frames <- at }, lcusOff)
	cfg := filepath.Join(b.TempDir(), "gated.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[relay]\ntype = \"lcus\"\ndevice = %q\n", p.Device)), 0o600); err != nil {
		b.Fatal(err)
	}
	var toOff []time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "--config", cfg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-frames:
			toOff = append(toOff, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("gated-lock: no lock frame within 10 s\n%s", out.String())
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("gated-lock: %v\n%s", err, out.String())
		}
	}
	reportPercentiles(b, "to-OFF", toOff)
}

// reportPercentiles reports the median and the 99th percentile of ds in
// milliseconds.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
}
