package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gated-dev/gated/internal/api"
	"github.com/gated-dev/gated/internal/bundle"
)

func runCompound(e *env, args []string) error {
	return sub(e, "compound", args, map[string]func(*env, []string) error{
		"join":   compoundJoin,
		"status": compoundStatus,
		"export": compoundExport,
	})
}

func compoundJoin(e *env, args []string) error {
	fs := newFlags(e, "compound join", "--office KEY --compound NAME --gate NAME")
	cf := addClientFlags(e, fs)
	office := fs.String("office", "", "the property office's public key (gated1-...), from gated office init")
	name := fs.String("compound", "", "the compound's name")
	gate := fs.String("gate", "", "this gate's name at the office")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *office == "" || *name == "" || *gate == "" {
		return usageError{"--office, --compound and --gate are required"}
	}
	c, err := cf.client().JoinCompound(e.ctx, api.CompoundJoin{Office: *office, Compound: *name, Gate: *gate})
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, c)
	}
	fmt.Fprintf(e.stdout, "joined compound %s as gate %s; office key fingerprint %s (compare it with the office's)\n", c.Compound, c.Gate, c.OfficePrint)
	fmt.Fprintf(e.stdout, "this gate's key, for the office (gated office gate add %s KEY):\n%s\nfingerprint %s\n", c.Gate, c.Public, c.PublicPrint)
	return nil
}

func compoundStatus(e *env, args []string) error {
	fs := newFlags(e, "compound status", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	c, err := cf.client().Compound(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, c)
	}
	table(e.stdout, "compound gate applied events acked-audit residents cards passes", [][]string{{c.Compound, c.Gate,
		fmt.Sprint(c.Applied), fmt.Sprint(c.EventSeq), fmt.Sprint(c.AckedAudit), fmt.Sprint(c.Residents), fmt.Sprint(c.Cards), fmt.Sprint(c.Passes)}})
	fmt.Fprintf(e.stdout, "office key %s\ngate key   %s (%s)\n", c.OfficePrint, c.Public, c.PublicPrint)
	for _, w := range c.Warnings {
		fmt.Fprintln(e.stdout, "WARNING: "+w)
	}
	return nil
}

// compoundExport asks the daemon for its next event bundle and writes it
// into DIR (a USB stick): the CLI writes it, so the daemon writes nothing
// outside its data dir.
func compoundExport(e *env, args []string) error {
	fs := newFlags(e, "compound export", "DIR")
	cf := addClientFlags(e, fs)
	pos, err := positional(fs, args, "DIR")
	if err != nil {
		return err
	}
	f, err := cf.client().ExportEvents(e.ctx)
	if err != nil {
		return err
	}
	if strings.ContainsAny(f.Name, "/\\") || !strings.HasSuffix(f.Name, ".gevents") {
		return fmt.Errorf("compound export: the daemon named the bundle %q", f.Name)
	}
	p := filepath.Join(pos[0], f.Name)
	if err := bundle.WriteFile(p, f.Bytes, 0o640); err != nil {
		return fmt.Errorf("compound export: %w", err)
	}
	if *cf.json {
		return writeJSON(e.stdout, map[string]any{"file": p, "bytes": len(f.Bytes)})
	}
	fmt.Fprintf(e.stdout, "event bundle written: %s (%d bytes)\n", p, len(f.Bytes))
	return nil
}

// runImport hands a records bundle from a file (a USB stick) to the
// daemon, which verifies and applies it.
func runImport(e *env, args []string) error {
	fs := newFlags(e, "import", "FILE")
	cf := addClientFlags(e, fs)
	pos, err := positional(fs, args, "FILE")
	if err != nil {
		return err
	}
	fi, err := os.Stat(pos[0])
	if err != nil {
		return err
	}
	if fi.Size() > bundle.MaxPayload+4096 {
		return fmt.Errorf("import: %s is %d bytes, larger than any bundle", pos[0], fi.Size())
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	res, err := cf.client().Import(e.ctx, api.BundleFile{Name: filepath.Base(pos[0]), Bytes: b})
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, res)
	}
	kind := "delta"
	if res.Snapshot {
		kind = "snapshot"
	}
	fmt.Fprintf(e.stdout, "records %d (%s) applied: %d residents, %d removed, %d cards, %d passes, %d erasure orders carried out\n",
		res.Seq, kind, res.Residents, res.Removed, res.Cards, res.Passes, res.Erased)
	for _, d := range res.Deletions {
		fmt.Fprintf(e.stdout, "face data destroyed: %s, receipt %s, %d templates\n", d.Resident, d.ReceiptID, d.Templates)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stdout, "WARNING: "+w)
	}
	return nil
}
