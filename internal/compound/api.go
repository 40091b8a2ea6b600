package compound

import (
	"github.com/gated-dev/gated/internal/api"
)

// API answers the staff API's compound routes (staffapi.Compound) with
// a Service. Warnings, if set, lists clashes between the office's time
// profiles and gated.toml's (the daemon's schedule set).
type API struct {
	Svc      *Service
	Warnings func() []string
}

func (a API) warnings() []string {
	if a.Warnings == nil {
		return nil
	}
	return a.Warnings()
}

// Join makes the gate a member and returns its status.
func (a API) Join(actor, key, name, gate string) (api.Compound, error) {
	if _, err := a.Svc.Join(actor, key, name, gate); err != nil {
		return api.Compound{}, err
	}
	return a.Status()
}

// Status is the membership as staff see it: names, keys' public halves
// and fingerprints, sequence numbers and counts. Never a secret.
func (a API) Status() (api.Compound, error) {
	m, err := a.Svc.st.Compound()
	if err != nil {
		return api.Compound{}, err
	}
	return api.Compound{Compound: m.Name, Gate: m.Gate, Office: m.Office.String(), OfficePrint: m.Office.Fingerprint(),
		Public: m.Public.String(), PublicPrint: m.Public.Fingerprint(), JoinedAt: m.JoinedAt, Applied: m.Applied,
		EventSeq: m.EventSeq, AckedAudit: m.AckedAudit, Residents: m.Residents, Cards: m.Cards, Passes: m.Passes,
		Profiles: m.Profiles, Warnings: a.warnings()}, nil
}

// Import applies one records bundle sent through the staff socket.
func (a API) Import(actor string, raw []byte) (api.Imported, error) {
	r, err := a.Svc.Import(actor, raw)
	out := api.Imported{Seq: r.Seq, Snapshot: r.Snapshot, Residents: r.Residents, Removed: r.Removed, Cards: r.Cards, Passes: r.Passes, Erased: r.Erased}
	for _, x := range r.Deletions {
		out.Deletions = append(out.Deletions, api.Deletion{ReceiptID: x.ReceiptID, Resident: x.ResidentID, Actor: x.Actor, Reason: x.Reason, At: x.At, Templates: x.Templates, RequestedAt: x.RequestedAt})
	}
	out.Warnings = a.warnings()
	return out, err
}

// Export returns the gate's current event bundle for a USB stick.
func (a API) Export() (api.BundleFile, error) {
	name, b, err := a.Svc.Events()
	return api.BundleFile{Name: name, Bytes: b}, err
}
