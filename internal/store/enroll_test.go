package store

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestEnroll(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(21)
	res, err := db.AddResident("staff:test", Resident{Name: "Liu Yang", Unit: "2-302"})
	if err != nil {
		t.Fatal(err)
	}
	in := testEnrollment(r, 3)
	out, err := db.Enroll("gate:front", res.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Consent
	if c.ID == "" || c.ResidentID != res.ID || c.GivenAt.IsZero() || c.NoticeSHA256 != in.Consent.NoticeSHA256 {
		t.Errorf("Enroll consent = %+v, want ID, resident, time and notice hash set", c)
	}
	got, err := db.Templates(res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Templates = %d, want 3", len(got))
	}
	byID := map[string]Template{}
	for _, tp := range out.Templates {
		byID[tp.ID] = tp
	}
	for i, tp := range got {
		want, ok := byID[tp.ID]
		if !ok || tp.ResidentID != res.ID || tp.Model != "dlib-resnet-v1" || !slices.Equal(tp.Vector, want.Vector) || !tp.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("template %d = %+v, want %+v", i, tp, want)
		}
	}
	cs, err := db.Consents(res.ID)
	if err != nil || len(cs) != 1 || cs[0] != c {
		t.Errorf("Consents = %+v, %v; want [%+v]", cs, err, c)
	}
	if _, err := db.Enroll("gate:front", res.ID, testEnrollment(r, 1)); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("second Enroll = %v, want ErrAlreadyEnrolled", err)
	}
	// The caller's vectors are copied, not aliased.
	in.Templates[0].Vector[0] = 42
	if got, _ := db.Templates(res.ID); slices.ContainsFunc(got, func(tp Template) bool { return tp.Vector[0] == 42 }) {
		t.Error("stored template aliases the caller's slice")
	}
}

func TestEnrollValidation(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(22)
	adult, _ := db.AddResident("staff:test", Resident{Name: "Adult"})
	minor, _ := db.AddResident("staff:test", Resident{Name: "Minor", Minor: true, GuardianID: adult.ID})
	mod := func(f func(e *Enrollment)) Enrollment {
		e := testEnrollment(r, 2)
		f(&e)
		return e
	}
	tests := []struct {
		name     string
		resident string
		e        Enrollment
		want     error
	}{
		{"no templates", adult.ID, mod(func(e *Enrollment) { e.Templates = nil }), ErrInvalid},
		{"too many templates", adult.ID, testEnrollment(r, maxTemplates+1), ErrInvalid},
		{"NaN", adult.ID, mod(func(e *Enrollment) { e.Templates[1].Vector[5] = float32(math.NaN()) }), ErrInvalid},
		{"Inf", adult.ID, mod(func(e *Enrollment) { e.Templates[0].Vector[0] = float32(math.Inf(1)) }), ErrInvalid},
		{"empty vector", adult.ID, mod(func(e *Enrollment) { e.Templates[0].Vector = nil }), ErrInvalid},
		{"no model", adult.ID, mod(func(e *Enrollment) { e.Templates[0].Model = "" }), ErrInvalid},
		{"no notice version", adult.ID, mod(func(e *Enrollment) { e.Consent.NoticeVersion = "" }), ErrInvalid},
		{"no notice hash", adult.ID, mod(func(e *Enrollment) { e.Consent.NoticeSHA256 = [32]byte{} }), ErrInvalid},
		{"no language", adult.ID, mod(func(e *Enrollment) { e.Consent.Language = "" }), ErrInvalid},
		{"bad method", adult.ID, mod(func(e *Enrollment) { e.Consent.Method = 7 }), ErrInvalid},
		{"paper form without staff", adult.ID, mod(func(e *Enrollment) { e.Consent.Method = ConsentStaffPaper }), ErrInvalid},
		{"already withdrawn", adult.ID, mod(func(e *Enrollment) { e.Consent.WithdrawnAt = time.Now() }), ErrInvalid},
		{"consent in the future", adult.ID, mod(func(e *Enrollment) { e.Consent.GivenAt = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }), ErrInvalid},
		{"minor without guardian", minor.ID, testEnrollment(r, 1), ErrInvalid},
		{"guardian without name", minor.ID, mod(func(e *Enrollment) { e.Consent.Guardian = &Guardian{Relation: "mother"} }), ErrInvalid},
		{"unknown resident", "r-000000000000", testEnrollment(r, 1), ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.Enroll("gate:front", tt.resident, tt.e); !errors.Is(err, tt.want) {
				t.Errorf("Enroll = %v, want %v", err, tt.want)
			}
		})
	}
	s, _ := db.Stats()
	if s.ResidentsWithFace != 0 || s.Templates != 0 || len(s.ConsentsByNotice) != 0 {
		t.Errorf("after refused enrollments Stats = %+v, want nothing stored", s)
	}

	// With guardian consent the minor enrolls; a staff paper form names staff.
	e := testEnrollment(r, 1)
	e.Consent.Method = ConsentStaffPaper
	e.Consent.RecordedBy = "staff:wu"
	e.Consent.Guardian = &Guardian{Name: "Adult", Relation: "father", ResidentID: adult.ID}
	out, err := db.Enroll("staff:wu", minor.ID, e)
	if err != nil {
		t.Fatalf("Enroll(minor with guardian) = %v", err)
	}
	cs, _ := db.Consents(minor.ID)
	if len(cs) != 1 || cs[0].Guardian == nil || *cs[0].Guardian != *e.Consent.Guardian || cs[0].RecordedBy != "staff:wu" || !reflect.DeepEqual(cs[0], out.Consent) {
		t.Errorf("minor's consent = %+v, want guardian and staff recorded", cs)
	}
}

