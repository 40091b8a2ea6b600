package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/faces"
	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/gate"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/kioskpass"
	"github.com/gated-dev/gated/internal/liveness"
	"github.com/gated-dev/gated/internal/notice"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/staffapi"
	"github.com/gated-dev/gated/internal/store"
)

// kioskBackend is what the resident screen may do: identify a resident by
// card and PIN at its own reader (the gate's check and lock-out), show the
// notice, capture and enroll a face with consent, destroy it (the face-data
// owner).
type kioskBackend struct{ d *daemon }

func (d *daemon) newKiosk() *kiosk.Kiosk {
	c := d.cfg.Kiosk
	return kiosk.New(kiosk.Config{Frames: c.EnrollFrames, Timeout: c.Timeout.Duration, PINTimeout: d.cfg.Access.PINTimeout.Duration,
		FaceMode: calibrate.Off, Reader: c.Reader, Log: d.log, Passes: kioskpass.New(d.db, d.cfg.Visitor, d.audit, kioskpass.Options{Zone: d.cal.Location})}, kioskBackend{d})
}

// Holder looks a card up in the store, with no PIN: the kiosk only lets a
// card that is not a minor's registered guardian's end the guardian step.
func (b kioskBackend) Holder(card fallback.Card) (string, bool) {
	id, err := b.d.db.LookupCard(card.Key())
	return id, err == nil
}

func (b kioskBackend) Identify(ctx context.Context, card fallback.Card, pin string) (kiosk.Resident, error) {
	r, err := b.d.gate.Identify(ctx, "kiosk", b.d.cfg.Kiosk.Reader, card, pin)
	var lo *gate.LockedOutError
	switch {
	case errors.As(err, &lo):
		return kiosk.Resident{}, fmt.Errorf("%w: %v", kiosk.ErrLockedOut, err)
	case errors.Is(err, gate.ErrNotIdentified):
		return kiosk.Resident{}, fmt.Errorf("%w: %v", kiosk.ErrNotIdentified, err)
	case err != nil:
		return kiosk.Resident{}, err
	}
	has, err := b.d.db.HasFaceData(r.ID)
	if err != nil {
		return kiosk.Resident{}, err
	}
	return kiosk.Resident{ID: r.ID, Name: r.Name, Minor: r.Minor, GuardianID: r.GuardianID, HasFace: has}, nil
}

func (b kioskBackend) notices(lang string) (notice.Notice, error) {
	return notice.Render(staffapi.NoticeFacts(b.d.cfg), lang)
}

func (b kioskBackend) Notice(lang string) (kiosk.Notice, error) {
	n, err := b.notices(lang)
	if err != nil {
		return kiosk.Notice{}, err
	}
	return kiosk.Notice{Version: n.Version, Language: n.Language, Text: n.Text}, nil
}

// Capture takes a live capture for a resident enrolling themselves: the
// frames, judged by presentation-attack detection when the gate has it,
// then the head-turn challenge, always. The kiosk shows preview, the
// latest frame as a small JPEG, while it runs; nothing is stored. A
// refusal is audited with its layer and score, never an image.
func (b kioskBackend) Capture(ctx context.Context, residentID string, frames int, progress func(kiosk.Progress), preview func([]byte)) ([][]float32, error) {
	d := b.d
	if d.rec == nil {
		return nil, errors.New("face recognition is off at this gate")
	}
	if d.rec.Detector != recognizer.DetectorYuNet {
		d.log.Warn("daemon: kiosk enrollment refused: the head-turn challenge needs face.detector = \"yunet\"; enroll residents with staff photos (gated face enroll --photo) or switch the detector", "detector", d.rec.Detector.String())
		return nil, fmt.Errorf("%w: face.detector is %s", kiosk.ErrNoChallenge, d.rec.Detector)
	}
	// Consecutive frames of the turn may differ in descriptor by no more
	// than the gate's accept threshold: another face swapped in for the
	// captured one jumps further.
	_, pol := d.gate.FaceMode()
	jump := pol.Threshold
	if jump <= 0 {
		jump = float32(d.cfg.Face.Threshold)
	}
	l := recognizer.Live{Turn: randomTurn(), TurnWithin: d.cfg.Face.ChallengeTime.Duration, Preview: preview, MaxJump: jump}
	if d.pad != nil {
		l.PAD, l.Decide, l.Layer = d.pad, liveness.Default.Decide, d.cfg.Face.Liveness
	}
	c := recognizer.NewLiveCollector(l)
	release, err := d.holdCamera(c)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Kiosk.Timeout.Duration)
	defer cancel()
	vecs, err := c.CollectLive(ctx, frames, func(p recognizer.Progress) {
		progress(kiosk.Progress{Advice: p.Problem, Taken: p.Taken, Want: p.Want, Turn: turnName(p), Turned: p.Turned})
	})
	var nl *recognizer.NotLiveError
	switch {
	case errors.As(err, &nl):
		d.audit(store.Event{Kind: store.KindEnroll, Actor: "resident:" + residentID + "@kiosk", Subject: residentID, Outcome: "refused", Detail: nl.Error()})
		return nil, fmt.Errorf("%w: %v", kiosk.ErrNotLive, err)
	case errors.Is(err, recognizer.ErrNoPose):
		return nil, fmt.Errorf("%w: %v", kiosk.ErrNoChallenge, err)
	case err != nil:
		return nil, fmt.Errorf("%w within %s", err, d.cfg.Kiosk.Timeout.Duration)
	}
	return vecs, nil
}

