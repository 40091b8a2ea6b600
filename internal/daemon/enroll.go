package daemon

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/control"
	"github.com/gated-dev/gated/internal/recognizer"
	"github.com/gated-dev/gated/internal/store"
)

// handleEnroll enrolls a resident's face, from photos staff upload (with a
// signed paper consent form) or from the gate's camera, together with the
// consent record, in one store transaction. Photos are decoded, checked by
// the quality gate, turned into templates and dropped: none is kept.
func (d *daemon) handleEnroll(w http.ResponseWriter, r *http.Request) {
	if d.rec == nil {
		fail(w, badRequest("face recognition is off at this gate (face.enabled = false)"))
		return
	}
	var in api.Enroll
	if err := control.ReadJSON(r, maxEnroll, &in); err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	id := r.PathValue("id")
	res, err := d.db.Resident(id)
	if err != nil {
		fail(w, err)
		return
	}
	who := actor(r)
	consent, err := d.consentFor(requestOf(in), who)
	if err != nil {
		fail(w, err)
		return
	}
	if res.Minor && consent.Guardian == nil {
		fail(w, badRequest("%s is registered as under 14: a parent's or guardian's consent is required (guardian name and relation)", id))
		return
	}
	out := api.Enrolled{Resident: id}
	var vecs [][]float32
	switch {
	case in.Camera:
		frames := in.Frames
		if frames <= 0 {
			frames = 3
		}
		timeout := in.Timeout.Duration
		if timeout <= 0 || timeout > 2*time.Minute {
			timeout = 30 * time.Second
		}
		vecs, err = d.captureFaces(r.Context(), frames, timeout, nil)
		if err != nil {
			fail(w, badRequest("camera enrollment: %v", err))
			return
		}
	case len(in.Photos) > 0:
		if len(in.Photos) > maxPhotos {
			fail(w, badRequest("%d photos: at most %d", len(in.Photos), maxPhotos))
			return
		}
		for i, p := range in.Photos {
			v, why := d.photoTemplate(p)
			if why != "" {
				out.Refused = append(out.Refused, fmt.Sprintf("photo %d: %s", i+1, why))
				continue
			}
			vecs = append(vecs, v)
		}
		if len(vecs) == 0 {
			fail(w, badRequest("no photo passed the quality gate: %v", out.Refused))
			return
		}
	default:
		fail(w, badRequest("give photos, or camera = true"))
		return
	}
	saved, err := d.enroll(who, id, consent, vecs)
	if err != nil {
		fail(w, err)
		return
	}
	out.Templates = len(saved.Templates)
	out.Consent = apiConsent(saved.Consent)
	control.WriteJSON(w, out)
}

// enroll stores a consent and templates together, then adds the templates
// to the matcher: nothing is matched that is not kept.
func (d *daemon) enroll(who, id string, c store.Consent, vecs [][]float32) (store.Enrollment, error) {
	e := store.Enrollment{Consent: c}
	for _, v := range vecs {
		e.Templates = append(e.Templates, store.Template{Model: d.model, Vector: v})
	}
	saved, err := d.db.Enroll(who, id, e)
	if err != nil {
		return saved, err
	}
	if err := d.gallery.Replace(id, vecs...); err != nil {
		d.log.Error("daemon: gallery", "resident", id, "err", err)
	}
	// Refit the matcher's index once the gallery has doubled since it was
	// last fitted (lookups are exact either way; this keeps them fast).
	if _, tmpl := d.gallery.Len(); tmpl >= 2*max(d.gallery.Fitted(), 256) {
		d.gallery.Reindex()
	}
	d.galleryChanged()
	return saved, nil
}

// photoTemplate turns one photo into a template, or says why it cannot.
func (d *daemon) photoTemplate(photo []byte) ([]float32, string) {
	m, err := recognizer.DecodeImage(photo)
	if err != nil {
		return nil, err.Error()
	}
	defer m.Close()
	faces, err := d.rec.Faces(m)
	if err != nil {
		return nil, err.Error()
	}
	a := recognizer.Assess(m, faces, recognizer.Quality{})
	if a.Problem != recognizer.Good {
		return nil, a.Problem.Advice("en")
	}
	return a.Face.Descriptor, ""
}

// enrollRequest is how consent was given, whoever asks (staff or kiosk).
type enrollRequest struct {
	method, language, noticeVersion string
	guardian                        *store.Guardian
}

func requestOf(in api.Enroll) enrollRequest {
	r := enrollRequest{method: in.Method, language: in.Language, noticeVersion: in.NoticeVersion}
	if g := in.Guardian; g != nil {
		r.guardian = &store.Guardian{Name: g.Name, Relation: g.Relation, ResidentID: g.ResidentID}
	}
	return r
}

// consentFor builds the consent record for an enrollment or a renewal: the
// daemon's current notice in the requested language, and its hash.
func (d *daemon) consentFor(in enrollRequest, who string) (store.Consent, error) {
	var c store.Consent
	switch in.method {
	case "paper":
		c.Method, c.RecordedBy = store.ConsentStaffPaper, who
	case "device":
		c.Method = store.ConsentAtDevice
	default:
		return c, badRequest("consent method %q: use paper (staff with a signed form) or device", in.method)
	}
	lang := in.language
	if lang == "" {
		lang = "zh"
	}
	n, err := d.notice(lang)
	if err != nil {
		return c, badRequest("%v", err)
	}
	if in.noticeVersion != "" && in.noticeVersion != n.Version {
		return c, badRequest("notice version %q is not this gate's current notice (%s): have the resident read and sign the current one (gated notice)", in.noticeVersion, n.Version)
	}
	sum, err := hex.DecodeString(n.SHA256)
	if err != nil || len(sum) != 32 {
		return c, errors.New("notice hash")
	}
	copy(c.NoticeSHA256[:], sum)
	c.NoticeVersion, c.Language = n.Version, n.Language
	if g := in.guardian; g != nil {
		if g.Name == "" || g.Relation == "" {
			return c, badRequest("a guardian needs a name and a relation (e.g. mother, legal guardian)")
		}
		c.Guardian = g
	}
	return c, nil
}
