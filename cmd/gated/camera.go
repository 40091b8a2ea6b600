package main

import (
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/api"
)

func runCamera(e *env, args []string) error {
	return sub(e, "camera", args, map[string]func(*env, []string) error{
		"nir-register": cameraNIRRegister,
	})
}

// cameraNIRRegister is the guided registration of the colour and NIR
// cameras ([camera.nir]): one person stands in front of both; the gate
// fits where a face in the colour frame lies in the NIR frame, refuses a
// poor or degenerate fit, and stores and audits it.
func cameraNIRRegister(e *env, args []string) error {
	fs := newFlags(e, "camera nir-register", "[--pairs N] [--timeout D]")
	cf := addClientFlags(e, fs)
	pairs := fs.Int("pairs", 10, "frame pairs with exactly one face in each camera to fit on")
	timeout := fs.Duration("timeout", 60*time.Second, "how long the collection may take (at most 2m)")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if !*cf.json {
		fmt.Fprintf(e.stdout, "One person (only one) stands 0.5-1.5 m in front of the gate, facing both cameras, and moves slowly\nacross the view (left, right, nearer, farther) until %d frame pairs are taken (up to %s)...\n", *pairs, *timeout)
	}
	r, err := cf.client().RegisterNIR(e.ctx, api.NIRRegister{Pairs: *pairs, Timeout: api.Duration{Duration: *timeout}})
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "NIR camera registered: %s\n(stored in the gate's store and audited; the NIR check is not measured on NIR hardware: docs/liveness.md)\n", r.Summary)
	return nil
}
