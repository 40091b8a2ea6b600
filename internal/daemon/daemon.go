// Package daemon runs a gate: it locks the door, opens the encrypted store
// (or, when the store is damaged, serves card and PIN read-only from the
// newest backup that verifies), loads the face data, starts the camera
// pipeline, the card readers and the resident screen, and serves the staff
// API on the control socket, until its context ends.
//
// It is wiring only: the rules live in the packages it wires (gate decides
// and owns the lock-out, faces owns face data, store keeps, staffapi
// answers staff, kiosk runs the resident screen, door locks first). A
// reader event goes reader → lane → (kiosk, for the screen's own reader) →
// gate → store and door, never back up into the daemon. It never listens on
// a network address, never connects anywhere, and never writes outside the
// configured data directory.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/compound"
	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/door"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/nir"
	"github.com/gated-dev/gated/internal/readers"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/recognizer/livenessnet"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/staffapi"
	"github.com/gated-dev/gated/internal/store"
)

// Options configure Run.
type Options struct {
	Config  *config.Config
	Log     *slog.Logger
	Version string
	// Getenv reads NOTIFY_SOCKET and WATCHDOG_USEC (systemd); os.Getenv
	// when nil.
	Getenv func(string) string
	// Ready, when set, is called once the gate is up and serving.
	Ready func()
}

// The daemon's files in the data directory (besides the store's own
// temporary files next to dbFile and its backups in backupDir).
const (
	dbFile      = "gated.db"
	journalFile = "audit-degraded.jsonl"
	backupDir   = "backups"
)

// errRestart asks Run to start the gate again (after a restore was staged).
var errRestart = errors.New("daemon: restart requested")

// Run runs the gate until ctx ends. It returns nil on a clean shutdown.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	for {
		err := runOnce(ctx, o)
		if errors.Is(err, errRestart) {
			o.Log.Info("daemon: starting again to apply the restored store")
			continue
		}
		if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
			return nil
		}
		return err
	}
}

// daemon is one run of the gate.
type daemon struct {
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	started time.Time
	dataDir string

	door     *door.Door
	inputs   *door.Inputs   // the door's contact, exit button, tamper, alarm output (doorio.go)
	kek      store.KEK      // guarded by mu after start: key() and setKEK
	db       *store.DB      // the store, or a backup opened read-only
	st       auditedStore   // db, with audit entries to the journal while degraded
	degraded string         // why the store is served read-only ("" when healthy)
	journal  *store.Journal // while degraded
	rec      *facemodel.Source
	pad      *livenessnet.Net // presentation-attack detection; nil without face.liveness
	nir      nirState         // the NIR camera pair's check ([camera.nir])
	faces    *faces.Set
	gate     *gate.Gate
	kiosk    *kiosk.Kiosk
	readers  []reader
	restart  context.CancelCauseFunc
	cal      *retention.Calendar
	cam      camState

	heartbeat atomic.Int64 // unix nanoseconds of the health loop's last round

	changed chan struct{} // staff changed residents or credentials: back up soon
	api     *staffapi.Server
	comp    *compound.Service // the compound's inbox and outbox (compound.go)

	mu     sync.Mutex
	alarms map[string]string // kind -> sentence, standing alarms besides the readers'
}

