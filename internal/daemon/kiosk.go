package daemon

import (
	"context"
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
		FaceMode: calibrate.Off, Reader: c.Reader, Log: d.log}, kioskBackend{d})
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

func (b kioskBackend) Capture(ctx context.Context, frames int, tips func(kiosk.Advice)) ([][]float32, error) {
	return b.d.captureFaces(ctx, frames, b.d.cfg.Kiosk.Timeout.Duration, func(p recognizer.Problem) { tips(p) })
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
// file rewrite is still pending (a full disk) gets its receipt too: the
// report lists it until it is gone from disk.
func (b kioskBackend) OptOut(ctx context.Context, residentID string) (string, error) {
	rec, err := b.d.faces.Destroy("resident:"+residentID+"@kiosk", residentID, "consent withdrawn by the resident at the gate", time.Time{})
	if err != nil && !errors.Is(err, store.ErrPending) {
		return "", err
	}
	return rec.ReceiptID, nil
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
