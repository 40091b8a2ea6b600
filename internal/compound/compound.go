// Package compound is the gate's side of a compound (docs/compound.md):
// it imports the property office's records bundles (from the inbox
// directory or a file staff hand in), has the store apply them and the
// face-data owner drop the faces they erase, rebuilds the gate's time
// profiles from them, and writes the gate's event bundles to the outbox.
//
// It owns the inbox and outbox directories and the list of inbox files it
// has dealt with. It never opens a network socket, never writes outside
// the data directory (the CLI writes a USB stick's copy, not the daemon),
// never reads a template, and never trusts a file before bundle.Open has
// verified it against the pinned office key.
package compound

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gated-dev/gated/internal/bundle"
	"github.com/gated-dev/gated/internal/schedule"
	"github.com/gated-dev/gated/internal/store"
)

// Store is what the compound needs of the store.
type Store interface {
	JoinCompound(actor, name, gate string, office bundle.PublicKey) (store.Compound, error)
	Compound() (store.Compound, error)
	CompoundIdentity() (bundle.Identity, error)
	FaceTargets(h bundle.Header, r *bundle.Records) ([]string, error)
	ApplyRecords(actor string, h bundle.Header, r *bundle.Records) (store.ImportResult, error)
	NoteRefusedImport(actor string, seq uint64, cause error)
	EventBundle(maxAudit int) (bundle.Header, *bundle.Events, error)
	EventsDue() (bool, error)
}

// Faces takes faces out of the matcher before a store change destroys
// them (faces.Set.RemoveFor).
type Faces interface {
	RemoveFor(ids []string, change func() error) error
}

// Config sets up a Service.
type Config struct {
	Inbox, Outbox string
	// Seen is the file listing the SHA-256 of every inbox file dealt
	// with (imported or refused), so none is tried for ever.
	Seen        string
	EventsEvery time.Duration // 15 min when 0
	Poll        time.Duration // 10 s when 0
	MaxAudit    int           // audit entries per event bundle; 20,000 when 0
	// Applied is called after a records bundle applied (the daemon
	// rebuilds the gate's time profiles).
	Applied func()
	Log     *slog.Logger
	Now     func() time.Time // time.Now when nil (the refusal count's minute)
}

// Service imports and exports bundles for one gate.
type Service struct {
	st    Store
	faces Faces
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex // one import or event bundle at a time

	flood floodCount // refusals of files not from the office (s.mu)

	scanMu    sync.Mutex           // one inbox scan at a time; guards the fields below
	stamps    map[string]fileStamp // inbox file name -> what the last scan saw
	seen      map[string]bool      // SHA-256 of the files dealt with (Config.Seen)
	seenOrder []string             // the same, oldest first
}

// New returns the service; faces may be nil (no face data to drop).
func New(cfg Config, st Store, fs Faces) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.EventsEvery <= 0 {
		cfg.EventsEvery = 15 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 10 * time.Second
	}
	if cfg.MaxAudit <= 0 {
		cfg.MaxAudit = 20000
	}
	if cfg.Applied == nil {
		cfg.Applied = func() {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: st, faces: fs, cfg: cfg, log: cfg.Log}
}

// Join makes this gate a member (store.JoinCompound) from the office's
// key in text form.
func (s *Service) Join(actor, officeKey, name, gate string) (store.Compound, error) {
	k, err := bundle.ParsePublicKey(officeKey)
	if err != nil {
		return store.Compound{}, fmt.Errorf("compound: join: office key: %w: %w", store.ErrInvalid, err)
	}
	return s.st.JoinCompound(actor, name, gate, k)
}

// Import verifies and applies one records bundle. Every refusal is
// audited with its reason; a bundle applied writes an event bundle to
// the outbox.
func (s *Service) Import(actor string, raw []byte) (store.ImportResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.importLocked(actor, raw)
	if err != nil && !errors.Is(err, store.ErrPending) {
		return res, err
	}
	s.cfg.Applied()
	if _, werr := s.writeEventsLocked(s.cfg.Outbox); werr != nil {
		s.log.Error("compound: event bundle after an import", "err", werr)
	}
	return res, err
}

