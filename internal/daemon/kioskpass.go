package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/kiosk"
	"github.com/gated-dev/gated/internal/store"
)

// kioskPasses lets a resident identified at the screen (card and PIN) issue
// visitor passes within [visitor]: never a minor, at most kiosk_per_day a
// local day, each for at most kiosk_max_uses visits and kiosk_max_validity.
// The pass is issued and audited with the resident as its issuer
// ("resident:<id>@kiosk"); a refusal is audited too.
type kioskPasses struct {
	d  *daemon
	mu *sync.Mutex // one check-and-issue at a time: the day's count holds
}

func (d *daemon) kioskPasses() kioskPasses { return kioskPasses{d: d, mu: new(sync.Mutex)} }

func kioskActor(residentID string) string { return "resident:" + residentID + "@kiosk" }

func (p kioskPasses) Limits() kiosk.PassLimits {
	v := p.d.cfg.Visitor
	return kiosk.PassLimits{MaxUses: v.MaxUses(), MaxValidity: v.MaxValidity(), PerDay: v.PerDay()}
}

// startOfDay is local midnight of the day of t.
func startOfDay(t time.Time) time.Time {
	t = t.Local()
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.Local)
}

func (p kioskPasses) MayIssue(_ context.Context, residentID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mayIssue(residentID)
}

// mayIssue checks the resident and the day's count; p.mu held.
func (p kioskPasses) mayIssue(residentID string) error {
	r, err := p.d.db.Resident(residentID)
	if err != nil {
		return fmt.Errorf("daemon: visitor pass at the kiosk: %w", err)
	}
	if r.Minor {
		p.refused(residentID, "a minor")
		return kiosk.ErrPassMinor
	}
	n, err := p.d.db.CountPassesIssued(kioskActor(residentID), startOfDay(time.Now()))
	if err != nil {
		return fmt.Errorf("daemon: visitor pass at the kiosk: %w", err)
	}
	if limit := p.d.cfg.Visitor.PerDay(); n >= limit {
		p.refused(residentID, fmt.Sprintf("%d passes issued today, visitor.kiosk_per_day = %d", n, limit))
		return kiosk.ErrPassLimit
	}
	return nil
}

func (p kioskPasses) refused(residentID, why string) {
	p.d.audit(store.Event{Kind: store.KindAdmin, Actor: kioskActor(residentID), Subject: residentID, Outcome: "refused", Detail: "visitor pass at the kiosk refused: " + why})
}

func (p kioskPasses) IssuePass(_ context.Context, residentID string, uses int, valid time.Duration) (kiosk.IssuedPass, error) {
	l := p.Limits()
	if uses < 1 || uses > l.MaxUses || valid <= 0 || valid > l.MaxValidity {
		return kiosk.IssuedPass{}, fmt.Errorf("daemon: visitor pass at the kiosk: %d uses for %s is over [visitor]'s %d for %s", uses, valid, l.MaxUses, l.MaxValidity)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.mayIssue(residentID); err != nil {
		return kiosk.IssuedPass{}, err
	}
	now := time.Now()
	ip, err := p.d.db.AddPass(kioskActor(residentID), store.NewPass{Name: "visitor (issued at the kiosk)", From: now, Until: now.Add(valid), Uses: uses})
	if err != nil {
		return kiosk.IssuedPass{}, fmt.Errorf("daemon: visitor pass at the kiosk: %w", err)
	}
	return kiosk.IssuedPass{ID: ip.ID, Code: ip.Code, QR: ip.QR, Uses: ip.Uses, Until: ip.Until}, nil
}
