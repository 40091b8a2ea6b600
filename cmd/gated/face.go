package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gated-dev/gated/internal/api"
)

func runFace(e *env, args []string) error {
	return sub(e, "face", args, map[string]func(*env, []string) error{
		"enroll":    faceEnroll,
		"delete":    faceDelete,
		"reconsent": faceReconsent,
	})
}

// photoList collects repeated --photo flags.
type photoList []string

func (p *photoList) String() string     { return fmt.Sprint(*p) }
func (p *photoList) Set(s string) error { *p = append(*p, s); return nil }

func faceEnroll(e *env, args []string) error {
	fs := newFlags(e, "face enroll", "ID (--photo FILE... | --camera) --consent paper|device [flags]")
	cf := addClientFlags(e, fs)
	var photos photoList
	fs.Var(&photos, "photo", "a JPEG or PNG photo of the resident (repeat for several; 3 is good)")
	cam := fs.Bool("camera", false, "capture from the gate's camera instead (the resident stands in front of it)")
	frames := fs.Int("frames", 3, "good frames to capture with --camera")
	timeout := fs.Duration("timeout", 30*time.Second, "how long --camera may take")
	consent := fs.String("consent", "", `how consent was given: "paper" (a signed form, recorded by you) or "device"`)
	lang := fs.String("language", "zh", "language of the notice the resident read: zh or en")
	notice := fs.String("notice-version", "", "the notice version on the signed form (default: the gate's current notice)")
	gName := fs.String("guardian-name", "", "for a resident under 14: the parent or guardian who consented")
	gRel := fs.String("guardian-relation", "", "their relation, e.g. mother, legal guardian")
	gID := fs.String("guardian-id", "", "their resident ID, if they live here")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if *consent == "" {
		return usageError{"--consent is required: face data is enrolled only with the resident's separate consent (paper or device)"}
	}
	if (len(photos) > 0) == *cam {
		return usageError{"give --photo files or --camera"}
	}
	req := api.Enroll{Camera: *cam, Frames: *frames, Timeout: api.Duration{Duration: *timeout}, Method: *consent, Language: *lang, NoticeVersion: *notice}
	if *gName != "" || *gRel != "" || *gID != "" {
		req.Guardian = &api.Guardian{Name: *gName, Relation: *gRel, ResidentID: *gID}
	}
	for _, p := range photos {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		req.Photos = append(req.Photos, b)
	}
	if *cam {
		fmt.Fprintln(e.stderr, "look at the gate's camera...")
	}
	out, err := cf.client().Enroll(e.ctx, pos[0], req)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, out)
	}
	for _, r := range out.Refused {
		fmt.Fprintf(e.stdout, "refused %s\n", r)
	}
	fmt.Fprintf(e.stdout, "enrolled %s: %d templates; consent %s (notice %s, %s, %s)\n", out.Resident, out.Templates, out.Consent.ID, out.Consent.NoticeVersion, out.Consent.Language, out.Consent.Method)
	return nil
}

func faceDelete(e *env, args []string) error {
	fs := newFlags(e, "face delete", "ID --reason TEXT [--requested YYYY-MM-DD]")
	cf := addClientFlags(e, fs)
	reason := fs.String("reason", "", `why, e.g. "consent withdrawn at the office"`)
	requested := fs.String("requested", "", "the date the resident asked for it (a dated cancellation form); default now")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if *reason == "" {
		return usageError{"--reason is required"}
	}
	var at time.Time
	if *requested != "" {
		if at, err = time.ParseInLocation("2006-01-02", *requested, time.Local); err != nil {
			return usageError{"--requested: want a date YYYY-MM-DD"}
		}
	}
	d, err := cf.client().DeleteFace(e.ctx, pos[0], *reason, at)
	if err != nil {
		return err
	}
	return printDeletion(e, d, *cf.json, "face data destroyed; card and PIN keep working")
}

func faceReconsent(e *env, args []string) error {
	fs := newFlags(e, "face reconsent", "ID --consent paper|device [--language zh|en] [--guardian-name N --guardian-relation R]")
	cf := addClientFlags(e, fs)
	consent := fs.String("consent", "", `how the renewed consent was given: "paper" or "device"`)
	lang := fs.String("language", "zh", "language of the notice: zh or en")
	notice := fs.String("notice-version", "", "the notice version on the signed form (default: the gate's current notice)")
	gName := fs.String("guardian-name", "", "for a resident under 14: the parent or guardian")
	gRel := fs.String("guardian-relation", "", "their relation")
	pos, err := positional(fs, args, "ID")
	if err != nil {
		return err
	}
	if *consent == "" {
		return usageError{"--consent is required"}
	}
	req := api.Enroll{Method: *consent, Language: *lang, NoticeVersion: *notice}
	if *gName != "" || *gRel != "" {
		req.Guardian = &api.Guardian{Name: *gName, Relation: *gRel}
	}
	c, err := cf.client().Reconsent(e.ctx, pos[0], req)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, c)
	}
	fmt.Fprintf(e.stdout, "consent renewed for %s: %s (notice %s, %s, %s)\n", pos[0], c.ID, c.NoticeVersion, c.Language, c.Method)
	return nil
}
