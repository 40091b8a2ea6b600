package faces

import (
	"encoding/hex"
	"fmt"

	"github.com/gated-dev/gated/internal/notice"
	"github.com/gated-dev/gated/internal/store"
)

// ConsentRequest says how a resident consented, whoever records it (staff
// with a signed form, or the resident at the gate).
type ConsentRequest struct {
	// Method is "paper" (staff with a signed form) or "device" (the
	// resident at the gate's screen).
	Method string
	// Language of the notice shown or signed ("zh" when empty, or "en");
	// NoticeVersion, when given, must be the gate's current notice.
	Language, NoticeVersion string
	// RecordedBy names the staff member for paper consent.
	RecordedBy string
	// Guardian consents for a resident under 14.
	Guardian *store.Guardian
}

// Notices renders the gate's current notice in a language.
type Notices func(lang string) (notice.Notice, error)

// Consent builds the consent record for an enrollment or a renewal: the
// gate's current notice in the requested language, and its hash. A request
// that cannot be a valid consent is ErrRequest, with what to do.
func Consent(notices Notices, in ConsentRequest) (store.Consent, error) {
	var c store.Consent
	switch in.Method {
	case "paper":
		c.Method, c.RecordedBy = store.ConsentStaffPaper, in.RecordedBy
	case "device":
		c.Method = store.ConsentAtDevice
	default:
		return c, fmt.Errorf("%w: consent method %q: use paper (staff with a signed form) or device", ErrRequest, in.Method)
	}
	n, err := notices(in.Language)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if in.NoticeVersion != "" && in.NoticeVersion != n.Version {
		return c, fmt.Errorf("%w: notice version %q is not this gate's current notice (%s): have the resident read and sign the current one (gated notice)",
			ErrRequest, in.NoticeVersion, n.Version)
	}
	sum, err := hex.DecodeString(n.SHA256)
	if err != nil || len(sum) != 32 {
		return c, fmt.Errorf("faces: notice hash %q is not SHA-256", n.SHA256)
	}
	copy(c.NoticeSHA256[:], sum)
	c.NoticeVersion, c.Language = n.Version, n.Language
	if g := in.Guardian; g != nil {
		if g.Name == "" || g.Relation == "" {
			return c, fmt.Errorf("%w: a guardian needs a name and a relation (e.g. mother, legal guardian)", ErrRequest)
		}
		c.Guardian = g
	}
	return c, nil
}
