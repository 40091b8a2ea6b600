// Package daemon runs a gate: it opens the encrypted store, loads the face
// gallery, starts the camera pipeline, the card readers and the door, and
// serves the staff API on the control socket, until its context ends.
//
// It owns the wiring and the staff API; the rules live in the packages it
// wires (gate decides, store keeps, config forbids). It never listens on a
// network address, never connects anywhere, and never writes outside the
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
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/recognizer/facemodel"
	"github.com/gated-dev/gated/internal/relay"
	"github.com/gated-dev/gated/internal/retention"
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

// dbFile and restoreFile are the daemon's only files in the data directory
// (besides the store's own temporary files next to dbFile).
const (
	dbFile      = "gated.db"
	restoreFile = "restore.pending"
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

	db      *store.DB
	kek     store.KEK
	rec     *facemodel.Source // nil when face is off
	model   string            // the descriptor model templates are matched in
	dim     int
	calib   calibration
	gallery *match.Gallery // nil when face is off
	gate    *gate.Gate
	door    *relay.Door
	readers []reader
	restart context.CancelCauseFunc
	cal     *retention.Calendar

	heartbeat atomic.Int64 // unix nanoseconds of the health loop's last round

	mu         sync.Mutex
	camUp      bool
	camErr     string
	frameCount uint64
	capture    *capture     // a face enrollment in progress, fed by the camera loop
	kiosk      *kiosk.Kiosk // the resident screen, when enabled
}

// reader is what the daemon needs of a card reader or keypad.
type reader interface {
	Name() string
	Run(ctx context.Context, events chan<- fallback.Event) error
	Health() fallback.Health
}

