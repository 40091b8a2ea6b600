package store

import (
	"bytes"
	"crypto/cipher"
	"fmt"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Enrollment is a resident's consent and face templates, stored together.
type Enrollment struct {
	Consent   Consent
	Templates []Template // Model and Vector from the caller; the rest set by the store
}

// templateKey is the key of a template: resident ID, "/", template ID.
func templateKey(residentID, templateID string) []byte {
	return []byte(residentID + "/" + templateID)
}

// splitKey splits a "resident/item" key; ok is false if there is no slash.
func splitKey(k []byte) (resident, item []byte, ok bool) {
	i := bytes.IndexByte(k, '/')
	if i < 0 {
		return nil, nil, false
	}
	return k[:i], k[i+1:], true
}

func checkConsent(c Consent, r Resident, now time.Time) error {
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{
		{"notice version", c.NoticeVersion, maxNoticeLen, true},
		{"language", c.Language, maxLangLen, true},
		{"recorded by", c.RecordedBy, maxActorLen, c.Method == ConsentStaffPaper},
	} {
		if err := checkText(f.name, f.v, f.max, f.required); err != nil {
			return err
		}
	}
	switch {
	case c.NoticeSHA256 == [32]byte{}:
		return fmt.Errorf("%w: notice SHA-256 is empty", ErrInvalid)
	case !c.Method.valid():
		return fmt.Errorf("%w: consent method %d", ErrInvalid, c.Method)
	case !validTime(c.GivenAt) || c.GivenAt.After(now.Add(time.Minute)):
		return fmt.Errorf("%w: consent time %v", ErrInvalid, c.GivenAt)
	case !c.WithdrawnAt.IsZero():
		return fmt.Errorf("%w: a new consent cannot be withdrawn", ErrInvalid)
	case r.Minor && c.Guardian == nil:
		return fmt.Errorf("%w: resident %s is under 14: guardian consent required", ErrInvalid, r.ID)
	}
	if g := c.Guardian; g != nil {
		if err := checkText("guardian name", g.Name, maxNameLen, true); err != nil {
			return err
		}
		if err := checkText("guardian relation", g.Relation, maxNameLen, true); err != nil {
			return err
		}
		if g.ResidentID != "" {
			if err := checkID("guardian resident ID", g.ResidentID); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkTemplates(ts []Template) error {
	if len(ts) == 0 || len(ts) > maxTemplates {
		return fmt.Errorf("%w: %d templates, want 1 to %d", ErrInvalid, len(ts), maxTemplates)
	}
	for i, t := range ts {
		if err := checkText(fmt.Sprintf("template %d model", i), t.Model, maxModelLen, true); err != nil {
			return err
		}
		if err := checkVector(t.Vector); err != nil {
			return fmt.Errorf("template %d: %w", i, err)
		}
	}
	return nil
}

// Enroll stores the resident's consent and face templates in one
// transaction: all of them or, on any error, none. The resident must have
// no face data yet (ErrAlreadyEnrolled; DestroyFaceData first to enroll
// again). A minor needs c.Guardian. A zero Consent.GivenAt means now. The
// templates are sealed with AES-256-GCM under a new data key for this
// resident, itself wrapped by the KEK.
func (db *DB) Enroll(actor, residentID string, e Enrollment) (Enrollment, error) {
	now, err := db.now()
	if err != nil {
		return Enrollment{}, fmt.Errorf("store: enroll: %w", err)
	}
	if err := checkTemplates(e.Templates); err != nil {
		return Enrollment{}, fmt.Errorf("store: enroll %s: %w", residentID, err)
	}
	var out Enrollment
	err = db.update(func(tx *bolt.Tx) error {
		var err error
		// update holds db.mu shared, and the KEK changes only under the
		// exclusive lock, so reading it here is consistent.
		out, err = enrollTx(tx, db.kek, db.keys, now, actor, residentID, e)
		return err
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("store: enroll %s: %w", residentID, err)
	}
	return out, nil
}

// enrollTx is Enroll inside a transaction (the benchmark builder batches
// many of them in one).
func enrollTx(tx *bolt.Tx, kek KEK, keys deviceKeys, now time.Time, actor, residentID string, e Enrollment) (Enrollment, error) {
	r, err := getResident(tx, residentID)
	if err != nil {
		return Enrollment{}, err
	}
	c := e.Consent
	if c.GivenAt.IsZero() {
		c.GivenAt = now
	}
	c.GivenAt = c.GivenAt.UTC().Round(0)
	if err := checkConsent(c, r, now); err != nil {
		return Enrollment{}, err
	}
	if err := checkTemplates(e.Templates); err != nil {
		return Enrollment{}, err
	}
	dk := tx.Bucket(bucketDataKeys)
	if dk.Get([]byte(residentID)) != nil {
		return Enrollment{}, ErrAlreadyEnrolled
	}
	key := randomBytes(keySize)
	defer clear(key)
	if err := dk.Put([]byte(residentID), kek.wrap(key, dataKeyAD(residentID))); err != nil {
		return Enrollment{}, err
	}

	cb := tx.Bucket(bucketConsents)
	seq, err := cb.NextSequence()
	if err != nil {
		return Enrollment{}, err
	}
	c.ID = fmt.Sprintf("c-%016x", seq)
	c.ResidentID = residentID
	if err := cb.Put([]byte(residentID+"/"+c.ID), encodeConsent(c)); err != nil {
		return Enrollment{}, err
	}

	g := newGCM(key)
	tb := tx.Bucket(bucketTemplates)
	out := Enrollment{Consent: c, Templates: make([]Template, len(e.Templates))}
	for i, t := range e.Templates {
		t.ResidentID = residentID
		t.CreatedAt = now
		t.Vector = append([]float32(nil), t.Vector...)
		for {
			t.ID = newID("t-")
			if tb.Get(templateKey(residentID, t.ID)) == nil {
				break
			}
		}
		if err := tb.Put(templateKey(residentID, t.ID), sealTemplate(g, t)); err != nil {
			return Enrollment{}, err
		}
		out.Templates[i] = t
	}
	return out, appendAudit(tx, keys, now, Event{Kind: KindEnroll, Actor: actor, Subject: residentID, Outcome: "ok",
		Detail: fmt.Sprintf("%d templates; consent %s notice %s (%s) by %s", len(out.Templates), c.ID, c.NoticeVersion, c.Language, c.Method)})
}

// HasFaceData reports whether the resident has enrolled face data.
func (db *DB) HasFaceData(residentID string) (bool, error) {
	var ok bool
	err := db.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketDataKeys).Get([]byte(residentID)) != nil
		return nil
	})
	return ok, err
}

// Consents returns the resident's consent records, oldest first, including
// withdrawn ones.
func (db *DB) Consents(residentID string) ([]Consent, error) {
	var out []Consent
	err := db.view(func(tx *bolt.Tx) error {
		prefix := []byte(residentID + "/")
		c := tx.Bucket(bucketConsents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			cr, err := decodeConsent(v)
			if err != nil {
				return fmt.Errorf("%w: consent %s: %w", ErrCorrupt, k, err)
			}
			out = append(out, cr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: consents of %s: %w", residentID, err)
	}
	return out, nil
}

// Templates decrypts and returns the resident's templates.
func (db *DB) Templates(residentID string) ([]Template, error) {
	var out []Template
	err := db.view(func(tx *bolt.Tx) error {
		kek := db.kek // view holds db.mu shared
		prefix := []byte(residentID + "/")
		c := tx.Bucket(bucketTemplates).Cursor()
		var g cipher.AEAD
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if g == nil {
				key, err := unwrapDataKey(tx, kek, residentID)
				if err != nil {
					return err
				}
				g = newGCM(key)
				clear(key)
			}
			t, err := openOne(g, residentID, string(k[len(prefix):]), v)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: templates of %s: %w", residentID, err)
	}
	return out, nil
}

func unwrapDataKey(tx *bolt.Tx, kek KEK, residentID string) ([]byte, error) {
	return unwrapDataKeyRec(kek.aead(), residentID, tx.Bucket(bucketDataKeys).Get([]byte(residentID)))
}

// unwrapDataKeyRec unwraps w, the stored data key of residentID.
func unwrapDataKeyRec(kg cipher.AEAD, residentID string, w []byte) ([]byte, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: templates of %s have no data key", ErrCorrupt, residentID)
	}
	key, err := unwrapWith(kg, w, dataKeyAD(residentID))
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", residentID, err)
	}
	return key, nil
}

func openOne(g cipher.AEAD, residentID, templateID string, v []byte) (Template, error) {
	env, err := decodeEnvelope(v)
	if err != nil {
		return Template{}, fmt.Errorf("%w: template %s/%s: %w", ErrTampered, residentID, templateID, err)
	}
	t := Template{ID: templateID, ResidentID: residentID, Model: env.Model, CreatedAt: env.Created, Vector: make([]float32, env.dims())}
	if _, _, err := openTemplate(g, env, residentID, templateID, t.Vector, nil, nil); err != nil {
		return Template{}, err
	}
	return t, nil
}

// ForEachTemplate decrypts every template of the given model ("" for all)
// and calls fn with each, one call at a time, in key order (by resident,
// then template ID). It is meant to load the matcher's gallery at start:
// each resident's data key is unwrapped once and decryption runs on every
// CPU. t.Vector is valid only until fn returns; copy it to keep it. An
// error from fn stops the walk and is returned; a record that fails
// authentication stops it with ErrTampered.
func (db *DB) ForEachTemplate(model string, fn func(t Template) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return ErrClosed
	}
	err := guard(func() error {
		return db.bolt.View(func(tx *bolt.Tx) error {
			return forEachTemplate(tx, db.kek, model, runtime.GOMAXPROCS(0), true, func(t Template) error { return callFn(fn, t) })
		})
	})
	if err != nil {
		return fmt.Errorf("store: load templates: %w", err)
	}
	return nil
}

// A loadBatch holds the sealed templates of whole residents, aliasing the
// transaction's memory; a worker decrypts it in place.
type loadBatch struct {
	raw  []rawTemplate
	out  []Template
	vecs []float32
	err  error
	done chan struct{}
}

type rawTemplate struct {
	resident, id string
	value        []byte
	wrapped      []byte // the resident's wrapped data key, or nil if it has none
}

const loadBatchSize = 512 // templates per batch, rounded up to whole residents

// forEachTemplate is ForEachTemplate inside tx. Without vectors, each
// template is decrypted (authenticated) but its vector is not kept: fn
// gets a nil Vector (open-time verification).
func forEachTemplate(tx *bolt.Tx, kek KEK, model string, workers int, vectors bool, fn func(Template) error) error {
	if workers < 1 {
		workers = 1
	}
	var (
		jobs  = make(chan *loadBatch, workers)
		order = make(chan *loadBatch, 2*workers)
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				b.err = guard(func() error { return b.decrypt(kek, model, vectors) })
				close(b.done)
			}
		}()
	}
	// The producer walks the bucket; workers and producer finish before
	// the transaction ends, since the raw values alias its memory.
	var prodErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		// A fault or panic while walking the bucket ends the walk with
		// ErrCorrupt; the deferred closes still run.
		prodErr = guard(func() error { return produce(tx, jobs, order, stop) })
	}()

	var err error
	stopped := false
	defer func() {
		// fn panicked: stop and wait for the others (they read the
		// transaction's memory), then let the panic go on.
		if r := recover(); r != nil {
			if !stopped {
				close(stop)
			}
			for range order {
			}
			wg.Wait()
			panic(r)
		}
	}()
	for b := range order {
		if err == nil {
			<-b.done
			err = b.err
			for i := 0; err == nil && i < len(b.out); i++ {
				err = fn(b.out[i])
			}
			if err != nil {
				close(stop)
				stopped = true
			}
		}
	}
	wg.Wait()
	if err == nil {
		err = prodErr
	}
	return err
}