// TestEnrollAtomic aborts an enrollment after all its writes and checks
// none of them stay.
func TestEnrollAtomic(t *testing.T) {
	db, _, _ := newTestDB(t)
	res, _ := db.AddResident("staff:test", Resident{Name: "Atomic"})
	abort := errors.New("power cut")
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		if _, err := enrollTx(tx, db.kek, db.keys, time.Now(), "gate:front", res.ID, testEnrollment(newRand(1), 3)); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatal(err)
	}
	s, _ := db.Stats()
	if s.ResidentsWithFace != 0 || s.Templates != 0 || len(s.ConsentsByNotice) != 0 {
		t.Errorf("after an aborted enrollment Stats = %+v, want nothing stored", s)
	}
	if _, err := db.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestForEachTemplate(t *testing.T) {
	db, _, _ := newTestDB(t)
	r := newRand(23)
	want := map[string][]float32{}
	for i := range 60 {
		_, e := addEnrolled(t, db, r, "Gallery", 1+i%3)
		for _, tp := range e.Templates {
			want[tp.ID] = tp.Vector
		}
	}
	other, _ := db.AddResident("staff:test", Resident{Name: "Other Model"})
	oe := testEnrollment(r, 2)
	for i := range oe.Templates {
		oe.Templates[i].Model = "arcface-r100"
		oe.Templates[i].Vector = unitVector(r, 512)
	}
	if _, err := db.Enroll("staff:test", other.ID, oe); err != nil {
		t.Fatal(err)
	}

	var reference []string
	for _, workers := range []int{1, 2, 3, 8} {
		var keys []string
		err := db.view(func(tx *bolt.Tx) error {
			return forEachTemplate(tx, db.kek, "dlib-resnet-v1", workers, true, func(tp Template) error {
				if !slices.Equal(tp.Vector, want[tp.ID]) {
					t.Errorf("workers=%d: template %s vector differs", workers, tp.ID)
				}
				keys = append(keys, tp.ResidentID+"/"+tp.ID)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != len(want) || !slices.IsSorted(keys) {
			t.Errorf("workers=%d: %d templates (sorted %v), want %d in key order", workers, len(keys), slices.IsSorted(keys), len(want))
		}
		if reference == nil {
			reference = keys
		} else if !slices.Equal(keys, reference) {
			t.Errorf("workers=%d: order differs from workers=1", workers)
		}
	}
	n := 0
	if err := db.ForEachTemplate("", func(Template) error { n++; return nil }); err != nil || n != len(want)+2 {
		t.Errorf("ForEachTemplate(all models) = %d, %v; want %d", n, err, len(want)+2)
	}
	n = 0
	if err := db.ForEachTemplate("arcface-r100", func(tp Template) error {
		n++
		if len(tp.Vector) != 512 {
			t.Errorf("arcface vector has %d values", len(tp.Vector))
		}
		return nil
	}); err != nil || n != 2 {
		t.Errorf("ForEachTemplate(arcface) = %d, %v; want 2", n, err)
	}
	stop := errors.New("enough")
	n = 0
	if err := db.ForEachTemplate("", func(Template) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 5 {
		t.Errorf("ForEachTemplate with fn error = %d calls, %v; want 5, %v", n, err, stop)
	}
}