func runOnce(parent context.Context, o Options) (err error) {
	cfg := o.Config
	d := &daemon{opts: o, cfg: cfg, log: o.Log, started: time.Now()}
	d.calib.again = make(chan struct{}, 1)
	if err := os.MkdirAll(cfg.Device.DataDir, 0o700); err != nil {
		return fmt.Errorf("daemon: data directory: %w", err)
	}
	if d.kek, err = loadKEK(cfg); err != nil {
		return err
	}
	d.log.Info("daemon: device key loaded", "kek", d.kek.Fingerprint())
	if d.cal, err = loadCalendar(cfg.Privacy.Holidays, cfg.Privacy.TimeZone); err != nil {
		return err
	}
	dbPath := filepath.Join(cfg.Device.DataDir, dbFile)
	if err := d.applyPendingRestore(dbPath); err != nil {
		return err
	}
	d.db, err = store.Open(dbPath, d.kek, store.Options{Logger: d.log})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer d.db.Close()

	if cfg.Face.Enabled {
		det := recognizer.DetectorHOG
		if cfg.Face.Detector == "cnn" {
			det = recognizer.DetectorCNN
		}
		d.rec, err = facemodel.Open(facemodel.Config{Name: cfg.Face.Model, Dir: cfg.Device.ModelsDir, CustomSHA256: cfg.Face.CustomSHA256,
			Options: recognizer.Options{Detector: det, MaxSide: cfg.Face.MaxSide}})
		if err != nil {
			return fmt.Errorf("daemon: face.model: %w", err)
		}
		defer d.rec.Close()
		d.model, d.dim = d.rec.Model, d.rec.Dim
		if err := d.loadGallery(); err != nil {
			return err
		}
	}

	rl, closeRelay, err := openRelay(cfg.Relay, d.log)
	if err != nil {
		return err
	}
	defer closeRelay()
	defer func() {
		if herr := rl.Halt(); herr != nil {
			d.log.Error("daemon: DOOR NOT CONFIRMED LOCKED at shutdown", "err", herr)
			err = errors.Join(err, herr)
		}
	}()
	if d.door, err = newDoor(rl, cfg.Relay, d.log); err != nil {
		return err
	}
	var gal gate.Gallery
	if d.gallery != nil {
		gal = d.gallery
	}
	// Until the first calibration, a calibrated gate uses no faces.
	initial := gate.FaceIdentify
	if cfg.Face.Calibrate {
		initial = gate.FaceOff
	}
	d.gate, err = gate.New(gate.Config{
		Face:         cfg.Face.Enabled,
		Mode:         initial,
		Policy:       match.Policy{Threshold: float32(cfg.Face.Threshold), MinMargin: float32(cfg.Face.Margin)},
		Frames:       cfg.Face.Frames,
		Cooldown:     cfg.Face.Cooldown.Duration,
		CardNeedsPIN: cfg.Access.Card == "card+pin",
		CardTimeout:  cfg.Access.PINTimeout.Duration,
		Bind:         keypadBindings(cfg),
		Lockout: fallback.LockoutPolicy{
			Free: cfg.Access.LockoutFree, Base: cfg.Access.LockoutBase.Duration,
			Max: cfg.Access.LockoutMax.Duration, Forget: 24 * time.Hour,
		},
		Log: d.log,
	}, d.db, d.door, gal)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if d.readers, err = d.openReaders(); err != nil {
		return err
	}

	gid := -1
	if cfg.Control.StaffGroup != "" {
		g, err := user.LookupGroup(cfg.Control.StaffGroup)
		if err != nil {
			return fmt.Errorf("daemon: control.staff_group %q: %w (create it: groupadd %s)", cfg.Control.StaffGroup, err, cfg.Control.StaffGroup)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	l, err := control.Listen(cfg.Control.Socket, gid)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	srv := control.NewServer(d.api(), control.Options{Log: d.log, StaffGID: gid})
	var kl net.Listener
	var ksrv *http.Server
	if cfg.Kiosk.Enabled {
		if d.kiosk, kl, ksrv, err = d.startKiosk(); err != nil {
			l.Close()
			return err
		}
	}

	ctx, restart := context.WithCancelCause(parent)
	defer restart(nil)
	d.restart = restart
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.gate.Run(gctx) })
	events := make(chan fallback.Event, 16)
	for _, r := range d.readers {
		g.Go(func() error { return r.Run(gctx, events) })
	}
	g.Go(func() error { return d.readerLoop(gctx, events) })
	g.Go(func() error { return d.healthLoop(gctx) })
	g.Go(func() error { return d.purgeLoop(gctx) })
	if cfg.Face.Enabled {
		g.Go(func() error { return d.cameraLoop(gctx) })
		g.Go(func() error { return d.calibrationLoop(gctx) })
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
		os.Remove(cfg.Control.Socket)
		return nil
	})
	g.Go(func() error { return notifyLoop(gctx, o.Getenv, d.alive, d.log) })
	if d.kiosk != nil {
		g.Go(func() error { return d.kiosk.Run(gctx) })
		g.Go(func() error {
			ch, stop := d.gate.Subscribe()
			defer stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case dec := <-ch:
					d.kiosk.Decision(dec)
				}
			}
		})
		g.Go(func() error {
			err := ksrv.Serve(kl)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("daemon: kiosk: %w", err)
		})
		g.Go(func() error {
			<-gctx.Done()
			ksrv.Close()
			return nil
		})
		d.log.Info("daemon: kiosk screen served", "listen", kl.Addr().String())
	}
	d.log.Info("daemon: gate running", "device", cfg.Device.Name, "face", cfg.Face.Enabled, "readers", len(d.readers), "socket", cfg.Control.Socket)
	d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: "started", Detail: "gated " + o.Version})
	if o.Ready != nil {
		o.Ready()
	}
	err = g.Wait()
	d.audit(store.Event{Kind: store.KindAdmin, Actor: "system", Outcome: "stopped"})
	if errors.Is(context.Cause(ctx), errRestart) {
		return errRestart
	}
	if parent.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func loadKEK(cfg *config.Config) (store.KEK, error) {
	if cfg.Device.KeyCredential != "" {
		k, err := store.LoadKEKCredential(cfg.Device.KeyCredential)
		if err != nil {
			return store.KEK{}, fmt.Errorf("daemon: device.key_credential: %w", err)
		}
		return k, nil
	}
	k, err := store.LoadKEKFile(cfg.Device.KeyFile)
	if err != nil {
		return store.KEK{}, fmt.Errorf("daemon: device.key_file: %w (make one with: gated keygen --out %s)", err, cfg.Device.KeyFile)
	}
	return k, nil
}

