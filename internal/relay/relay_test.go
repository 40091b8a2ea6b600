package relay_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/relay/relaytest"
)

func TestLCUS(t *testing.T) {
	tests := []struct {
		channel int
		on, off []byte
	}{
		{1, []byte{0xA0, 0x01, 0x01, 0xA2}, []byte{0xA0, 0x01, 0x00, 0xA1}},
		{2, []byte{0xA0, 0x02, 0x01, 0xA3}, []byte{0xA0, 0x02, 0x00, 0xA2}},
		{8, []byte{0xA0, 0x08, 0x01, 0xA9}, []byte{0xA0, 0x08, 0x00, 0xA8}},
	}
	for _, tt := range tests {
		got, err := relay.LCUS(tt.channel)
		if err != nil {
			t.Fatalf("LCUS(%d): %v", tt.channel, err)
		}
		if !bytes.Equal(got.On, tt.on) || !bytes.Equal(got.Off, tt.off) {
			t.Errorf("LCUS(%d) = on % X off % X, want on % X off % X", tt.channel, got.On, got.Off, tt.on, tt.off)
		}
	}
	for _, ch := range []int{0, 9, -1} {
		if _, err := relay.LCUS(ch); !errors.Is(err, relay.ErrConfig) {
			t.Errorf("LCUS(%d) error = %v, want ErrConfig", ch, err)
		}
	}
}

func TestParseCommands(t *testing.T) {
	tests := []struct {
		on, off string
		want    relay.Commands
		wantErr bool
	}{
		{"A0 01 01 A2", "a00100a1", relay.Commands{On: []byte{0xA0, 1, 1, 0xA2}, Off: []byte{0xA0, 1, 0, 0xA1}}, false},
		{"FF:01", "0xFF,0x00", relay.Commands{On: []byte{0xFF, 1}, Off: []byte{0xFF, 0}}, false},
		{"", "00", relay.Commands{}, true},
		{"01", "01", relay.Commands{}, true},
		{"zz", "00", relay.Commands{}, true},
		{"0", "00", relay.Commands{}, true},
	}
	for _, tt := range tests {
		got, err := relay.ParseCommands(tt.on, tt.off)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCommands(%q, %q) error = %v, want error %v", tt.on, tt.off, err, tt.wantErr)
			continue
		}
		if err == nil && (!bytes.Equal(got.On, tt.want.On) || !bytes.Equal(got.Off, tt.want.Off)) {
			t.Errorf("ParseCommands(%q, %q) = %X/%X, want %X/%X", tt.on, tt.off, got.On, got.Off, tt.want.On, tt.want.Off)
		}
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]relay.Mode{"": relay.FailSecure, "fail-secure": relay.FailSecure, "fail-safe": relay.FailSafe} {
		got, err := relay.ParseMode(s)
		if err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v, want %v", s, got, err, want)
		}
	}
	if _, err := relay.ParseMode("open"); !errors.Is(err, relay.ErrConfig) {
		t.Errorf("ParseMode(open) error = %v, want ErrConfig", err)
	}
}

func TestPulse(t *testing.T) {
	tests := []struct {
		name      string
		failOpen  int
		failLock  int
		cancel    bool
		wantErr   error
		wantLast  bool // last successful state: false = locked
		wantShort bool // returned before the pulse time
	}{
		{name: "normal"},
		{name: "cancelled early", cancel: true, wantShort: true},
		{name: "open fails still locks", failOpen: 1, wantErr: relaytest.ErrInjected, wantShort: true},
		{name: "lock retried", failLock: 2},
		{name: "lock never succeeds", failLock: 10, wantErr: relay.ErrNotLocked, wantLast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &relaytest.Relay{}
			r.FailOpens(tt.failOpen)
			r.FailLocks(tt.failLock)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			const d = 300 * time.Millisecond
			start := time.Now()
			err := relay.Pulse(ctx, r, d)
			took := time.Since(start)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Pulse() error = %v, want %v", err, tt.wantErr)
			}
			if got := r.Open(); got != tt.wantLast {
				t.Errorf("after Pulse open = %v, want %v; ops %+v", got, tt.wantLast, r.Ops())
			}
			if short := took < d; short != tt.wantShort {
				t.Errorf("Pulse took %v, want shorter than %v: %v", took, d, tt.wantShort)
			}
			ops := r.Ops()
			if last := ops[len(ops)-1]; last.Open {
				t.Errorf("last op was an open: %+v", ops)
			}
		})
	}
}
