package fallback_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/fallback/osdp"
	"github.com/gated-dev/gated/internal/fallback/osdp/osdptest"
	"github.com/gated-dev/gated/internal/fallback/serialtest"
	"github.com/gated-dev/gated/internal/relay"
)

// The allowed credentials of the test gate. Nothing else may open it.
const (
	allowedCard    = "4242424242" // ASCII reader
	allowedPINCard = "777"        // ASCII reader, with allowedPIN on the keypad
	allowedPIN     = "2580"
)

var allowedWiegand = "1:4242" // Wiegand converter and OSDP reader

// gate is the smallest daemon: it pulses the relay for a card in the
// allow set, or a card+PIN paired by pairing whose PIN is in pins, and for
// nothing else.
func gate(ctx context.Context, t testing.TB, events <-chan fallback.Event, door relay.Relay, pairing *fallback.Pairing, pins pinTable, opened chan<- fallback.Event) {
	allow := map[string]bool{allowedCard: true, allowedWiegand: true}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			open := ev.Kind == fallback.KindCard && allow[ev.Card.Key()]
			switch ev.Kind {
			case fallback.KindCard:
				pairing.Card(ev)
			case fallback.KindPIN:
				if c, _, ok := pairing.PIN(ev); ok {
					want, has := pins[c.Key()]
					open = has && subtle.ConstantTimeCompare([]byte(want), []byte(ev.PIN.Reveal())) == 1
				}
			}
			if open {
				if err := relay.Pulse(ctx, door, time.Millisecond); err != nil {
					t.Errorf("pulse: %v", err)
				}
				opened <- ev
			}
		}
	}
}

// pinTable maps a card key to its PIN (the store keeps argon2id hashes;
// this stands in for it in the smallest gate).
type pinTable map[string]string

// relayWatch collects everything written to the relay board.
type relayWatch struct {
	mu  sync.Mutex
	buf []byte
}

func watchRelay(ctx context.Context, port *serialtest.Port, w *relayWatch) {
	b := make([]byte, 256)
	for ctx.Err() == nil {
		n, _ := port.Read(b)
		w.mu.Lock()
		w.buf = append(w.buf, b[:n]...)
		w.mu.Unlock()
	}
}

func (w *relayWatch) opens() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Count(w.buf, []byte{0xA0, 0x01, 0x01, 0xA2})
}

// adversarial returns inputs for a line reader: garbage, near misses and
// valid frames of unknown cards. None is a valid frame of an allowed
// credential (checked by isAllowedFrame).
func adversarial(rng *rand.Rand, wiegand bool) [][]byte {
	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	hexW := fmt.Sprintf("%07X", w)
	out := [][]byte{
		[]byte(strings.Repeat("9", 200) + allowedCard + "\r\n"), // overlong line ending in the card
		[]byte(allowedCard + "x\r\n"), []byte("+" + allowedCard + "\r\n"), []byte(allowedCard + ".0\r\n"),
		[]byte("-" + allowedCard + "\r\n"), []byte(allowedCard[:9] + "\x00" + allowedCard[9:] + "\r\n"),
		[]byte("0x" + allowedCard + "\r\n"), []byte("18446744073709551616" + "\r\n"),
		[]byte(strings.Repeat("\x00", 300)), []byte("\r\n\r\n\r\n"), []byte(strings.Repeat("1", 5000)),
		[]byte("4242424243\r\n"), []byte("4242424241\r\n"), []byte("42424242420\r\n"),
		[]byte(fmt.Sprintf("%07X\r\n", w^1)), []byte(fmt.Sprintf("%07X\r\n", w^(1<<25))),
		[]byte(fmt.Sprintf("%07X\r\n", w^(1<<12))), []byte(hexW[1:] + "\r\n"), []byte("0" + hexW + "\r\n"),
		[]byte(hexW + "0\r\n"), []byte(strings.ToLower(hexW) + "G\r\n"),
		[]byte("2580#"), []byte("777\r\n2581#"), []byte("777\r\n25*80#"), []byte("7\r\n2580#"),
	}
	for range 400 {
		var b []byte
		switch rng.IntN(4) {
		case 0: // random bytes
			b = make([]byte, rng.IntN(64))
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
		case 1: // valid frame, unknown card
			if wiegand {
				raw, _ := fallback.EncodeWiegand(uint32(rng.IntN(256)), uint32(rng.IntN(65536)), 26)
				b = []byte(fmt.Sprintf("%07X\r\n", raw))
			} else {
				b = []byte(fmt.Sprintf("%010d\r\n", rng.Int64N(1e10)))
			}
		case 2: // digits, keys and line endings
			const alphabet = "0123456789*#\r\n"
			b = make([]byte, rng.IntN(40))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		case 3: // hex soup
			b = []byte(fmt.Sprintf("%X\r\n", rng.Uint64()))
		}
		if !isAllowedFrame(b) {
			out = append(out, b)
		}
	}
	return out
}

