package eval_test

import (
	"fmt"
	"testing"

	"github.com/gated-dev/gated/internal/eval"
	"github.com/gated-dev/gated/internal/match"
)

// vec is a 2-d descriptor.
func vec(x, y float32) []float32 { return []float32{x, y} }

// gatePhotos: four people. ann's first photo by name is refused by the
// quality gate, bob's two first both (so with two enroll photos bob is a
// resident the gate never enrolls); cid and dan are strangers with 2
// residents.
func gatePhotos() []eval.Photo {
	return []eval.Photo{
		{Person: "ann", Name: "ann/3.jpg", Live: vec(0, 0.1), Template: vec(0, 0.1)},
		{Person: "ann", Name: "ann/1.jpg", Refused: "Face too small", Live: vec(0, 0)},
		{Person: "ann", Name: "ann/2.jpg", Live: vec(0, 0.05), Template: vec(0, 0.05)},
		{Person: "bob", Name: "bob/1.jpg", Refused: "Face too small", Live: vec(5, 0)},
		{Person: "bob", Name: "bob/2.jpg", Refused: "No face found"},
		{Person: "bob", Name: "bob/3.jpg", Live: vec(5, 0.1), Template: vec(5, 0.1)},
		{Person: "cid", Name: "cid/1.jpg", Live: vec(0, 0.3), Template: vec(0, 0.3)},
		{Person: "cid", Name: "cid/2.jpg", Refused: "No face found"},
		{Person: "dan", Name: "dan/1.jpg", Live: vec(9, 9), Template: vec(9, 9)},
	}
}

func TestPhotoSplitRoles(t *testing.T) {
	ph := gatePhotos()
	roles, err := eval.PhotoSplit{Residents: 2, EnrollPhotos: 2}.Roles(ph)
	if err != nil {
		t.Fatal(err)
	}
	// ann and bob are residents (name order); their first two photos by
	// name are tried, whatever the gate makes of them.
	want := []eval.Role{eval.RoleProbe, eval.RoleEnroll, eval.RoleEnroll, eval.RoleEnroll, eval.RoleEnroll, eval.RoleProbe,
		eval.RoleStranger, eval.RoleStranger, eval.RoleStranger}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Errorf("Roles = %v, want %v", roles, want)
	}
	// A seed shuffles the people the same way every time, and the roles do
	// not depend on the photos' order.
	sp := eval.PhotoSplit{Residents: 2, EnrollPhotos: 1, Seed: 7}
	a, _ := sp.Roles(ph)
	rev := make([]eval.Photo, len(ph))
	for i := range ph {
		rev[len(ph)-1-i] = ph[i]
	}
	b, _ := sp.Roles(rev)
	for i := range ph {
		if a[i] != b[len(ph)-1-i] {
			t.Errorf("Roles(%s) = %s in order, %s reversed", ph[i].Name, a[i], b[len(ph)-1-i])
		}
	}
	if _, err := (eval.PhotoSplit{Residents: 5, EnrollPhotos: 1}).Roles(ph); err == nil {
		t.Error("Roles with 5 residents of 4 people: no error")
	}
	if _, err := (eval.PhotoSplit{Every: 2}).Roles(ph); err == nil {
		t.Error("Roles with EnrollPhotos 0: no error")
	}
}