// produce walks the templates bucket and hands out batches of whole
// residents: each to order (for the caller, in key order) and to jobs
// (for a worker).
func produce(tx *bolt.Tx, jobs, order chan<- *loadBatch, stop <-chan struct{}) error {
	var cur *loadBatch
	var last []byte
	flush := func() bool {
		if cur == nil {
			return true
		}
		select {
		case order <- cur:
		case <-stop:
			return false
		}
		jobs <- cur
		cur = nil
		return true
	}
	// Data keys are keyed by resident ID, like templates, so one cursor
	// walking forward finds each resident's key without a search.
	c, kc := tx.Bucket(bucketTemplates).Cursor(), tx.Bucket(bucketDataKeys).Cursor()
	dk, dv := kc.First()
	var resident string
	var wrapped []byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		res, id, ok := splitKey(k)
		if !ok {
			return fmt.Errorf("%w: bucket templates, key %s: not resident/template", ErrCorrupt, printableKey(k))
		}
		if !bytes.Equal(res, last) {
			if cur != nil && len(cur.raw) >= loadBatchSize && !flush() {
				return nil
			}
			last, resident = res, string(res)
			for dk != nil && bytes.Compare(dk, res) < 0 {
				dk, dv = kc.Next()
			}
			wrapped = nil
			if bytes.Equal(dk, res) {
				wrapped = dv
			}
		}
		if cur == nil {
			cur = &loadBatch{raw: make([]rawTemplate, 0, loadBatchSize+maxTemplates), done: make(chan struct{})}
		}
		cur.raw = append(cur.raw, rawTemplate{resident: resident, id: string(id), value: v, wrapped: wrapped})
	}
	flush()
	return nil
}