func runOnce(parent context.Context, o Options) (err error) {
	cfg := o.Config
	d := &daemon{opts: o, cfg: cfg, log: o.Log, started: time.Now(), dataDir: cfg.Device.DataDir, alarms: map[string]string{}, changed: make(chan struct{}, 1)}

	// The door first: a previous run may have died with it open.
	d.door, err = door.Open(cfg.Relay, d.log)
	var nl *door.NotLockedError
	switch {
	case errors.As(err, &nl):
		d.alarm("door", "the door is not confirmed locked: "+nl.Error())
	case err != nil:
		return fmt.Errorf("daemon: %w", err)
	}
	defer func() {
		if cerr := d.door.Close(); cerr != nil {
			d.log.Error("daemon: DOOR NOT CONFIRMED LOCKED at shutdown", "err", cerr)
			err = errors.Join(err, cerr)
		}
	}()

	d.openDoorInputs()
	defer d.closeDoorInputs()

	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return fmt.Errorf("daemon: data directory: %w", err)
	}
	var weak *store.WeakKeyError
	if d.kek, weak, err = loadKEK(cfg); err != nil {
		return err
	}
	if weak != nil {
		d.alarm("key-weak", weak.Error())
	}
	d.log.Info("daemon: device key loaded", "kek", d.kek.Fingerprint())
	if d.cal, err = retention.LoadCalendar(cfg.Privacy.Holidays, cfg.Privacy.TimeZone); err != nil {
		// Card and PIN must not wait for a calendar: Monday to Friday, but
		// still in the configured zone, which time profiles are read in
		// (the system's zone would shift every window by its offset).
		loc, zerr := time.LoadLocation(cfg.Privacy.TimeZone) // "" is UTC; checked by config
		if zerr != nil || cfg.Privacy.TimeZone == "" {
			loc = time.Local
		}
		d.alarm("calendar", fmt.Sprintf("privacy.holidays cannot be read (%v): deletion deadlines are counted and \"workdays\" time profiles hold Monday to Friday, holidays included, until it is fixed", err))
		d.cal = retention.Weekdays(loc)
	}
	if err := d.openStore(); err != nil {
		return err
	}
	defer d.closeStore()
	d.auditAlarms() // those raised before the store was open

	faceOn, err := d.openFaces()
	if d.rec != nil {
		defer d.rec.Close()
	}
	if d.pad != nil {
		defer d.pad.Close()
	}
	if d.nir.chk != nil {
		defer d.nir.chk.Close()
	}
	if err != nil {
		return err
	}
	if err := d.newGate(faceOn); err != nil {
		return err
	}
	if d.readers, err = readers.Open(cfg.Readers, d.db, d.log); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if cfg.Kiosk.Enabled && faceOn {
		d.kiosk = d.newKiosk()
	}
	l, srv, err := d.serveControl()
	if err != nil {
		return err
	}

	return d.serve(parent, l, srv, faceOn)
}

// openFaces loads the face model and the face data. A missing or damaged
// model turns face off, never card and PIN; faces stay off while the store
// is served from a backup.
func (d *daemon) openFaces() (faceOn bool, err error) {
	cfg := d.cfg
	faceOn = cfg.Face.Enabled && d.degraded == ""
	if faceOn {
		if d.rec, err = openRecognizer(cfg); err != nil {
			d.alarm("models", fmt.Sprintf("face recognition is off: %v (card and PIN work; fix the model files: gated-fetch-models, or the gated-models package)", err))
			faceOn, d.rec = false, nil
		} else {
			d.log.Info("daemon: face model loaded", "model", d.rec.Model, "detector", d.rec.Detector.String(), "configured", cfg.Face.Detector)
		}
	}
	if faceOn && cfg.Face.Challenge && d.rec.Detector != recognizer.DetectorYuNet {
		// "auto" without the yunet model: no landmarks to challenge with,
		// so every face would be refused.
		d.alarm("models", fmt.Sprintf("the head-turn challenge (face.challenge) needs the yunet detector, and %s was loaded: every face will be refused as unchallengeable (card and PIN work; install the yunet model: scripts/fetch-face-model.sh)", d.rec.Detector))
	}
	if faceOn && cfg.Face.Liveness != "" {
		// Configured and missing is not "no PAD": face stays off.
		if d.pad, err = livenessnet.Load(cfg.Device.ModelsDir); err != nil {
			d.alarm("models", fmt.Sprintf("face recognition is off: presentation-attack detection (face.liveness) could not load: %v (card and PIN work)", err))
			faceOn, d.pad = false, nil
		} else {
			d.log.Info("daemon: presentation-attack detection loaded", "layer", cfg.Face.Liveness)
		}
	}
	if faceOn && cfg.Camera.NIR.On() {
		faceOn = d.openNIR()
	}
	fc := faces.Config{Retention: cfg.Privacy.Retention.Duration, Log: d.log, Apply: d.applyFace,
		Settings: calibrate.Settings{Calibrate: cfg.Face.Calibrate, Target: cfg.Face.Target, CardAlone: cfg.Access.Card == "card",
			Fixed:     match.Policy{Threshold: float32(cfg.Face.Threshold), MinMargin: float32(cfg.Face.Margin)},
			Config:    calibrate.Config{Fuse: cfg.Face.Frames, BPCER: liveness.BPCER(cfg.Face.Liveness)},
			Unguarded: cfg.Face.Unguarded(), Warning: cfg.Face.UnguardedByChoice()}}
	if faceOn {
		fc.Model, fc.Dim = d.rec.Model, d.rec.Dim
	}
	if d.faces, err = faces.Open(fc, d.db); err != nil {
		return faceOn, fmt.Errorf("daemon: %w", err)
	}
	return faceOn, nil
}