func (s *Service) importLocked(actor string, raw []byte) (store.ImportResult, error) {
	c, err := s.st.Compound()
	if err != nil {
		return store.ImportResult{}, err
	}
	id, err := s.st.CompoundIdentity()
	if err != nil {
		return store.ImportResult{}, err
	}
	var seq uint64
	if h, perr := bundle.ParseHeader(raw); perr == nil {
		seq = h.Seq
	}
	h, payload, err := bundle.Open(raw, c.Office, id)
	if err != nil {
		s.refusedUnverified(actor, seq, err)
		return store.ImportResult{}, fmt.Errorf("compound: import: %w", err)
	}
	r, err := bundle.DecodeRecords(payload, h.Snapshot())
	clear(payload)
	if err != nil {
		s.st.NoteRefusedImport(actor, h.Seq, err)
		return store.ImportResult{}, fmt.Errorf("compound: import records %d: %w", h.Seq, err)
	}
	targets, err := s.st.FaceTargets(h, r)
	if err != nil {
		return store.ImportResult{}, err
	}
	var res store.ImportResult
	apply := func() error {
		var err error
		res, err = s.st.ApplyRecords(actor, h, r)
		return err
	}
	if s.faces != nil {
		err = s.faces.RemoveFor(targets, apply)
	} else {
		err = apply()
	}
	if err != nil && !errors.Is(err, store.ErrPending) {
		return store.ImportResult{}, err
	}
	s.log.Info("compound: records bundle applied", "result", res.String())
	return res, err
}

// EventFile names an event bundle.
func EventFile(seq uint64) string { return fmt.Sprintf("events-%020d.gevents", seq) }

// Events makes the gate's next event bundle, sealed to the office, and
// returns its file name and bytes.
func (s *Service) Events() (string, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventsLocked()
}

func (s *Service) eventsLocked() (string, []byte, error) {
	id, err := s.st.CompoundIdentity()
	if err != nil {
		return "", nil, err
	}
	h, ev, err := s.st.EventBundle(s.cfg.MaxAudit)
	if err != nil {
		return "", nil, err
	}
	p, err := ev.Encode()
	if err != nil {
		return "", nil, fmt.Errorf("compound: event bundle: %w", err)
	}
	b, err := bundle.Seal(id, h, p)
	if err != nil {
		return "", nil, fmt.Errorf("compound: event bundle: %w", err)
	}
	return EventFile(h.Seq), b, nil
}

// WriteEvents writes the next event bundle into the outbox and returns
// its path.
func (s *Service) WriteEvents() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeEventsLocked(s.cfg.Outbox)
}

func (s *Service) writeEventsLocked(dir string) (string, error) {
	name, b, err := s.eventsLocked()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if err := bundle.WriteFile(p, b, 0o640); err != nil {
		return "", fmt.Errorf("compound: event bundle: %w", err)
	}
	s.log.Info("compound: event bundle written", "file", p, "bytes", len(b))
	s.pruneEvents(dir, name)
	return p, nil
}

// pruneEvents removes the event bundles older than newest from the
// outbox: each bundle repeats everything the office has not
// acknowledged, so the newest holds all the older ones do (and a sync
// engine then drops them at the office too).
func (s *Service) pruneEvents(dir, newest string) {
	old, err := filepath.Glob(filepath.Join(dir, "events-*.gevents"))
	if err != nil {
		return
	}
	for _, f := range old {
		if filepath.Base(f) < newest { // zero-padded sequence numbers sort as numbers
			if err := os.Remove(f); err != nil {
				s.log.Warn("compound: prune an old event bundle", "file", f, "err", err)
			}
		}
	}
}