// turnName is the way a capture asks the head to turn, "" before it does.
func turnName(p recognizer.Progress) string {
	if !p.Turning {
		return ""
	}
	return p.Turn.String()
}

// randomTurn picks the way the head-turn challenge asks: nobody can know
// it before the screen says it.
func randomTurn() liveness.Turn {
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("daemon: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return liveness.Turn(b[0] & 1)
}

// holdCamera gives the camera's frames to c until release is called.
func (d *daemon) holdCamera(c *recognizer.Collector) (release func(), err error) {
	d.cam.mu.Lock()
	defer d.cam.mu.Unlock()
	if d.cam.capture != nil {
		return nil, errors.New("another enrollment is using the camera: try again in a moment")
	}
	d.cam.capture = c
	return func() {
		d.cam.mu.Lock()
		d.cam.capture = nil
		d.cam.mu.Unlock()
	}, nil
}

// Enroll stores the consent given at the device and the templates in one
// transaction, through the face-data owner.
func (b kioskBackend) Enroll(ctx context.Context, residentID string, n kiosk.Notice, g *kiosk.Guardian, templates [][]float32) error {
	in := faces.ConsentRequest{Method: "device", Language: n.Language, NoticeVersion: n.Version}
	if g != nil {
		in.Guardian = &store.Guardian{Name: g.Name, Relation: g.Relation, ResidentID: g.ResidentID}
	}
	c, err := faces.Consent(b.notices, in)
	if err != nil {
		return err
	}
	_, err = b.d.faces.Enroll("resident:"+residentID+"@kiosk", residentID, c, templates)
	return err
}

// OptOut destroys the resident's face data at once. Data out of use whose
// file rewrite is still pending (a full disk) gets its receipt too, marked
// pending: the screen says it is not yet gone from disk, and the report
// lists it until it is.
func (b kioskBackend) OptOut(ctx context.Context, residentID string) (string, bool, error) {
	rec, err := b.d.faces.Destroy("resident:"+residentID+"@kiosk", residentID, "consent withdrawn by the resident at the gate", time.Time{})
	if err != nil && !errors.Is(err, store.ErrPending) {
		return "", false, err
	}
	return rec.ReceiptID, err != nil, nil
}

// serveKiosk serves the resident screen on its loopback address and feeds
// it the gate's decisions.
func (d *daemon) serveKiosk(ctx context.Context, g *errgroup.Group) error {
	l, err := net.Listen("tcp", d.cfg.Kiosk.Listen)
	if err != nil {
		return fmt.Errorf("daemon: kiosk.listen: %w", err)
	}
	if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		l.Close()
		return fmt.Errorf("daemon: kiosk.listen %s is not loopback", l.Addr())
	}
	srv := &http.Server{Handler: d.kiosk.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error { return d.kiosk.Run(ctx) })
	g.Go(func() error {
		ch, stop := d.gate.Subscribe()
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case dec := <-ch:
				d.kiosk.Decision(dec)
			}
		}
	})
	g.Go(func() error {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("daemon: kiosk: %w", err)
	})
	g.Go(func() error {
		<-ctx.Done()
		srv.Close()
		return nil
	})
	d.log.Info("daemon: kiosk screen served", "listen", l.Addr().String(), "reader", d.cfg.Kiosk.Reader)
	return nil
}