// decrypt opens every template of the batch, unwrapping each resident's
// data key once. Vectors share one allocation per batch.
func (b *loadBatch) decrypt(kek KEK, model string, vectors bool) error {
	envs := make([]envelope, 0, len(b.raw))
	keep := b.raw[:0]
	total := 0
	for _, r := range b.raw {
		env, err := decodeEnvelope(r.value)
		if err != nil {
			return fmt.Errorf("%w: template %s/%s: %w", ErrTampered, r.resident, r.id, err)
		}
		if model != "" && env.Model != model {
			continue
		}
		envs = append(envs, env)
		keep = append(keep, r)
		total += env.dims()
	}
	b.raw = keep
	if vectors {
		b.vecs = make([]float32, total)
	}
	b.out = make([]Template, len(envs))
	var (
		kg        = kek.aead()
		g         cipher.AEAD
		gResident string
		plain, ad []byte
		off       int
	)
	for i, r := range b.raw {
		if g == nil || r.resident != gResident {
			key, err := unwrapDataKeyRec(kg, r.resident, r.wrapped)
			if err != nil {
				return err
			}
			g, gResident = newGCM(key), r.resident
			clear(key)
		}
		env := envs[i]
		var vec []float32
		if vectors {
			n := env.dims()
			vec = b.vecs[off : off+n : off+n]
			off += n
		}
		var err error
		plain, ad, err = openTemplate(g, env, r.resident, r.id, vec, plain, ad)
		if err != nil {
			return err
		}
		b.out[i] = Template{ID: r.id, ResidentID: r.resident, Model: env.Model, CreatedAt: env.Created, Vector: vec}
	}
	return nil
}
