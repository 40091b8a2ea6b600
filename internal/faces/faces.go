// Package faces owns the gate's face data while the daemon runs: the
// templates in the store, the matcher's copy of them, and the calibration
// that decides from them how faces may be used.
//
// Every change to templates goes through a Set: staff and kiosk
// enrollment, opt-out, resident deletion, retention purge and key rotation.
// Its methods are the only way to change them, so that the store, the
// matcher and the calibration always agree: the store changes first and the
// matcher follows; a store change that fails leaves the matcher as it was;
// a face that is being destroyed opens nothing from the moment the request
// arrives. Calibration measures the templates already in memory and never
// decrypts the store again.
//
// It never sees an image (templates arrive as vectors), never opens the
// door, never writes anywhere but through the store, and never logs a
// template.
package faces

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/calibrate"
	"github.com/gated-dev/gated/internal/match"
	"github.com/gated-dev/gated/internal/retention"
	"github.com/gated-dev/gated/internal/store"
)

// Store is what a Set needs of the store.
type Store interface {
	Enroll(actor, residentID string, e store.Enrollment) (store.Enrollment, error)
	DestroyFaceDataRequested(actor, residentID, reason string, requestedAt time.Time) (store.DeletionRecord, error)
	DeleteResident(actor, residentID, reason string) (store.DeletionRecord, error)
	ForEachTemplate(model string, fn func(store.Template) error) error
	ForEachResident(fn func(store.Resident) error) error
	HasFaceData(residentID string) (bool, error)
	Consents(residentID string) ([]store.Consent, error)
	RotateKEK(actor string, k store.KEK) error
}

// Config sets up a Set.
type Config struct {
	// Model names the descriptors (stored with every template); Dim is
	// their length. Templates of another model are not loaded: those
	// residents must enroll again to use face.
	Model string
	Dim   int
	// Settings say how the face mode is chosen (calibrate.Decide).
	Settings calibrate.Settings
	// Apply receives every new decision: the gate and the resident screen
	// follow it. Called from Run's goroutine.
	Apply func(calibrate.Decision)
	// Retention is how long a consent holds (privacy.retention).
	Retention time.Duration
	// Settle is how long Run waits after a change before it estimates
	// again, so that a burst of enrollments costs one estimate (2 s when 0).
	Settle time.Duration
	Log    *slog.Logger
	Now    func() time.Time
}

// Set is the gate's face data: store and matcher together.
type Set struct {
	cfg     Config
	st      Store
	gallery *match.Gallery
	log     *slog.Logger

	// mu serialises changes, so that two changes to one resident cannot
	// interleave their store and matcher steps.
	mu    sync.Mutex
	again chan struct{}

	cmu sync.Mutex
	cal Calibration
}

// Calibration is the latest decision and when it was made.
type Calibration struct {
	At time.Time
	calibrate.Decision
	// Spread is the choice under other bootstrap seeds (SpreadSeeds of
	// them), filled in just after the decision is applied; nil until then
	// and when nothing was estimated.
	Spread []calibrate.Seeded
}

// SpreadSeeds is how many other seeds each calibration is repeated with,
// to show staff how firm its choice is.
const SpreadSeeds = 5

