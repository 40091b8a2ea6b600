package osdp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
)

// Errors callers branch on.
var (
	// ErrOffline: the reader is not answering (or not secured) now.
	ErrOffline = errors.New("osdp: reader offline")
	// ErrNAK: the reader refused a command.
	ErrNAK = errors.New("osdp: reader answered NAK")
	// ErrKey: the secure channel could not be set up with any key tried.
	ErrKey = errors.New("osdp: secure channel key rejected")
	// ErrTimeout: no reply within the reply timeout.
	ErrTimeout = errors.New("osdp: reply timeout")
)

// Config configures a Reader.
type Config struct {
	Name    string // the reader's name in events, health and logs
	Path    string // serial device of the RS-485 adapter
	Baud    int    // 9600 when 0
	Address byte   // the reader's OSDP address, 0-126
	// Open opens Path; fallback.SerialOpener(Baud) when nil.
	Open fallback.Opener

	// SCBK is the reader's own secure channel base key (16 bytes), nil
	// until the reader is paired.
	SCBK []byte
	// Install allows the default install key SCBK-D, to pair a reader in
	// install mode: the CP sets up the secure channel with SCBK-D, sends a
	// fresh random key with KEYSET and uses only that key from then on.
	Install bool
	// SaveKey persists a new per-reader key. It is called before KEYSET
	// is sent, so a key the reader may hold is never lost. Required with
	// Install.
	SaveKey func(key []byte) error
	// Insecure speaks plain OSDP without a secure channel: anyone on the
	// wire can forge cards. Only for readers that cannot do better.
	Insecure bool

	PollInterval  time.Duration // between polls; 50 ms when 0
	ReplyTimeout  time.Duration // 200 ms when 0 (OSDP's default)
	OfflineAfter  int           // missed replies before Down; 3 when 0
	RetryInterval time.Duration // between attempts to reach an offline reader; 500 ms when 0

	// Keypad: PIN entry from KEYPAD replies (see fallback.PINEntry).
	InterKey  time.Duration
	MaxDigits int

	Backoff fallback.Backoff
	Rand    io.Reader // crypto/rand when nil (tests make it deterministic)
	Logger  *slog.Logger
	Now     func() time.Time
	// Trace, when set, sees every packet sent (tx) and received, whole and
	// as on the wire. Tests record traffic with it.
	Trace func(tx bool, pkt []byte)
}

// Reader polls one OSDP reader as the control panel.
type Reader struct {
	cfg    Config
	health *fallback.Tracker
	log    *slog.Logger
	reqs   chan *request

	mu      sync.Mutex
	scbk    []byte
	id      PDID
	secured bool
}

type request struct {
	code byte
	data []byte
	done chan error
}

// New checks cfg and returns a Reader; Run starts it.
func New(cfg Config) (*Reader, error) {
	switch {
	case cfg.Name == "" || cfg.Path == "":
		return nil, fmt.Errorf("%w: osdp reader needs a name and a path", fallback.ErrConfig)
	case cfg.Address >= Broadcast:
		return nil, fmt.Errorf("%w: osdp address %d: use 0-126", fallback.ErrConfig, cfg.Address)
	case cfg.SCBK != nil && len(cfg.SCBK) != 16:
		return nil, fmt.Errorf("%w: osdp SCBK must be 16 bytes", fallback.ErrConfig)
	case !cfg.Insecure && cfg.SCBK == nil && !cfg.Install:
		return nil, fmt.Errorf("%w: osdp reader %s has no key: set its SCBK, or Install to pair it", fallback.ErrConfig, cfg.Name)
	case cfg.Install && cfg.SaveKey == nil:
		return nil, fmt.Errorf("%w: osdp install mode needs SaveKey to keep the new reader key", fallback.ErrConfig)
	case cfg.Insecure && (cfg.Install || cfg.SCBK != nil):
		return nil, fmt.Errorf("%w: osdp Insecure excludes keys", fallback.ErrConfig)
	}
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	if cfg.Open == nil {
		cfg.Open = fallback.SerialOpener(cfg.Baud)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = 200 * time.Millisecond
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 3
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reader{
		cfg:    cfg,
		health: fallback.NewTracker(cfg.Name, cfg.Now()),
		log:    log.With("reader", cfg.Name, "osdp_addr", cfg.Address),
		reqs:   make(chan *request),
		scbk:   append([]byte(nil), cfg.SCBK...),
	}, nil
}

// Name returns the reader's configured name.
func (r *Reader) Name() string { return r.cfg.Name }

// Health returns the reader's health: Up while it answers polls over an
// established secure channel (or plain OSDP when Insecure).
func (r *Reader) Health() fallback.Health { return r.health.Health() }

// ID returns the reader's identification once it has answered osdp_ID.
func (r *Reader) ID() (PDID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id, r.id != PDID{}
}

// Secured reports whether the secure channel is up.
func (r *Reader) Secured() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.secured
}