// serve runs the gate's goroutines until parent ends or a restore asks for
// a restart; each has its owner here and stops with the context.
func (d *daemon) serve(parent context.Context, l net.Listener, srv *http.Server, faceOn bool) error {
	ctx, restart := context.WithCancelCause(parent)
	defer restart(nil)
	d.restart = restart
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.gate.Run(gctx) })
	d.startReaders(gctx, g)
	g.Go(func() error { return d.healthLoop(gctx) })
	g.Go(func() error { return d.doorLoop(gctx) })
	g.Go(func() error { return d.maintain(gctx) })
	if d.degraded == "" {
		g.Go(func() error { return d.comp.Run(gctx) })
	}
	if faceOn {
		g.Go(func() error { return d.cameraLoop(gctx) })
		g.Go(func() error { return d.faces.Run(gctx) })
	}
	g.Go(func() error {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("daemon: control socket: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		os.Remove(d.cfg.Control.Socket)
		return nil
	})
	g.Go(func() error { return notifyLoop(gctx, d.opts.Getenv, d.alive, d.log) })
	g.Go(func() error {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				d.api.FlushRefusals(true)
				d.gate.FlushRefusals(true)
				return nil
			case <-t.C:
				d.api.FlushRefusals(false)
				d.gate.FlushRefusals(false)
			}
		}
	})
	if d.kiosk != nil {
		if err := d.serveKiosk(gctx, g); err != nil {
			restart(err)
			g.Wait()
			return err
		}
	}
	d.log.Info("daemon: gate running", "device", d.cfg.Device.Name, "face", faceOn, "readers", len(d.readers), "socket", d.cfg.Control.Socket, "degraded", d.degraded != "")
	d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: "started", Detail: "gated " + d.opts.Version})
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	err := g.Wait()
	d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: "stopped"})
	if errors.Is(context.Cause(ctx), errRestart) {
		return errRestart
	}
	if parent.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// loadKEK loads the configured key. A weak key (typed text, a pattern)
// that an earlier version accepted still opens the store: it comes with
// weak set, the advice to rotate, never to replace it.
func loadKEK(cfg *config.Config) (k store.KEK, weak *store.WeakKeyError, err error) {
	if cfg.Device.KeyCredential != "" {
		k, err = store.LoadKEKCredential(cfg.Device.KeyCredential)
		if errors.As(err, &weak) {
			return k, weak, nil
		}
		if err != nil {
			return store.KEK{}, nil, fmt.Errorf("daemon: device.key_credential: %w", err)
		}
		return k, nil, nil
	}
	k, err = store.LoadKEKFile(cfg.Device.KeyFile)
	if errors.As(err, &weak) {
		return k, weak, nil
	}
	if err != nil {
		return store.KEK{}, nil, fmt.Errorf("daemon: device.key_file: %w (make one with: gated keygen --out %s)", err, cfg.Device.KeyFile)
	}
	return k, nil, nil
}

func openRecognizer(cfg *config.Config) (*facemodel.Source, error) {
	src, err := facemodel.Open(facemodel.Config{Name: cfg.Face.Model, Dir: cfg.Device.ModelsDir, CustomSHA256: cfg.Face.CustomSHA256,
		Detector: cfg.Face.Detector, Options: recognizer.Options{MaxSide: cfg.Face.MaxSide}})
	if err != nil {
		return nil, fmt.Errorf("daemon: face.model: %w", err)
	}
	return src, nil
}