// Run polls the inbox at start and every Poll, writes an event bundle
// when something waits to be reported (an import, an opt-out) and every
// EventsEvery, until ctx ends. Outside a compound it only waits.
func (s *Service) Run(ctx context.Context) error {
	poll := time.NewTicker(s.cfg.Poll)
	defer poll.Stop()
	every := time.NewTicker(s.cfg.EventsEvery)
	defer every.Stop()
	var arrived <-chan struct{} // the inbox watch, once the gate is a member
	for {
		if _, err := s.st.Compound(); err == nil {
			if err := os.MkdirAll(s.cfg.Inbox, 0o750); err != nil {
				s.log.Error("compound: inbox", "err", err)
			}
			if err := os.MkdirAll(s.cfg.Outbox, 0o750); err != nil {
				s.log.Error("compound: outbox", "err", err)
			}
			if arrived == nil {
				if arrived, err = watchInbox(ctx, s.cfg.Inbox); err != nil {
					s.log.Warn("compound: the inbox is polled only", "every", s.cfg.Poll, "err", err)
					arrived = make(chan struct{}) // never fires; do not retry every poll
				}
			}
			s.ScanInbox()
			if due, err := s.st.EventsDue(); err == nil && due {
				if _, err := s.WriteEvents(); err != nil {
					s.log.Error("compound: event bundle", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		case _, ok := <-arrived:
			if !ok { // the inbox directory itself went: make it and watch it again
				if ctx.Err() != nil {
					return nil
				}
				arrived = nil
				continue
			}
			time.Sleep(200 * time.Millisecond) // let a burst of files land
		case <-every.C:
			if _, err := s.st.Compound(); err == nil {
				if _, err := s.WriteEvents(); err != nil {
					s.log.Error("compound: event bundle", "err", err)
				}
			}
		}
	}
}

type inboxFile struct {
	path string
	sum  string
	h    bundle.Header
}

// ScanInbox imports the inbox's records bundles not dealt with before, in
// sequence order; the newest snapshot that applies supersedes older
// files, which are set aside unimported. Files stay where the sync engine put them (the
// office's outbox is their source; deleting them in a receive-only
// folder would be a local change to revert); each is remembered by its
// SHA-256 in Config.Seen, imported or refused, so none is tried twice.
// It returns how many it applied.
func (s *Service) ScanInbox() int {
	s.flushFlood()
	ents, err := os.ReadDir(s.cfg.Inbox)
	if err != nil {
		s.log.Error("compound: inbox", "err", err)
		return 0
	}
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if s.stamps == nil {
		s.stamps = map[string]fileStamp{}
	}
	seen := s.readSeen()
	var files []inboxFile
	var done []string
	var read int64
	fresh, tries := 0, 0 // files read new, imports tried: at most maxScanFiles each a scan
	stamps := map[string]fileStamp{}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".gbundle") {
			continue
		}
		p := filepath.Join(s.cfg.Inbox, e.Name())
		fi, err := e.Info()
		if err != nil {
			continue
		}
		stamp := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
		if old, ok := s.stamps[e.Name()]; ok && old.size == stamp.size && old.mtime.Equal(stamp.mtime) {
			stamps[e.Name()] = old // unchanged: not read again
			if !seen[old.sum] {
				// Read before and not dealt with (a delta waiting for its
				// base): its header is known, and it does not take a place
				// among the new files (forged waiting deltas would
				// otherwise hold every place for ever).
				files = append(files, inboxFile{path: p, sum: old.sum, h: old.h})
			}
			continue
		}
		if fresh >= maxScanFiles || read+fi.Size() > maxScanBytes {
			continue // the rest at the next scan: a flood of files costs one scan's reading at a time
		}
		fresh++
		b, err := bundle.ReadFile(p)
		if err != nil {
			s.log.Error("compound: inbox file", "file", p, "err", err)
			continue
		}
		read += int64(len(b))
		sum := sha256.Sum256(b)
		f := inboxFile{path: p, sum: hex.EncodeToString(sum[:])}
		f.h, _ = bundle.ParseHeader(b) // an unparsable file sorts first and is refused with the reason
		stamp.sum, stamp.h = f.sum, f.h
		stamps[e.Name()] = stamp
		if seen[f.sum] {
			continue
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].h.Seq < files[j].h.Seq })
	applied := 0
	applied0 := func() uint64 {
		if m, err := s.st.Compound(); err == nil {
			return m.Applied
		}
		return 0
	}
	have := applied0()
	try := func(f inboxFile) bool {
		if tries >= maxScanFiles {
			return false // the rest at the next scan
		}
		tries++
		b, err := bundle.ReadFile(f.path)
		if err != nil {
			return false // gone or unreadable now: not dealt with, read again later
		}
		// Remember what is imported now, not what the scan read: the file
		// may have been replaced since, and the office's bundle read then
		// must not be taken as dealt with.
		sum := sha256.Sum256(b)
		done = append(done, hex.EncodeToString(sum[:]))
		if _, err := s.Import("compound:inbox", b); err != nil && !errors.Is(err, store.ErrPending) {
			s.log.Warn("compound: inbox file refused", "file", f.path, "err", err)
			return false
		}
		applied++
		have = applied0()
		return true
	}
	// The newest snapshot that applies supersedes the files before it.
	// Headers are not verified until Import: a file that only claims to
	// be a newer snapshot (damaged, or made by whoever can write the
	// inbox) is refused and supersedes nothing.
	var newest uint64
	tried := make([]bool, len(files))
	for i := len(files) - 1; i >= 0; i-- {
		if f := files[i]; f.h.Kind == bundle.KindRecords && f.h.Snapshot() && f.h.Seq > have {
			tried[i] = true
			if try(f) {
				newest = f.h.Seq
				break
			}
		}
	}
	for i, f := range files {
		if tried[i] {
			continue
		}
		if f.h.Kind == bundle.KindRecords && !f.h.Snapshot() && f.h.Base > have && f.h.Seq > newest {
			// A delta that arrived before its base (a sync engine does
			// not keep order): leave it for a later scan.
			continue
		}
		if f.h.Seq != 0 && f.h.Seq < newest {
			s.log.Info("compound: inbox file superseded by a newer snapshot", "file", f.path, "seq", f.h.Seq, "snapshot", newest)
			done = append(done, f.sum)
			continue
		}
		try(f)
	}
	s.addSeen(done)
	s.stamps = stamps
	return applied
}