func TestEnrollThroughGate(t *testing.T) {
	gg, err := eval.PhotoSplit{Residents: 2, EnrollPhotos: 2}.EnrollThroughGate(gatePhotos(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if gg.Tried != 4 || gg.Refused != 3 || gg.Reasons["Face too small"] != 2 || gg.Reasons["No face found"] != 1 {
		t.Errorf("tried, refused, reasons = %d, %d, %v; want 4, 3, map[Face too small:2 No face found:1]", gg.Tried, gg.Refused, gg.Reasons)
	}
	if gg.Residents != 2 || gg.Enrolled != 1 || gg.OneTemplate != 1 || fmt.Sprint(gg.NotEnrolled) != "[bob]" {
		t.Errorf("residents, enrolled, one template, not enrolled = %d, %d, %d, %v; want 2, 1, 1, [bob]", gg.Residents, gg.Enrolled, gg.OneTemplate, gg.NotEnrolled)
	}
	if r, n := gg.Gallery.Len(); r != 1 || n != 1 {
		t.Errorf("gallery = %d residents, %d templates; want 1, 1", r, n)
	}
	// Refused enroll photos are lost, not probes: ann/3, bob/3, cid/1,
	// cid/2 (no face), dan/1.
	if len(gg.Probes) != 5 || len(gg.Seen()) != 4 {
		t.Errorf("probes = %d (%d seen), want 5 (4 seen)", len(gg.Probes), len(gg.Seen()))
	}
}

func TestPredict(t *testing.T) {
	gg, err := eval.PhotoSplit{Residents: 2, EnrollPhotos: 2}.EnrollThroughGate(gatePhotos(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// Identify at 0.5: ann/3 granted; bob/3 (never enrolled) refused;
	// cid/1 (0.25 from ann's template) accepted as ann; cid/2 no face;
	// dan refused.
	p, err := eval.Predict(gg, eval.ModeIdentify, match.Policy{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Granted.N != 1 || p.Refused.N != 1 || p.Misidentified.N != 0 || p.ResidentProbes != 2 ||
		p.StrangersIn.N != 1 || p.StrangersRefused.N != 1 || p.StrangersNoFace.N != 1 || p.StrangerProbes != 3 {
		t.Errorf("Predict(identify 0.5) = %+v", p)
	}
	for _, o := range p.Probes {
		if o.Photo == "cid/1.jpg" && (o.Outcome != eval.Accepted || o.As != "ann") {
			t.Errorf("Predict: cid/1.jpg = %+v, want accepted as ann", o)
		}
	}
	// Verify: strangers show the residents' cards in turn (ann, bob, ann):
	// cid/1 claims ann (0.25: accepted at 0.5), cid/2 has no face, dan
	// claims ann (refused).
	p, err = eval.Predict(gg, eval.ModeVerify, match.Policy{Threshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if p.Granted.N != 1 || p.Refused.N != 1 || p.StrangersIn.N != 1 || p.StrangersRefused.N != 1 {
		t.Errorf("Predict(verify 0.5) = %+v", p)
	}
	if c := p.Probes[2].Claimed; c != "ann" {
		t.Errorf("Predict(verify): first stranger probe claims %q, want ann", c)
	}
	p, err = eval.Predict(gg, eval.ModeOff, match.Policy{})
	if err != nil || p.Granted.N != 0 || p.Refused.N != 2 || p.StrangersRefused.N != 2 || p.StrangersNoFace.N != 1 {
		t.Errorf("Predict(off) = %+v, %v", p, err)
	}
	if _, err := eval.Predict(gg, eval.ModeIdentify, match.Policy{}); err == nil {
		t.Error("Predict(identify, zero policy): no error")
	}
}

func TestWilson(t *testing.T) {
	for _, tt := range []struct {
		k, n     int
		lo, hi   float64
		low, hig int
	}{
		{0, 10, 0, 0.2775, 0, 3},
		{5, 10, 0.2366, 0.7634, 2, 8},
		{10, 10, 0.7225, 1, 7, 10},
		{45, 50, 0.7864, 0.9565, 39, 48},
	} {
		lo, hi := eval.Wilson(tt.k, tt.n, 1.959964)
		if d := lo - tt.lo; d > 1e-3 || d < -1e-3 {
			t.Errorf("Wilson(%d, %d) low = %.4f, want %.4f", tt.k, tt.n, lo, tt.lo)
		}
		if d := hi - tt.hi; d > 1e-3 || d < -1e-3 {
			t.Errorf("Wilson(%d, %d) high = %.4f, want %.4f", tt.k, tt.n, hi, tt.hi)
		}
		if c := eval.NewCount(tt.k, tt.n); c.Low != tt.low || c.High != tt.hig || c.Low > c.N || c.High < c.N {
			t.Errorf("NewCount(%d, %d) = %+v, want %d-%d", tt.k, tt.n, c, tt.low, tt.hig)
		}
	}
}
