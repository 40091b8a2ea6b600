package readers_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/readers"
	"github.com/gated-dev/gated/internal/store"
)

// secrets is a map standing in for the store's sealed settings.
type secrets map[string][]byte

func (s secrets) Secret(name string) ([]byte, error) {
	if v, ok := s[name]; ok {
		return v, nil
	}
	return nil, store.ErrNotFound
}

func (s secrets) SetSecret(_, name string, v []byte) error { s[name] = v; return nil }

// Each configured reader runs as its type, on real pty pairs: a card
// line on the ASCII reader and a PIN on the keypad come out as events.
func TestOpenRunsEachType(t *testing.T) {
	card, pad := serialtest.New(t), serialtest.New(t)
	rcs := []config.Reader{
		{Name: "front", Type: "ascii", Device: card.Device},
		{Name: "front-keypad", Type: "keypad", Device: pad.Device, For: "front"},
	}
	rs, err := readers.Open(rcs, secrets{}, nil)
	if err != nil || len(rs) != 2 || rs[0].Name() != "front" || rs[1].Name() != "front-keypad" {
		t.Fatalf("Open = %v, %v", rs, err)
	}
	if b := readers.Bindings(rcs); len(b) != 1 || b["front-keypad"] != "front" {
		t.Errorf("Bindings = %v", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan fallback.Event, 16)
	for _, r := range rs {
		go r.Run(ctx, events)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !rs[0].Health().Up || !rs[1].Health().Up {
		if time.Now().After(deadline) {
			t.Fatal("readers not up within 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	card.OpenPeer(100 * time.Millisecond).Write([]byte("1001\r\n"))
	pad.OpenPeer(100 * time.Millisecond).Write([]byte("2580#"))
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-events:
			if ev.Kind == fallback.KindCard || ev.Kind == fallback.KindPIN {
				got = append(got, ev.String())
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("events: %v", got)
		}
	}
	// Two readers, two goroutines: the events may come in either order.
	slices.Sort(got)
	if got[0] != "front-keypad: pin (4 digits)" || got[1] != "front: card ascii 1001" {
		t.Errorf("events = %q", got)
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tt := range []struct {
		rc   config.Reader
		want string
	}{
		{config.Reader{Name: "x", Type: "barcode", Device: "/dev/null"}, `unknown reader type "barcode"`},
		{config.Reader{Name: "o", Type: "osdp", Device: "/dev/null"}, "pair it once"},
	} {
		if _, err := readers.Open([]config.Reader{tt.rc}, secrets{}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want an error saying %q", tt.rc, err, tt.want)
		}
	}
	// A paired OSDP reader takes its key from the secrets.
	key := []byte("0123456789abcdef")
	rs, err := readers.Open([]config.Reader{{Name: "o", Type: "osdp", Device: "/dev/null"}}, secrets{"osdp/o": key}, nil)
	if err != nil || len(rs) != 1 || rs[0].Name() != "o" {
		t.Errorf("a paired OSDP reader with its key = %v, %v; want it opened", rs, err)
	}
}