// Limits on one inbox scan's reading (a sync user may fill the inbox).
const (
	maxScanFiles = 64
	maxScanBytes = 256 << 20
)

// fileStamp is what a scan saw of an inbox file, so an unchanged file
// dealt with before is not read and hashed again at every poll.
type fileStamp struct {
	size  int64
	mtime time.Time
	sum   string
	h     bundle.Header // its unverified header (a waiting delta is not read again)
}

const maxSeen = 10000

// readSeen returns the SHA-256 of every inbox file dealt with, read from
// Config.Seen once and then kept in memory; s.scanMu held.
func (s *Service) readSeen() map[string]bool {
	if s.seen != nil {
		return s.seen
	}
	s.seen = map[string]bool{}
	f, err := os.Open(s.cfg.Seen)
	if err != nil {
		return s.seen
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); len(l) == 64 && !s.seen[l] {
			s.seen[l] = true
			s.seenOrder = append(s.seenOrder, l)
		}
	}
	return s.seen
}

// addSeen remembers sums (the newest maxSeen are kept) and rewrites
// Config.Seen; s.scanMu held.
func (s *Service) addSeen(sums []string) {
	seen := s.readSeen()
	added := false
	for _, x := range sums {
		if !seen[x] {
			seen[x] = true
			s.seenOrder = append(s.seenOrder, x)
			added = true
		}
	}
	if !added || s.cfg.Seen == "" {
		return
	}
	if n := len(s.seenOrder) - maxSeen; n > 0 {
		for _, x := range s.seenOrder[:n] {
			delete(seen, x)
		}
		s.seenOrder = slices.Clone(s.seenOrder[n:])
	}
	if err := bundle.WriteFile(s.cfg.Seen, []byte(strings.Join(s.seenOrder, "\n")+"\n"), 0o600); err != nil {
		s.log.Error("compound: remembering inbox files", "err", err)
	}
}