func (d *daemon) newGate(faceOn bool) error {
	cfg := d.cfg
	var gal gate.Gallery
	if faceOn {
		gal = d.faces.Gallery()
	}
	a := cfg.Access
	sched, warn, err := d.schedule()
	if err != nil {
		return err
	}
	for _, w := range warn {
		d.log.Warn("daemon: " + w)
	}
	ap := cfg.Schedule.AntiPassback
	// Until the first calibration, faces are off (calibrate.Off is the
	// zero mode).
	d.gate, err = gate.New(gate.Config{
		Face:          faceOn,
		Policy:        match.Policy{Threshold: float32(cfg.Face.Threshold), MinMargin: float32(cfg.Face.Margin)},
		Frames:        cfg.Face.Frames,
		Cooldown:      cfg.Face.Cooldown.Duration,
		CardNeedsPIN:  a.Card == "card+pin",
		CardTimeout:   a.PINTimeout.Duration,
		Bind:          readers.Bindings(cfg.Readers),
		Passes:        d.st,
		Lockout:       gate.LockoutPolicy{Free: a.LockoutFree, Base: a.LockoutBase.Duration, Max: a.LockoutMax.Duration, Forget: a.LockoutForget.Duration},
		Log:           d.log,
		Liveness:      d.liveness(),
		LivenessLayer: d.livenessLayer(),
		Challenge:     cfg.Face.Challenge,
		ChallengeTime: cfg.Face.ChallengeTime.Duration,
		Door:          d.doorConfig(),
		Schedule:      sched,
		AntiPassback:  gate.AntiPassback{Entry: ap.Entry, Exit: ap.Exit},
		Unlock:        cfg.Schedule.UnlockProfile, // a scheduled unlock window; the gate holds d.door
	}, d.st, d.door, gal)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// applyFace follows a new calibration: the gate and the screen use faces
// as it decided.
func (d *daemon) applyFace(dec calibrate.Decision) {
	mode := dec.Mode
	if err := d.gate.SetFace(mode, dec.Policy); err != nil {
		d.log.Error("daemon: calibration: set face mode", "err", err)
		d.gate.SetFace(calibrate.Off, match.Policy{})
		mode = calibrate.Off
	}
	if d.kiosk != nil {
		d.kiosk.SetFaceMode(mode)
	}
}

// serveControl listens on the staff socket with the roles' groups.
func (d *daemon) serveControl() (net.Listener, *http.Server, error) {
	c := d.cfg.Control
	var gids [3]int
	for i, name := range []string{c.StaffGroup, c.WriteGroup, c.AdminGroup} {
		gids[i] = -1
		if name == "" {
			continue
		}
		g, err := user.LookupGroup(name)
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: control group %q: %w (create it: groupadd %s)", name, err, name)
		}
		gids[i], _ = strconv.Atoi(g.Gid)
	}
	opt := staffapi.Options{Config: d.cfg, Version: d.opts.Version, Started: d.started, Degraded: d.degraded, Calendar: d.cal, Log: d.log}
	if d.nir.chk != nil {
		opt.NIR = d
	}
	d.comp = d.newCompound()
	opt.Compound = compound.API{Svc: d.comp, Warnings: d.compoundWarnings}
	d.api = staffapi.New(opt,
		d.st, d.faces, d.photos(), d.cameraCapture(), d.gate, device{d})
	api := d.api
	l, err := control.Listen(c.Socket, gids[0])
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	srv := control.NewServer(api.Handler(), control.Options{Log: d.log, StaffGID: gids[0], WriteGID: gids[1], AdminGID: gids[2], Refused: api.Refused})
	return l, srv, nil
}

// key is the device key the store is sealed with now.
func (d *daemon) key() store.KEK {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kek
}

func (d *daemon) setKEK(k store.KEK) {
	d.mu.Lock()
	d.kek = k
	d.mu.Unlock()
}

// alive is when the health loop last ran.
func (d *daemon) alive() time.Time { return time.Unix(0, d.heartbeat.Load()) }

func (d *daemon) audit(ev store.Event) {
	if _, err := d.st.AppendAudit(ev); err != nil {
		d.log.Error("daemon: audit", "err", err)
	}
}

// alarm raises (or, with an empty sentence, clears) a standing alarm.
func (d *daemon) alarm(kind, sentence string) {
	d.mu.Lock()
	old := d.alarms[kind]
	if sentence == "" {
		delete(d.alarms, kind)
	} else {
		d.alarms[kind] = sentence
	}
	d.mu.Unlock()
	if old == sentence {
		return
	}
	if sentence != "" {
		d.log.Error("daemon: ALARM: " + sentence)
	} else {
		d.log.Warn("daemon: alarm cleared", "was", old)
	}
	if d.st.DB != nil {
		outcome, detail := "alarm", sentence
		if sentence == "" {
			outcome, detail = "alarm-cleared", old
		}
		d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: outcome, Detail: store.Detail(detail)})
	}
}

// auditAlarms records the alarms standing now (raised before the audit log
// could take them).
func (d *daemon) auditAlarms() {
	d.mu.Lock()
	var as []string
	for _, a := range d.alarms {
		as = append(as, a)
	}
	d.mu.Unlock()
	for _, a := range as {
		d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: "alarm", Detail: store.Detail(a)})
	}
}

// healthLoop reports the readers' health to the gate, which raises the
// alarm when all are down.
func (d *daemon) healthLoop(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	// Give readers a moment to open before the first verdict.
	first := time.After(time.Second)
	ready := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-first:
			ready = true
		case <-t.C:
		}
		d.heartbeat.Store(time.Now().UnixNano())
		if !ready {
			continue
		}
		d.gate.Readers(d.readerHealth())
	}
}

// liveness is the gate's presentation-attack detection: the loaded layer's
// combination, or nil without one.
func (d *daemon) liveness() gate.Liveness {
	var passive gate.Liveness
	if d.pad != nil {
		passive = liveness.Default
	}
	if d.nir.chk != nil {
		// NIR refuses any window with a frame whose check did not pass,
		// then the passive layer, when there is one, decides.
		return nir.Layer{Inner: passive}
	}
	return passive
}