// Open loads the templates of cfg.Model from the store into a new matcher.
// Until Run first estimates, faces are off (Calibration's zero Decision).
// With no Model, face recognition is off at this gate: there is no matcher
// and enrollment is refused, but face data kept from before is still
// destroyed, purged and re-keyed through the Set.
func Open(cfg Config, st Store) (*Set, error) {
	if cfg.Model != "" && cfg.Dim <= 0 {
		return nil, errors.New("faces: a model needs its descriptor length")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Apply == nil {
		cfg.Apply = func(calibrate.Decision) {}
	}
	s := &Set{cfg: cfg, st: st, log: cfg.Log, again: make(chan struct{}, 1)}
	if cfg.Model == "" {
		s.cal.Decision = calibrate.Decision{Reason: "face recognition is off at this gate (face.enabled = false)"}
		return s, nil
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load fills a new matcher from the store, then fits its index and gives
// the loading's garbage back to the system (a gate board has little memory).
func (s *Set) load() error {
	start := time.Now()
	g := match.New(s.cfg.Dim)
	// ForEachTemplate yields templates in key order: a resident's templates
	// come together, so each resident is added once, when the next begins.
	var id string
	var vs [][]float32
	flush := func() error {
		if id == "" {
			return nil
		}
		if err := g.Add(id, vs...); err != nil {
			return fmt.Errorf("faces: load templates of %s: %w", id, err)
		}
		return nil
	}
	err := s.st.ForEachTemplate(s.cfg.Model, func(t store.Template) error {
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
		return fmt.Errorf("faces: load templates: %w", err)
	}
	g.Reindex()
	s.gallery = g
	debug.FreeOSMemory()
	res, tmpl := g.Len()
	s.log.Info("faces: gallery loaded", "model", s.cfg.Model, "residents", res, "templates", tmpl, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Gallery is the matcher, for lookups only: change templates through the
// Set's methods. It is nil when face recognition is off.
func (s *Set) Gallery() *match.Gallery { return s.gallery }

// Model is the descriptor model the Set holds.
func (s *Set) Model() string { return s.cfg.Model }

// Dim is the descriptor length.
func (s *Set) Dim() int { return s.cfg.Dim }

// Len returns how many residents and templates the matcher holds.
func (s *Set) Len() (residents, templates int) {
	if s.gallery == nil {
		return 0, 0
	}
	return s.gallery.Len()
}

// ErrRequest marks a request the Set refuses before changing anything
// (a vector of the wrong length, no templates, a bad consent request).
var ErrRequest = errors.New("faces: bad request")

// Enroll stores a consent and templates together, then adds the templates
// to the matcher: nothing is matched that is not kept.
func (s *Set) Enroll(actor, residentID string, c store.Consent, vecs [][]float32) (store.Enrollment, error) {
	if s.gallery == nil {
		return store.Enrollment{}, fmt.Errorf("%w: face recognition is off at this gate (face.enabled = false)", ErrRequest)
	}
	if len(vecs) == 0 {
		return store.Enrollment{}, fmt.Errorf("%w: no templates to enroll", ErrRequest)
	}
	e := store.Enrollment{Consent: c}
	for i, v := range vecs {
		if len(v) != s.cfg.Dim {
			return store.Enrollment{}, fmt.Errorf("%w: template %d has %d numbers, the model %s has %d", ErrRequest, i+1, len(v), s.cfg.Model, s.cfg.Dim)
		}
		e.Templates = append(e.Templates, store.Template{Model: s.cfg.Model, Vector: v})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	saved, err := s.st.Enroll(actor, residentID, e)
	if err != nil {
		return saved, err
	}
	if err := s.gallery.Replace(residentID, vecs...); err != nil {
		// The store validated the same vectors; this is a bug, and the
		// resident's face simply does not open the door until a restart.
		s.log.Error("faces: matcher refused templates the store kept", "resident", residentID, "err", err)
	}
	// Refit the matcher's index once the gallery has doubled since it was
	// last fitted (lookups are exact either way; this keeps them fast).
	if _, tmpl := s.gallery.Len(); tmpl >= 2*max(s.gallery.Fitted(), 256) {
		s.gallery.Reindex()
	}
	s.changed()
	return saved, nil
}

// Destroy destroys a resident's face data (opt-out, consent withdrawn):
// out of the matcher at once, then out of the store (see
// store.DestroyFaceDataRequested; requested may be zero for now). If the
// store refuses before changing anything, the matcher gets the templates
// back. If the store destroyed the data but could not yet rewrite every
// file (store.ErrPending), the face stays out of the matcher and the error
// says so.
func (s *Set) Destroy(actor, residentID, reason string, requested time.Time) (store.DeletionRecord, error) {
	return s.remove(residentID, func() (store.DeletionRecord, error) {
		return s.st.DestroyFaceDataRequested(actor, residentID, reason, requested)
	})
}

// DeleteResident removes a resident entirely (store.DeleteResident), face
// data first out of the matcher, as Destroy does.
func (s *Set) DeleteResident(actor, residentID, reason string) (store.DeletionRecord, error) {
	return s.remove(residentID, func() (store.DeletionRecord, error) {
		return s.st.DeleteResident(actor, residentID, reason)
	})
}

func (s *Set) remove(residentID string, destroy func() (store.DeletionRecord, error)) (store.DeletionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// From this instant the face opens nothing.
	var old [][]float32
	if s.gallery != nil {
		old = s.gallery.Templates(residentID)
		s.gallery.Remove(residentID)
	}
	rec, err := destroy()
	if err != nil && !errors.Is(err, store.ErrPending) {
		if old != nil {
			if aerr := s.gallery.Add(residentID, old...); aerr != nil {
				s.log.Error("faces: could not put templates back after a refused deletion", "resident", residentID, "err", aerr)
			}
		}
		return rec, err
	}
	if old != nil {
		s.changed()
	}
	return rec, err
}

// RotateKEK re-wraps every data key under a new device key
// (store.RotateKEK). The templates, and so the matcher, do not change.
func (s *Set) RotateKEK(actor string, k store.KEK) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.RotateKEK(actor, k)
}

// Purge destroys the face data of every resident whose consent has run
// out or was withdrawn at now, and returns how many it destroyed.
func (s *Set) Purge(now time.Time) (int, error) {
	type due struct {
		id, reason string
		since      time.Time
	}
	var ids []string
	if err := s.st.ForEachResident(func(r store.Resident) error { ids = append(ids, r.ID); return nil }); err != nil {
		return 0, fmt.Errorf("faces: purge: %w", err)
	}
	var todo []due
	for _, id := range ids {
		has, err := s.st.HasFaceData(id)
		if err != nil || !has {
			continue
		}
		cs, err := s.st.Consents(id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("faces: purge: consents of %s: %w", id, err)
		}
		rc := make([]retention.Consent, len(cs))
		for i, c := range cs {
			rc[i] = retention.Consent{GivenAt: c.GivenAt, WithdrawnAt: c.WithdrawnAt}
		}
		if since, why, ok := retention.Due(now, s.cfg.Retention, rc); ok {
			if since.After(now) {
				since = now
			}
			todo = append(todo, due{id, why, since})
		}
	}
	n := 0
	var errs []error
	for _, t := range todo {
		_, err := s.Destroy("system:retention", t.id, t.reason, t.since)
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrNoFaceData):
		case errors.Is(err, store.ErrPending):
			n++ // destroyed; its rewrite is retried
			errs = append(errs, err)
		default:
			errs = append(errs, fmt.Errorf("faces: purge %s: %w", t.id, err))
		}
	}
	return n, errors.Join(errs...)
}

// changed asks Run for a new estimate.
func (s *Set) changed() {
	select {
	case s.again <- struct{}{}:
	default:
	}
}

// Run estimates at once and again after each change (enrollment, opt-out,
// purge), settling first, until ctx ends; each decision goes to
// Config.Apply.
func (s *Set) Run(ctx context.Context) error {
	if s.gallery == nil {
		<-ctx.Done()
		return nil
	}
	for {
		s.Recalibrate()
		select {
		case <-ctx.Done():
			return nil
		case <-s.again:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.Settle):
		}
	}
}

// Recalibrate estimates from the templates in the matcher, decides the face
// mode, applies it and returns it.
func (s *Set) Recalibrate() calibrate.Decision {
	start := time.Now()
	dec := calibrate.Decide(s.gallery.Snapshot(), s.cfg.Settings)
	at := s.cfg.Now()
	s.cmu.Lock()
	s.cal = Calibration{At: at, Decision: dec}
	s.cmu.Unlock()
	s.cfg.Apply(dec)
	s.log.Info("faces: calibration", "mode", dec.Mode.String(), "threshold", dec.Policy.Threshold, "margin", dec.Policy.MinMargin,
		"stranger_upper", dec.Stranger, "residents", dec.Residents, "took", time.Since(start).Round(time.Millisecond), "reason", dec.Reason)
	if dec.Estimate != nil {
		spread := dec.Estimate.Spread(SpreadSeeds)
		s.cmu.Lock()
		if s.cal.At.Equal(at) {
			s.cal.Spread = spread
		}
		s.cmu.Unlock()
	}
	return dec
}

// Calibration returns the latest decision (the zero value, faces off,
// before the first).
func (s *Set) Calibration() Calibration {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.cal
}
