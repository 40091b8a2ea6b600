package store_test

import (
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gated-dev/gated/internal/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "gated-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The daemon loads its key from a 0600 file (or a systemd credential).
	kek, err := store.GenerateKEKFile(filepath.Join(dir, "gated.key"))
	if err != nil {
		log.Fatal(err)
	}
	kek, err = store.LoadKEKFile(filepath.Join(dir, "gated.key"))
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "gated.db"), kek, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	res, err := db.AddResident("staff:wu", store.Resident{Name: "Li Wei", Unit: "3-201"})
	if err != nil {
		log.Fatal(err)
	}
	// Face is never the only way in: give the resident a card too.
	if err := db.AssignCard("staff:wu", res.ID, "04A1B2C3D4"); err != nil {
		log.Fatal(err)
	}
	descriptor := make([]float32, 128)
	descriptor[0] = 1
	_, err = db.Enroll("gate:front", res.ID, store.Enrollment{
		Consent: store.Consent{
			NoticeVersion: "2026-09",
			NoticeSHA256:  sha256.Sum256([]byte("the notice text shown on screen")),
			Language:      "zh-CN",
			Method:        store.ConsentAtDevice,
		},
		Templates: []store.Template{{Model: "dlib-resnet-v1", Vector: descriptor}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// At start the daemon loads every template into its matcher.
	n := 0
	err = db.ForEachTemplate("dlib-resnet-v1", func(t store.Template) error {
		n++ // a real caller copies t.Vector into its gallery here
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("templates loaded:", n)

	// The resident opts out: face data is destroyed, the card still works.
	rec, err := db.DestroyFaceData("staff:wu", res.ID, "resident withdrew consent at the desk")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("templates destroyed:", rec.Templates)
	id, _ := db.LookupCard("04A1B2C3D4")
	fmt.Println("card still opens for the same resident:", id == res.ID)
	if _, err := db.VerifyAudit(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// templates loaded: 1
	// templates destroyed: 1
	// card still opens for the same resident: true
}
