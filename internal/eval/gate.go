package eval

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gated-dev/gated/internal/match"
)

// Photo is one photo as the gate sees it: what staff enrollment would make
// of it (gated face enroll --photo: the quality gate), and what the live
// camera path would (the largest face, no quality gate). gated-eval's
// daemon-faithful mode (--enroll gate) computes both through the gate's own
// code (recognizer.PhotoAssess and recognizer.LiveFace).
type Photo struct {
	Person string
	Name   string // the file, relative to the set's folder
	// Template is what staff enrollment stores from the photo; nil when
	// Refused says why it would not.
	Template []float32
	Refused  string
	// Live is the descriptor the camera path decides on; nil when it finds
	// no face.
	Live []float32
}

// Role is what a split makes of one photo.
type Role string

// Roles of photos in a PhotoSplit.
const (
	RoleEnroll   Role = "enroll"         // a resident's photo that staff try to enroll
	RoleProbe    Role = "resident-probe" // a resident's photo shown to the camera
	RoleStranger Role = "stranger-probe" // a stranger's photo shown to the camera
)

// PhotoSplit chooses, from a set of photos, the residents and which of
// their photos staff enroll; every other photo is shown to the camera.
// It depends only on the people's names and the photos' names, never on
// what any model makes of them, so every model and the daemon see the same
// split.
type PhotoSplit struct {
	// Residents is how many people are residents. 0: every Every-th person
	// of the order below, starting with the first.
	Residents int
	Every     int
	// Seed 0 takes people in name order; any other value shuffles them
	// first with a PCG seeded (Seed, Seed).
	Seed uint64
	// EnrollPhotos is how many photos of each resident staff try to
	// enroll: the first ones in name order, whether the gate takes them or
	// not. The resident's other photos are probes.
	EnrollPhotos int
}

func (sp PhotoSplit) validate() error {
	if sp.EnrollPhotos < 1 || sp.Residents < 0 || (sp.Residents == 0 && sp.Every < 1) {
		return fmt.Errorf("eval: photo split needs EnrollPhotos >= 1 and Residents >= 1 or Every >= 1, got %+v", sp)
	}
	return nil
}

// ResidentSet returns which people are residents.
func (sp PhotoSplit) ResidentSet(people []string) map[string]bool {
	order := slices.Clone(people)
	slices.Sort(order)
	order = slices.Compact(order)
	if sp.Seed != 0 {
		r := rand.New(rand.NewPCG(sp.Seed, sp.Seed))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	res := map[string]bool{}
	for i, p := range order {
		if sp.Residents > 0 {
			res[p] = i < sp.Residents
		} else {
			res[p] = i%sp.Every == 0
		}
	}
	return res
}

// Roles gives each photo its role.
func (sp PhotoSplit) Roles(photos []Photo) ([]Role, error) {
	if err := sp.validate(); err != nil {
		return nil, err
	}
	var people []string
	for _, p := range photos {
		people = append(people, p.Person)
	}
	if sp.Residents > len(slices.Compact(slices.Sorted(slices.Values(people)))) {
		return nil, fmt.Errorf("eval: photo split: %d residents, but only %d people", sp.Residents, len(slices.Compact(slices.Sorted(slices.Values(people)))))
	}
	res := sp.ResidentSet(people)
	idx := make([]int, len(photos))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(photos[a].Person, photos[b].Person), cmp.Compare(photos[a].Name, photos[b].Name))
	})
	roles := make([]Role, len(photos))
	seen := map[string]int{}
	for _, i := range idx {
		p := photos[i]
		switch {
		case !res[p.Person]:
			roles[i] = RoleStranger
		case seen[p.Person] < sp.EnrollPhotos:
			seen[p.Person]++
			roles[i] = RoleEnroll
		default:
			roles[i] = RoleProbe
		}
	}
	return roles, nil
}

// GateGallery is what a PhotoSplit gives through the gate: the gallery
// staff enrollment would build, what it refused and why, and the probes.
type GateGallery struct {
	Gallery   *match.Gallery
	Templates map[string][][]float32 // by resident, as enrolled
	Roles     []Role                 // one per photo, as PhotoSplit.Roles
	// Residents chosen by the split; Enrolled of them with at least one
	// template; OneTemplate of those with exactly one. NotEnrolled names
	// the others, sorted.
	Residents, Enrolled, OneTemplate int
	NotEnrolled                      []string
	// Tried enroll photos; Refused of them, by reason (the quality gate's
	// advice, or the decoder's or detector's error).
	Tried, Refused int
	Reasons        map[string]int
	// Probes are every photo shown to the camera, residents' and
	// strangers', in the photos' order; a probe with no live face has a
	// nil Vector (the gate sees no face and decides nothing).
	Probes []Probe
}

// EnrollThroughGate enrolls a split's photos as staff enrollment would:
// an enroll photo that the gate refuses is lost (neither template nor
// probe), as it is at the property office.
func (sp PhotoSplit) EnrollThroughGate(photos []Photo, dim int) (*GateGallery, error) {
	roles, err := sp.Roles(photos)
	if err != nil {
		return nil, err
	}
	gg := &GateGallery{Gallery: match.New(dim), Templates: map[string][][]float32{}, Roles: roles, Reasons: map[string]int{}}
	residents := map[string]bool{}
	for i, p := range photos {
		switch roles[i] {
		case RoleEnroll:
			residents[p.Person] = true
			gg.Tried++
			if p.Template == nil {
				gg.Refused++
				gg.Reasons[p.Refused]++
				continue
			}
			if err := gg.Gallery.Add(p.Person, p.Template); err != nil {
				return nil, fmt.Errorf("eval: enroll %s: %w", p.Name, err)
			}
			gg.Templates[p.Person] = append(gg.Templates[p.Person], p.Template)
		case RoleProbe, RoleStranger:
			if roles[i] == RoleProbe {
				residents[p.Person] = true
			}
			gg.Probes = append(gg.Probes, Probe{Label: p.Person, Enrolled: roles[i] == RoleProbe, Vector: p.Live, Photo: p.Name})
		}
	}
	gg.Gallery.Reindex()
	gg.Residents = len(residents)
	for r := range residents {
		switch n := len(gg.Templates[r]); n {
		case 0:
			gg.NotEnrolled = append(gg.NotEnrolled, r)
		case 1:
			gg.OneTemplate++
			gg.Enrolled++
		default:
			gg.Enrolled++
		}
	}
	slices.Sort(gg.NotEnrolled)
	return gg, nil
}

// Seen are the probes the gate sees a face in.
func (gg *GateGallery) Seen() []Probe {
	var out []Probe
	for _, p := range gg.Probes {
		if p.Vector != nil {
			out = append(out, p)
		}
	}
	return out
}