// isAllowedFrame reports whether b could legitimately carry an allowed
// credential; such random inputs are skipped (they are valid credentials).
func isAllowedFrame(b []byte) bool {
	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	s := strings.ToUpper(string(b))
	return strings.Contains(s, allowedCard) || strings.Contains(s, fmt.Sprintf("%07X", w)) ||
		strings.Contains(s, allowedPINCard) || strings.Contains(s, allowedPIN)
}

// TestNoByteSequenceOpensTheDoor feeds random and adversarial bytes through
// real pty readers (ASCII, Wiegand converter, keypad, and an OSDP reader
// whose peer does not hold the key) into a gate that pulses a relay board
// on a pty only for allowed credentials, and watches the relay line: no
// open command may appear. A final valid card proves the watch works.
func TestNoByteSequenceOpensTheDoor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rng := rand.New(rand.NewPCG(7, 11))

	relayPair := serialtest.New(t)
	lcus, _ := relay.LCUS(1)
	door, err := relay.NewSerial(relay.SerialConfig{Path: relayPair.Device, Commands: lcus})
	if err != nil {
		t.Fatal(err)
	}
	w := &relayWatch{}
	go watchRelay(ctx, relayPair.OpenPeer(100*time.Millisecond), w)

	events := make(chan fallback.Event, 256)
	var readers sync.WaitGroup
	start := func(r interface {
		Run(context.Context, chan<- fallback.Event) error
	}) {
		readers.Add(1)
		go func() { defer readers.Done(); _ = r.Run(ctx, events) }()
	}
	defer readers.Wait()
	defer cancel()

	asciiPair, wiegandPair, padPair, osdpPair := serialtest.New(t), serialtest.New(t), serialtest.New(t), serialtest.New(t)
	ascii, _ := fallback.NewASCIIReader(fallback.SerialConfig{Name: "ascii", Path: asciiPair.Device}, fallback.LineConfig{})
	wieg, _ := fallback.NewWiegandReader(fallback.SerialConfig{Name: "wiegand", Path: wiegandPair.Device}, fallback.WiegandConfig{})
	pad, _ := fallback.NewKeypadReader(fallback.SerialConfig{Name: "pad", Path: padPair.Device}, fallback.KeypadConfig{})
	od, err := osdp.New(osdp.Config{Name: "osdp", Path: osdpPair.Device, Address: 1, SCBK: bytes.Repeat([]byte{0x5A}, 16), ReplyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []interface {
		Run(context.Context, chan<- fallback.Event) error
	}{ascii, wieg, pad, od} {
		start(r)
	}
	pairing := fallback.NewPairing(fallback.PairingConfig{Bind: map[string]string{"pad": "ascii"}})
	pins := pinTable{allowedPINCard: allowedPIN}
	opened := make(chan fallback.Event, 16)
	go gate(ctx, t, events, door, pairing, pins, opened)

	// The OSDP peer answers every command with garbage, plaintext cards
	// with good CRCs (the allowed one too), and secured-looking frames
	// with MACs it cannot know.
	osdpPeer := osdpPair.OpenPeer(100 * time.Millisecond)
	go forgeOSDP(ctx, osdpPeer, rand.New(rand.NewPCG(3, 5)))

	ports := map[string]*serialtest.Port{
		"ascii": asciiPair.OpenPeer(100 * time.Millisecond), "wiegand": wiegandPair.OpenPeer(100 * time.Millisecond),
		"pad": padPair.OpenPeer(100 * time.Millisecond),
	}
	waitFor(t, "readers up", 3*time.Second, func() bool {
		return ascii.Health().Up && wieg.Health().Up && pad.Health().Up
	})
	inputs := map[string][][]byte{"ascii": adversarial(rng, false), "wiegand": adversarial(rng, true), "pad": adversarial(rng, false)}
	total := 0
	for name, list := range inputs {
		for _, b := range list {
			write(t, ports[name], string(b))
			total += len(b)
			// Pace writes so the tty buffers never overflow.
			if total%2048 < len(b) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // let the readers drain
	if n := w.opens(); n != 0 {
		t.Fatalf("relay got %d open commands from %d adversarial bytes", n, total)
	}
	select {
	case ev := <-opened:
		t.Fatalf("gate opened for %v", ev)
	default:
	}
	if h := od.Health(); h.Up || h.Frames != 0 {
		t.Errorf("OSDP reader with a forging peer: %+v, want down with no frames", h)
	}
	t.Logf("%d adversarial bytes, %d frames dropped, no open", total,
		ascii.Health().Dropped+wieg.Health().Dropped+pad.Health().Dropped+od.Health().Dropped)

	// Positive control: the allowed card opens exactly once.
	write(t, ports["ascii"], allowedCard+"\r\n")
	select {
	case <-opened:
	case <-time.After(2 * time.Second):
		t.Fatal("allowed card did not open")
	}
	waitFor(t, "open command on the relay line", 2*time.Second, func() bool { return w.opens() == 1 })
}

// forgeOSDP plays a reader that does not know the key.
func forgeOSDP(ctx context.Context, port *serialtest.Port, rng *rand.Rand) {
	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	buf := make([]byte, 512)
	var rx []byte
	for ctx.Err() == nil {
		n, _ := port.Read(buf)
		rx = append(rx, buf[:n]...)
		pkt, k, err := osdp.Frame(rx)
		rx = rx[k:]
		if err != nil {
			continue
		}
		cmd, err := osdp.Decode(pkt)
		if err != nil {
			continue
		}
		var reply []byte
		switch rng.IntN(5) {
		case 0: // plaintext RAW of the allowed card, valid CRC, right sequence
			reply, _ = osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyRaw, Data: osdp.EncodeRaw(0, 1, w, 26)}, nil)
		case 1: // "secured" RAW with a made-up MAC
			reply, _ = osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, SCB: []byte{2, osdp.SCS16}, Code: osdp.ReplyRaw, Data: osdp.EncodeRaw(0, 1, w, 26)},
				func([]byte) []byte {
					m := make([]byte, 16)
					_, _ = rand.NewChaCha8([32]byte{byte(rng.IntN(256))}).Read(m)
					return m
				})
		case 2: // a CCRYPT with a random cryptogram
			d := make([]byte, 32)
			for i := range d {
				d[i] = byte(rng.UintN(256))
			}
			reply, _ = osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, SCB: []byte{3, osdp.SCS12, 1}, Code: osdp.ReplyCCrypt, Data: d}, nil)
		case 3: // plaintext KEYPAD with a PIN
			reply, _ = osdp.Encode(osdp.Packet{Addr: cmd.Addr, Reply: true, Seq: cmd.Seq, CRC: true, Code: osdp.ReplyKeypad, Data: []byte{0, 5, '2', '5', '8', '0', 0x0D}}, nil)
		case 4: // noise
			reply = make([]byte, rng.IntN(40))
			for i := range reply {
				reply[i] = byte(rng.UintN(256))
			}
		}
		_, _ = port.Write(reply)
	}
}