// ScheduleSet combines the configuration's time profiles and groups with
// the office's: the office's win for the same name (it manages the
// compound's residents), and each clash is returned as a warning.
func ScheduleSet(profiles []schedule.Profile, groups map[string]string, c store.Compound, cal schedule.Calendar, loc *time.Location) (*schedule.Set, []string, error) {
	var warn []string
	byName := map[string]schedule.Profile{}
	for _, p := range profiles {
		byName[p.Name] = p
	}
	for _, n := range sortedKeys(c.Profiles) {
		p, err := schedule.ParseProfile(n, c.Profiles[n])
		if err != nil {
			return nil, nil, fmt.Errorf("compound: office profile %s: %w", n, err)
		}
		if _, ok := byName[n]; ok {
			warn = append(warn, fmt.Sprintf("time profile %q is defined in gated.toml and by the property office: the office's is used", n))
		}
		byName[n] = p
	}
	gs := map[string]string{}
	for g, p := range groups {
		gs[g] = p
	}
	for g, p := range c.Groups {
		if old, ok := gs[g]; ok && old != p {
			warn = append(warn, fmt.Sprintf("group %q is defined in gated.toml and by the property office: the office's is used", g))
		}
		gs[g] = p
	}
	out := make([]schedule.Profile, 0, len(byName))
	for _, n := range sortedKeys(byName) {
		out = append(out, byName[n])
	}
	set, err := schedule.NewSet(out, gs, cal, loc)
	if err != nil {
		return nil, warn, fmt.Errorf("compound: schedule: %w", err)
	}
	return set, warn, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Files that are not a verified bundle from the office (junk, another
// sender, a damaged copy) can be made by whoever can write the inbox, as
// fast as they like: each is audited and reported on its own up to
// floodAudit a minute, the rest counted and audited as one entry when the
// minute is over (as the gate counts refusals at a reader).
const floodAudit = 10

type floodCount struct {
	since   time.Time
	audited int
	skipped int
}

// refusedUnverified notes a refusal before verification; s.mu held.
func (s *Service) refusedUnverified(actor string, seq uint64, err error) {
	now := s.cfg.Now()
	s.flushFloodLocked(actor, now)
	if s.flood.since.IsZero() {
		s.flood.since = now
	}
	if s.flood.audited < floodAudit {
		s.flood.audited++
		s.st.NoteRefusedImport(actor, seq, err)
		return
	}
	s.flood.skipped++
}

// flushFloodLocked ends the minute: one audit entry for the refusals
// not audited on their own; s.mu held.
func (s *Service) flushFloodLocked(actor string, now time.Time) {
	if s.flood.since.IsZero() || now.Sub(s.flood.since) < time.Minute {
		return
	}
	if s.flood.skipped > 0 {
		s.log.Warn("compound: inbox flooded with files not from the office", "refused", s.flood.audited+s.flood.skipped, "since", s.flood.since)
		s.st.NoteRefusedImport(actor, 0, fmt.Errorf("%d more inbox files refused since %s (not from this gate's office; audited %d a minute): someone other than the office writes to the inbox",
			s.flood.skipped, s.flood.since.UTC().Format(time.RFC3339), floodAudit))
	}
	s.flood = floodCount{}
}

// flushFlood is flushFloodLocked for the scan loop.
func (s *Service) flushFlood() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushFloodLocked("compound:inbox", s.cfg.Now())
}