// applyPendingRestore replaces the store with a backup staged by the
// restore API, before the store is opened. The backup was checked against
// the key when it was staged; store.Restore checks it again.
func (d *daemon) applyPendingRestore(dbPath string) error {
	pending := filepath.Join(d.cfg.Device.DataDir, restoreFile)
	if _, err := os.Stat(pending); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	rep, err := store.Restore(dbPath, pending, d.kek, store.Options{Logger: d.log})
	os.Remove(pending)
	if err != nil {
		d.log.Error("daemon: staged restore failed; keeping the current store", "err", err)
		return nil
	}
	d.log.Info("daemon: store restored from backup", "report", fmt.Sprintf("%+v", rep))
	return nil
}

// loadGallery fills the matcher from the store's templates of the current
// model, then fits its index and gives the loading's garbage back to the
// system (a gate board has little memory).
func (d *daemon) loadGallery() error {
	start := time.Now()
	g := match.New(d.dim)
	// ForEachTemplate yields templates in key order: a resident's templates
	// come together, so each resident is added once, when the next begins.
	var id string
	var vs [][]float32
	flush := func() error {
		if id == "" {
			return nil
		}
		if err := g.Add(id, vs...); err != nil {
			return fmt.Errorf("daemon: load face templates of %s: %w", id, err)
		}
		return nil
	}
	err := d.db.ForEachTemplate(d.model, func(t store.Template) error {
		if t.ResidentID != id {
			if err := flush(); err != nil {
				return err
			}
			id, vs = t.ResidentID, vs[:0]
		}
		vs = append(vs, append([]float32(nil), t.Vector...))
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("daemon: load face templates: %w", err)
	}
	g.Reindex()
	d.gallery = g
	debug.FreeOSMemory()
	res, tmpl := g.Len()
	d.log.Info("daemon: face gallery loaded", "model", d.model, "residents", res, "templates", tmpl, "took", time.Since(start).Round(time.Millisecond))
	if n := d.otherModel(res); n > 0 {
		d.log.Warn("daemon: face data of another model is not matched; these residents must enroll again to use face (card and PIN work)",
			"residents", n, "model", d.model)
	}
	return nil
}

// otherModel counts residents whose face data is not of the current model,
// given how many the gallery holds: templates never mix models, so those
// residents are not matched until they enroll again.
func (d *daemon) otherModel(inGallery int) int {
	ss, err := d.db.Stats()
	if err != nil {
		d.log.Error("daemon: store stats", "err", err)
		return 0
	}
	return max(ss.ResidentsWithFace-inGallery, 0)
}

// alive is when the health loop last ran.
func (d *daemon) alive() time.Time { return time.Unix(0, d.heartbeat.Load()) }

func (d *daemon) audit(ev store.Event) {
	if _, err := d.db.AppendAudit(ev); err != nil {
		d.log.Error("daemon: audit", "err", err)
	}
}

// readerLoop hands reader events to the gate.
func (d *daemon) readerLoop(ctx context.Context, events <-chan fallback.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if d.kiosk != nil && d.kiosk.Event(ctx, ev) {
				continue // a menu code, or a step of an enrollment or opt-out
			}
			if _, err := d.gate.Reader(ctx, ev); err != nil {
				d.log.Error("daemon: reader event", "reader", ev.Reader, "err", err)
			}
		}
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
		hs := make([]fallback.Health, len(d.readers))
		for i, r := range d.readers {
			hs[i] = r.Health()
		}
		d.gate.Readers(hs)
	}
}
