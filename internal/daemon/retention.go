package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// purgeEvery is how often the daemon looks for face data that must go.
const purgeEvery = 10 * time.Minute

// loadCalendar reads the configured holiday calendar (or Monday-Friday).
func loadCalendar(path, zone string) (*retention.Calendar, error) {
	loc := time.Local
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("daemon: privacy.time_zone: %w", err)
		}
		loc = l
	}
	if path == "" {
		return retention.Weekdays(loc), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("daemon: privacy.holidays: %w", err)
	}
	defer f.Close()
	return retention.ParseCalendar(path, f, loc)
}

// purgeLoop destroys face data whose consent ran out or was withdrawn, at
// start and then every purgeEvery.
func (d *daemon) purgeLoop(ctx context.Context) error {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if n, err := d.purge(time.Now()); err != nil {
			d.log.Error("daemon: retention purge", "err", err)
		} else if n > 0 {
			d.log.Info("daemon: retention purge", "destroyed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// purge destroys the face data of every resident whose data is due at now,
// and returns how many it destroyed.
func (d *daemon) purge(now time.Time) (int, error) {
	type due struct {
		id, reason string
		since      time.Time
	}
	var ids []string
	if err := d.db.ForEachResident(func(r store.Resident) error { ids = append(ids, r.ID); return nil }); err != nil {
		return 0, err
	}
	var todo []due
	for _, id := range ids {
		has, err := d.db.HasFaceData(id)
		if err != nil || !has {
			continue
		}
		cs, err := d.db.Consents(id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		rc := make([]retention.Consent, len(cs))
		for i, c := range cs {
			rc[i] = retention.Consent{GivenAt: c.GivenAt, WithdrawnAt: c.WithdrawnAt}
		}
		if since, why, ok := retention.Due(now, d.cfg.Privacy.Retention.Duration, rc); ok {
			todo = append(todo, due{id, why, since})
		}
	}
	n := 0
	for _, t := range todo {
		if d.gallery != nil {
			d.gallery.Remove(t.id)
		}
		since := t.since
		if since.After(now) {
			since = now
		}
		if _, err := d.db.DestroyFaceDataRequested("system:retention", t.id, t.reason, since); err != nil {
			if errors.Is(err, store.ErrNoFaceData) {
				continue
			}
			return n, fmt.Errorf("destroy face data of %s: %w", t.id, err)
		}
		n++
	}
	if n > 0 {
		d.galleryChanged()
	}
	return n, nil
}