// BenchmarkCardToRelay measures the latency from a card frame written to a
// reader's pty to the open command read from the relay board's pty, through
// the reader, a gate loop and the LCUS relay driver. It reports the median
// and 99th percentile (µs) over b.N cards (run with -benchtime=200x).
func BenchmarkCardToRelay(b *testing.B) {
	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	cases := []struct {
		name  string
		frame string
		mk    func(path string) (*fallback.SerialReader, error)
	}{
		{"ascii", allowedCard + "\r\n", func(p string) (*fallback.SerialReader, error) {
			return fallback.NewASCIIReader(fallback.SerialConfig{Name: "r", Path: p}, fallback.LineConfig{})
		}},
		{"wiegand26", fmt.Sprintf("%07X\r\n", w), func(p string) (*fallback.SerialReader, error) {
			return fallback.NewWiegandReader(fallback.SerialConfig{Name: "r", Path: p}, fallback.WiegandConfig{})
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			relayPair, readerPair := serialtest.New(b), serialtest.New(b)
			lcus, _ := relay.LCUS(1)
			door, _ := relay.NewSerial(relay.SerialConfig{Path: relayPair.Device, Commands: lcus})
			relayPeer := relayPair.OpenPeer(100 * time.Millisecond)
			r, err := c.mk(readerPair.Device)
			if err != nil {
				b.Fatal(err)
			}
			events := make(chan fallback.Event, 16)
			done := make(chan struct{})
			go func() { _ = r.Run(ctx, events); close(done) }()
			defer func() { cancel(); <-done }()
			go gate(ctx, b, events, door, fallback.NewPairing(fallback.PairingConfig{}), pinTable{}, make(chan fallback.Event, 1<<16))
			readerPeer := readerPair.OpenPeer(100 * time.Millisecond)
			waitFor(b, "reader up", 3*time.Second, func() bool { return r.Health().Up })
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				write(b, readerPeer, c.frame)
				got, err := relayPeer.ReadFull(4, 2*time.Second)
				lat = append(lat, time.Since(t0))
				if err != nil || !bytes.Equal(got, lcus.On) {
					b.Fatalf("relay got % X, %v", got, err)
				}
				if _, err := relayPeer.ReadFull(4, 2*time.Second); err != nil { // the lock
					b.Fatal(err)
				}
			}
			reportLatency(b, lat)
		})
	}
	b.Run("osdp-secure", benchOSDP)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	b.ReportMetric(float64(s[len(s)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(s[len(s)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(s[len(s)-1].Microseconds()), "max-µs")
}

// benchOSDP measures an OSDP reader over the secure channel, with a Go
// peer that answers each poll at once (the peer's own latency is not ours
// to measure): from the sealed RAW reply written to the pty to the relay
// command. The poll interval bounds the time until the reader is asked.
func benchOSDP(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayPair, pair := serialtest.New(b), serialtest.New(b)
	lcus, _ := relay.LCUS(1)
	door, _ := relay.NewSerial(relay.SerialConfig{Path: relayPair.Device, Commands: lcus})
	relayPeer := relayPair.OpenPeer(100 * time.Millisecond)
	key := bytes.Repeat([]byte{0x11}, 16)
	r, err := osdp.New(osdp.Config{Name: "r", Path: pair.Device, Address: 1, SCBK: key})
	if err != nil {
		b.Fatal(err)
	}
	events := make(chan fallback.Event, 16)
	done := make(chan struct{})
	go func() { _ = r.Run(ctx, events); close(done) }()
	defer func() { cancel(); <-done }()
	go gate(ctx, b, events, door, fallback.NewPairing(fallback.PairingConfig{}), pinTable{}, make(chan fallback.Event, 1<<16))

	w, _ := fallback.EncodeWiegand(1, 4242, 26)
	peer := osdptest.Start(b, pair.OpenPeer(100*time.Millisecond), key)
	waitFor(b, "osdp up", 3*time.Second, func() bool { return r.Health().Up })
	var lat []time.Duration
	for b.Loop() {
		sent := peer.Card(osdp.EncodeRaw(0, 1, w, 26))
		got, err := relayPeer.ReadFull(4, 2*time.Second)
		t1 := time.Now()
		if err != nil || !bytes.Equal(got, lcus.On) {
			b.Fatalf("relay got % X, %v", got, err)
		}
		lat = append(lat, t1.Sub(<-sent))
		if _, err := relayPeer.ReadFull(4, 2*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	reportLatency(b, lat)
}