// LED sets the reader's LED (osdp_LED); nil on ACK.
func (r *Reader) LED(ctx context.Context, l LED) error { return r.do(ctx, CmdLED, encodeLED(l)) }

// Buzz sounds the reader's buzzer (osdp_BUZ); nil on ACK.
func (r *Reader) Buzz(ctx context.Context, b Buzz) error { return r.do(ctx, CmdBuz, encodeBuz(b)) }

func (r *Reader) do(ctx context.Context, code byte, data []byte) error {
	if !r.health.Health().Up {
		return fmt.Errorf("%s: %w", r.cfg.Name, ErrOffline)
	}
	req := &request{code: code, data: data, done: make(chan error, 1)}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run polls the reader until ctx is done, reopening the line with backoff
// when it fails. It returns ctx's error.
func (r *Reader) Run(ctx context.Context, events chan<- fallback.Event) error {
	var wait time.Duration
	for {
		err := r.connect(ctx, events)
		r.setSecured(false)
		r.health.Down(r.cfg.Now(), err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("line lost", "err", err)
		wait = r.cfg.Backoff.Next(wait)
		if !fallback.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

func (r *Reader) setSecured(v bool) {
	r.mu.Lock()
	r.secured = v
	r.mu.Unlock()
}

// connect runs one open of the line.
func (r *Reader) connect(ctx context.Context, events chan<- fallback.Event) error {
	port, err := r.cfg.Open(r.cfg.Path)
	if err != nil {
		return err
	}
	defer port.Close()
	l := &link{r: r, port: port, events: events, pin: fallback.PINEntry{InterKey: r.cfg.InterKey, MaxDigits: r.cfg.MaxDigits}}
	if st, err := os.Stat(r.cfg.Path); err == nil {
		l.st0 = st
	}
	return l.run(ctx)
}

// link is one open line to the reader; only Run's goroutine uses it.
type link struct {
	r      *Reader
	port   io.ReadWriteCloser
	events chan<- fallback.Event
	rx     []byte
	seq    byte
	sess   *Session
	pin    fallback.PINEntry

	st0      os.FileInfo
	lastStat time.Time
	fastEOF  int
	logLim   time.Time
}

// errResync: the reader needs the link set up again (sequence or secure
// channel lost).
var errResync = errors.New("osdp: link needs resync")

func (l *link) run(ctx context.Context) error {
	r := l.r
	misses := 0
	ready := false
	lastPoll := time.Time{}
	for ctx.Err() == nil {
		if !ready {
			err := l.establish(ctx)
			if err != nil {
				if errors.Is(err, fallback.ErrGone) || ctx.Err() != nil {
					return err
				}
				misses++
				if misses >= r.cfg.OfflineAfter {
					r.health.Down(r.cfg.Now(), err)
					r.setSecured(false)
					fallback.Sleep(ctx, r.cfg.RetryInterval)
				}
				continue
			}
			ready, misses = true, 0
			r.setSecured(l.sess != nil)
			r.health.Up(r.cfg.Now())
			r.log.Info("reader online", "secure", l.sess != nil)
		}

		// Wait for the next poll, taking a queued command first.
		var req *request
		if d := r.cfg.PollInterval - time.Since(lastPoll); d > 0 {
			t := time.NewTimer(d)
			select {
			case req = <-r.reqs:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		} else {
			select {
			case req = <-r.reqs:
			default:
			}
		}
		if ctx.Err() != nil {
			break
		}
		code, data := byte(CmdPoll), []byte(nil)
		if req != nil {
			code, data = req.code, req.data
		}
		lastPoll = time.Now()
		reply, err := l.transact(ctx, code, data, nil)
		if err == nil {
			err = l.handle(reply, req != nil)
		}
		if req != nil {
			req.done <- err
		}
		l.tick()
		if err == nil || errors.Is(err, ErrNAK) && req != nil {
			misses = 0
			continue
		}
		if errors.Is(err, fallback.ErrGone) {
			return err
		}
		misses++
		// Under the secure channel a missed or bad reply breaks the MAC
		// chain: set the channel up again (from sequence 0).
		if l.sess != nil || errors.Is(err, errResync) {
			ready = false
			l.sess = nil
		}
		if misses >= r.cfg.OfflineAfter {
			r.health.Down(r.cfg.Now(), err)
			r.setSecured(false)
			ready = false
			l.sess = nil
		}
		if l.logAllowed() {
			r.log.Warn("reply missed", "err", err, "misses", misses)
		}
	}
	return ctx.Err()
}

func (l *link) logAllowed() bool {
	now := time.Now()
	if now.Sub(l.logLim) < 10*time.Second {
		return false
	}
	l.logLim = now
	return true
}

// tick expires a half-entered PIN.
func (l *link) tick() {
	now := l.r.cfg.Now()
	if l.pin.Expire(now) {
		l.emit(fallback.Event{Time: now, Kind: fallback.KindKey, Digits: 0})
	}
}

func (l *link) emit(ev fallback.Event) {
	ev.Reader = l.r.cfg.Name
	if ev.Kind != fallback.KindKey {
		l.r.health.Frame()
	}
	select {
	case l.events <- ev:
	case <-time.After(time.Second):
		// The daemon is not reading: drop rather than stop polling (a
		// stalled poll loop would take the reader offline).
		l.r.health.Drop()
	}
}

// establish brings the reader up from sequence 0: ID, CAP, then the secure
// channel (pairing it first if needed).
func (l *link) establish(ctx context.Context) error {
	l.seq, l.sess, l.rx = 0, nil, l.rx[:0]
	p, err := l.transact(ctx, CmdID, []byte{0}, nil)
	if err != nil {
		return fmt.Errorf("osdp: ID: %w", err)
	}
	if p.Code == ReplyPDID {
		if id, err := DecodePDID(p.Data); err == nil {
			l.r.mu.Lock()
			l.r.id = id
			l.r.mu.Unlock()
		}
	}
	p, err = l.transact(ctx, CmdCap, []byte{0}, nil)
	if err != nil {
		return fmt.Errorf("osdp: CAP: %w", err)
	}
	var caps []Capability
	if p.Code == ReplyPDCap {
		caps, _ = DecodePDCap(p.Data)
	}
	if l.r.cfg.Insecure {
		return nil
	}
	if len(caps) > 0 && !canSecure(caps) {
		return fmt.Errorf("%w: the reader reports no secure channel support", ErrKey)
	}
	return l.secure(ctx)
}

// secure sets up the secure channel: with the reader's own key, else (in
// install mode) with SCBK-D followed by KEYSET of a new key.
func (l *link) secure(ctx context.Context) error {
	r := l.r
	r.mu.Lock()
	key := append([]byte(nil), r.scbk...)
	r.mu.Unlock()
	var keyErr error
	if key != nil {
		keyErr = l.handshake(ctx, key, 1)
		if keyErr == nil || !r.cfg.Install || !errors.Is(keyErr, ErrKey) {
			return keyErr
		}
	}
	if !r.cfg.Install {
		return fmt.Errorf("%w: reader not paired and install mode off", ErrKey)
	}
	if err := l.handshake(ctx, SCBKD[:], 0); err != nil {
		return errors.Join(keyErr, err)
	}
	return l.pair(ctx)
}

// pair replaces SCBK-D by a fresh per-reader key.
func (l *link) pair(ctx context.Context) error {
	r := l.r
	key := make([]byte, 16)
	if _, err := io.ReadFull(r.cfg.Rand, key); err != nil {
		return fmt.Errorf("osdp: new key: %w", err)
	}
	if err := r.cfg.SaveKey(key); err != nil {
		return fmt.Errorf("osdp: save new key: %w", err)
	}
	p, err := l.transact(ctx, CmdKeySet, encodeKeySet(key), nil)
	if err != nil {
		return fmt.Errorf("osdp: KEYSET: %w", err)
	}
	if p.Code != ReplyACK {
		return fmt.Errorf("osdp: KEYSET: %w (reply %#02x)", ErrNAK, p.Code)
	}
	r.mu.Lock()
	r.scbk = key
	r.mu.Unlock()
	r.log.Info("reader paired with its own key")
	// The reader drops the session after KEYSET; start one on the new key.
	l.sess = nil
	return l.handshake(ctx, key, 1)
}

// handshake runs CHLNG/CCRYPT, SCRYPT/RMAC_I with key (keyType 0 for
// SCBK-D, 1 for the reader's key).
func (l *link) handshake(ctx context.Context, key []byte, keyType byte) error {
	l.sess = nil
	var rndA [8]byte
	if _, err := io.ReadFull(l.r.cfg.Rand, rndA[:]); err != nil {
		return fmt.Errorf("osdp: random: %w", err)
	}
	p, err := l.transact(ctx, CmdChlng, rndA[:], []byte{3, SCS11, keyType})
	if err != nil {
		return fmt.Errorf("osdp: CHLNG: %w", err)
	}
	if p.Code != ReplyCCrypt || p.SCBType() != SCS12 || len(p.Data) != 32 {
		return fmt.Errorf("%w: CHLNG answered %#02x", ErrKey, p.Code)
	}
	sess, err := NewSession(key, rndA)
	if err != nil {
		return err
	}
	var rndB [8]byte
	copy(rndB[:], p.Data[8:16])
	if !sess.VerifyClientCryptogram(rndB, p.Data[16:32]) {
		return fmt.Errorf("%w: reader's cryptogram does not match (key type %d)", ErrKey, keyType)
	}
	sc := sess.ServerCryptogram()
	p, err = l.transact(ctx, CmdSCrypt, sc[:], []byte{3, SCS13, keyType})
	if err != nil {
		return fmt.Errorf("osdp: SCRYPT: %w", err)
	}
	if p.Code != ReplyRMACI || p.SCBType() != SCS14 || len(p.SCB) < 3 || p.SCB[2] != 1 || len(p.Data) != 16 {
		return fmt.Errorf("%w: SCRYPT answered %#02x", ErrKey, p.Code)
	}
	if !sess.Activate(p.Data) {
		return fmt.Errorf("%w: initial R-MAC does not match", ErrKey)
	}
	l.sess = sess
	return nil
}

// canSecure reports whether PDCAP lists communication security.
func canSecure(caps []Capability) bool {
	for _, c := range caps {
		if c.Function == capCommSecurity && c.Compliance >= 1 {
			return true
		}
	}
	return false
}

// handle turns a reply into events; for a command it reports ACK or NAK.
func (l *link) handle(p Packet, isReq bool) error {
	now := l.r.cfg.Now()
	switch p.Code {
	case ReplyACK, ReplyLStatR:
		return nil
	case ReplyNAK:
		code := byte(0)
		if len(p.Data) > 0 {
			code = p.Data[0]
		}
		if code == NAKSequence || code == NAKSCCond || code == NAKSCUnsup {
			return fmt.Errorf("%w: %w (code %d)", errResync, ErrNAK, code)
		}
		if isReq {
			return fmt.Errorf("%w (code %d)", ErrNAK, code)
		}
		return nil
	case ReplyBusy:
		return nil
	case ReplyRaw, ReplyFmt:
		var card fallback.Card
		var err error
		if p.Code == ReplyRaw {
			_, card, err = DecodeRaw(p.Data)
		} else {
			_, card, err = DecodeFmt(p.Data)
		}
		if err != nil {
			l.drop(err)
			return nil
		}
		l.emit(fallback.Event{Time: now, Kind: fallback.KindCard, Card: card})
	case ReplyKeypad:
		_, keys, err := DecodeKeypad(p.Data)
		if err != nil {
			l.drop(err)
			return nil
		}
		for _, k := range keys {
			switch step, pin := l.pin.Key(k, now); step {
			case fallback.StepDigit, fallback.StepCleared:
				l.emit(fallback.Event{Time: now, Kind: fallback.KindKey, Digits: l.pin.Len()})
			case fallback.StepSubmitted:
				l.emit(fallback.Event{Time: now, Kind: fallback.KindPIN, PIN: pin})
			case fallback.StepCode:
				l.emit(fallback.Event{Time: now, Kind: fallback.KindCode, PIN: pin})
			}
		}
	}
	return nil
}

func (l *link) drop(err error) {
	l.r.health.Drop()
	if l.logAllowed() {
		l.r.log.Warn("reply dropped", "err", err)
	}
}

// transact sends one command and returns the reader's reply. scb, when
// set, sends the command in the clear with that security block (the
// handshake); otherwise the command is sealed when a session is up.
func (l *link) transact(ctx context.Context, code byte, data, scb []byte) (Packet, error) {
	p := Packet{Addr: l.r.cfg.Address, Seq: l.seq, CRC: true, Code: code, Data: data, SCB: scb}
	var b []byte
	var err error
	if l.sess != nil && scb == nil {
		b, err = l.sess.SealCommand(p)
	} else {
		b, err = Encode(p, nil)
	}
	if err != nil {
		return Packet{}, err
	}
	l.rx = l.rx[:0] // whatever came before belongs to no command of ours
	if l.r.cfg.Trace != nil {
		l.r.cfg.Trace(true, b)
	}
	if _, err := l.port.Write(b); err != nil {
		return Packet{}, fmt.Errorf("%w: write: %v", fallback.ErrGone, err)
	}
	reply, err := l.readReply(ctx, p.Seq)
	if err != nil {
		return Packet{}, err
	}
	l.seq = l.seq%3 + 1
	return reply, nil
}

// readReply waits for our reader's reply with sequence seq.
func (l *link) readReply(ctx context.Context, seq byte) (Packet, error) {
	deadline := time.Now().Add(l.r.cfg.ReplyTimeout)
	buf := make([]byte, 256)
	for {
		for len(l.rx) > 0 {
			pkt, n, err := Frame(l.rx)
			if errors.Is(err, ErrShort) {
				l.rx = append(l.rx[:0], l.rx[n:]...)
				break
			}
			if err != nil {
				l.rx = append(l.rx[:0], l.rx[n:]...)
				l.drop(err)
				continue
			}
			raw := append([]byte(nil), pkt...)
			l.rx = append(l.rx[:0], l.rx[n:]...)
			if l.r.cfg.Trace != nil {
				l.r.cfg.Trace(false, raw)
			}
			p, err := Decode(raw)
			if err != nil {
				l.drop(err)
				continue
			}
			if !p.Reply || p.Addr != l.r.cfg.Address && p.Addr != Broadcast {
				continue // our own echo on a 2-wire bus, or another reader
			}
			if p.Seq != seq {
				l.drop(fmt.Errorf("%w: sequence %d, want %d", ErrPacket, p.Seq, seq))
				continue
			}
			return l.unseal(raw, p)
		}
		if ctx.Err() != nil {
			return Packet{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return Packet{}, ErrTimeout
		}
		if err := l.fill(buf); err != nil {
			return Packet{}, err
		}
	}
}

// unseal applies the secure channel rules to a reply.
func (l *link) unseal(raw []byte, p Packet) (Packet, error) {
	t := p.SCBType()
	if l.sess == nil {
		if hasMAC(t) {
			return Packet{}, fmt.Errorf("%w: secured reply without a session", errResync)
		}
		if t == 0 && !l.r.cfg.Insecure && carriesCredential(p.Code) {
			// A reader that should be secured answered in the clear:
			// never take a card or key from it.
			l.drop(fmt.Errorf("%w: credential reply %#02x in the clear", ErrMAC, p.Code))
			return Packet{Code: ReplyACK}, nil
		}
		return p, nil
	}
	if t == 0 {
		// The reader dropped the session; a plain NAK says so.
		if p.Code == ReplyNAK {
			return Packet{}, fmt.Errorf("%w: plaintext NAK under secure channel", errResync)
		}
		l.r.health.Drop()
		return Packet{}, fmt.Errorf("%w: plaintext reply %#02x under secure channel", ErrMAC, p.Code)
	}
	q, err := l.sess.OpenReply(raw, p)
	if err != nil {
		l.r.health.Drop()
		return Packet{}, err
	}
	return q, nil
}

func carriesCredential(code byte) bool {
	return code == ReplyRaw || code == ReplyFmt || code == ReplyKeypad
}

// Hangup detection, as in package fallback.
const (
	fastEOF      = 20 * time.Millisecond
	idleHangup   = 3
	statInterval = 250 * time.Millisecond
)

// fill reads what arrives within the port's read timeout into l.rx.
func (l *link) fill(buf []byte) error {
	t0 := time.Now()
	n, err := l.port.Read(buf)
	l.rx = append(l.rx, buf[:n]...)
	if len(l.rx) > 4*MaxPacket {
		l.rx = l.rx[len(l.rx)-MaxPacket:]
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", fallback.ErrGone, err)
	}
	if n == 0 && time.Since(t0) < fastEOF {
		if l.fastEOF++; l.fastEOF >= idleHangup {
			return fmt.Errorf("%w: %s hung up", fallback.ErrGone, l.r.cfg.Path)
		}
	} else {
		l.fastEOF = 0
	}
	if l.st0 != nil && time.Since(l.lastStat) >= statInterval {
		l.lastStat = time.Now()
		st, err := os.Stat(l.r.cfg.Path)
		if err != nil || !os.SameFile(l.st0, st) {
			return fmt.Errorf("%w: %s removed or replaced", fallback.ErrGone, l.r.cfg.Path)
		}
	}
	return nil
}
