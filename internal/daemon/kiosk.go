package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/fallback"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/store"
)

// kioskBackend is what the resident screen may do: identify a resident by
// card and PIN, show the notice, capture and enroll a face with consent,
// destroy it.
type kioskBackend struct {
	d       *daemon
	lockout *fallback.Lockout
}

func (b *kioskBackend) Identify(ctx context.Context, card fallback.Card, pin string) (kiosk.Resident, error) {
	key := card.Key()
	if b.lockout.Wait(key, "kiosk") > 0 {
		return kiosk.Resident{}, kiosk.ErrLockedOut
	}
	id, err := b.d.db.LookupCard(key)
	if errors.Is(err, store.ErrNotFound) {
		b.lockout.Fail(key, "kiosk")
		return kiosk.Resident{}, kiosk.ErrNotIdentified
	}
	if err != nil {
		return kiosk.Resident{}, err
	}
	ok, err := b.d.db.VerifyPIN(id, pin)
	if errors.Is(err, store.ErrNotFound) {
		ok, err = false, nil
	}
	if err != nil {
		return kiosk.Resident{}, err
	}
	if !ok {
		b.lockout.Fail(key, "kiosk")
		b.d.audit(store.Event{Kind: store.KindAccess, Actor: "kiosk", Subject: id, Outcome: "denied", Detail: "wrong PIN at the resident screen"})
		return kiosk.Resident{}, kiosk.ErrNotIdentified
	}
	b.lockout.Succeed(key)
	r, err := b.d.db.Resident(id)
	if err != nil {
		return kiosk.Resident{}, err
	}
	if r.Status != store.StatusActive {
		return kiosk.Resident{}, kiosk.ErrNotIdentified
	}
	has, err := b.d.db.HasFaceData(id)
	if err != nil {
		return kiosk.Resident{}, err
	}
	return kiosk.Resident{ID: r.ID, Name: r.Name, Minor: r.Minor, GuardianID: r.GuardianID, HasFace: has}, nil
}

func (b *kioskBackend) Notice(lang string) (kiosk.Notice, error) {
	n, err := b.d.notice(lang)
	if err != nil {
		return kiosk.Notice{}, err
	}
	return kiosk.Notice{Version: n.Version, Language: n.Language, Text: n.Text}, nil
}

func (b *kioskBackend) Capture(ctx context.Context, frames int, tips func(kiosk.Advice)) ([][]float32, error) {
	return b.d.captureFaces(ctx, frames, b.d.cfg.Kiosk.Timeout.Duration, func(p recognizer.Problem) { tips(p) })
}

// Enroll stores the consent given at the device and the templates in one
// transaction, then lets the matcher know.
func (b *kioskBackend) Enroll(ctx context.Context, residentID string, n kiosk.Notice, g *kiosk.Guardian, templates [][]float32) error {
	in := enrollRequest{method: "device", language: n.Language, noticeVersion: n.Version}
	if g != nil {
		in.guardian = &store.Guardian{Name: g.Name, Relation: g.Relation, ResidentID: g.ResidentID}
	}
	c, err := b.d.consentFor(in, "")
	if err != nil {
		return err
	}
	_, err = b.d.enroll("resident:"+residentID+"@kiosk", residentID, c, templates)
	return err
}

func (b *kioskBackend) OptOut(ctx context.Context, residentID string) (string, error) {
	if b.d.gallery != nil {
		b.d.gallery.Remove(residentID)
	}
	rec, err := b.d.db.DestroyFaceData("resident:"+residentID+"@kiosk", residentID, "consent withdrawn by the resident at the gate")
	b.d.galleryChanged()
	if err != nil {
		return "", err
	}
	return rec.ReceiptID, nil
}

// startKiosk serves the resident screen on its loopback address.
func (d *daemon) startKiosk() (*kiosk.Kiosk, net.Listener, *http.Server, error) {
	mode, _ := d.gate.FaceMode()
	k := kiosk.New(kiosk.Config{Frames: d.cfg.Kiosk.EnrollFrames, Timeout: d.cfg.Kiosk.Timeout.Duration, FaceMode: mode, Log: d.log},
		&kioskBackend{d: d, lockout: fallback.NewLockout(fallback.LockoutPolicy{}, time.Now)})
	l, err := net.Listen("tcp", d.cfg.Kiosk.Listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("daemon: kiosk.listen: %w", err)
	}
	if ta, ok := l.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		l.Close()
		return nil, nil, nil, fmt.Errorf("daemon: kiosk.listen %s is not loopback", l.Addr())
	}
	srv := &http.Server{Handler: k.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return k, l, srv, nil
}
