// Package kioskpass decides what a resident may issue at the kiosk as
// visitor passes ([visitor]): never a minor, at most kiosk_per_day a day
// (from midnight in privacy.time_zone, the zone of the gate's schedules
// and deadlines, not the system's), each for at most kiosk_max_uses
// visits and kiosk_max_validity. It
// issues them through the store, with the resident as issuer
// ("resident:<id>@kiosk"), and audits refusals. It implements
// kiosk.Passes; it never opens the door or sees a code after issuing it.
package kioskpass

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/config"
	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/store"
)

// Store is what issuing passes needs of the store.
type Store interface {
	Resident(id string) (store.Resident, error)
	CountPassesIssued(actor string, since time.Time) (int, error)
	AddPass(actor string, p store.NewPass) (store.IssuedPass, error)
}

// Issuer is kiosk.Passes on a store, within the [visitor] limits.
type Issuer struct {
	st    Store
	cfg   config.Visitor
	audit func(store.Event) // records a refusal (the daemon's audit, which logs a failure)
	zone  *time.Location
	now   func() time.Time
	mu    sync.Mutex // one check-and-issue at a time: the day's count holds
}

// Options are an Issuer's calendar and clock.
type Options struct {
	// Zone is the zone whose midnight begins the day kiosk_per_day
	// counts (privacy.time_zone); the system's when nil.
	Zone *time.Location
	// Now is the clock; time.Now when nil. It should be the store's, which
	// dates the passes counted.
	Now func() time.Time
}

// New returns an Issuer; audit records refusals.
func New(st Store, cfg config.Visitor, audit func(store.Event), o Options) *Issuer {
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Issuer{st: st, cfg: cfg, audit: audit, zone: o.Zone, now: o.Now}
}

func kioskActor(residentID string) string { return "resident:" + residentID + "@kiosk" }

// Limits are the [visitor] limits.
func (p *Issuer) Limits() kiosk.PassLimits {
	v := p.cfg
	return kiosk.PassLimits{MaxUses: v.MaxUses(), MaxValidity: v.MaxValidity(), PerDay: v.PerDay()}
}

// startOfDay is midnight of the day of t in zone.
func startOfDay(t time.Time, zone *time.Location) time.Time {
	y, m, d := t.In(zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, zone)
}

// MayIssue says whether the resident may issue a pass now.
func (p *Issuer) MayIssue(_ context.Context, residentID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mayIssue(residentID)
}

// mayIssue checks the resident and the day's count; p.mu held.
func (p *Issuer) mayIssue(residentID string) error {
	r, err := p.st.Resident(residentID)
	if err != nil {
		return fmt.Errorf("kioskpass: visitor pass at the kiosk: %w", err)
	}
	if r.Minor {
		p.refused(residentID, "a minor")
		return kiosk.ErrPassMinor
	}
	n, err := p.st.CountPassesIssued(kioskActor(residentID), startOfDay(p.now(), p.zone))
	if err != nil {
		return fmt.Errorf("kioskpass: visitor pass at the kiosk: %w", err)
	}
	if limit := p.cfg.PerDay(); n >= limit {
		p.refused(residentID, fmt.Sprintf("%d passes issued today, visitor.kiosk_per_day = %d", n, limit))
		return kiosk.ErrPassLimit
	}
	return nil
}

func (p *Issuer) refused(residentID, why string) {
	p.audit(store.Event{Kind: store.KindAdmin, Actor: kioskActor(residentID), Subject: residentID, Outcome: "refused", Detail: "visitor pass at the kiosk refused: " + why})
}

// IssuePass issues a pass for the resident, within the limits.
func (p *Issuer) IssuePass(_ context.Context, residentID string, uses int, valid time.Duration) (kiosk.IssuedPass, error) {
	l := p.Limits()
	if uses < 1 || uses > l.MaxUses || valid <= 0 || valid > l.MaxValidity {
		return kiosk.IssuedPass{}, fmt.Errorf("kioskpass: visitor pass at the kiosk: %d uses for %s is over [visitor]'s %d for %s", uses, valid, l.MaxUses, l.MaxValidity)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.mayIssue(residentID); err != nil {
		return kiosk.IssuedPass{}, err
	}
	now := p.now()
	ip, err := p.st.AddPass(kioskActor(residentID), store.NewPass{Name: "visitor (issued at the kiosk)", From: now, Until: now.Add(valid), Uses: uses})
	if err != nil {
		return kiosk.IssuedPass{}, fmt.Errorf("kioskpass: visitor pass at the kiosk: %w", err)
	}
	return kiosk.IssuedPass{ID: ip.ID, Code: ip.Code, QR: ip.QR, Uses: ip.Uses, Until: ip.Until}, nil
}
