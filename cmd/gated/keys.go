package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/gated-dev/gated/internal/store"
)

func runKeygen(e *env, args []string) error {
	fs := newFlags(e, "keygen", "--out FILE [--owner USER]")
	out := fs.String("out", "", "the key file to create (mode 0600; never overwritten)")
	owner := fs.String("owner", "", "give the file to this user (the daemon's, e.g. gated); needs root")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	k, err := store.GenerateKEKFile(*out)
	if err != nil {
		return err
	}
	if *owner != "" {
		u, err := user.Lookup(*owner)
		if err != nil {
			os.Remove(*out)
			return err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(*out, uid, gid); err != nil {
			os.Remove(*out)
			return fmt.Errorf("give %s to %s: %w", *out, *owner, err)
		}
	}
	fmt.Fprintf(e.stdout, "created %s (%s); keep a copy offline: without it the store cannot be opened\n", *out, k.Fingerprint())
	return nil
}

func runKeys(e *env, args []string) error {
	return sub(e, "keys", args, map[string]func(*env, []string) error{
		"rotate": func(e *env, args []string) error {
			fs := newFlags(e, "keys rotate", "--new-key FILE")
			cf := addClientFlags(e, fs)
			nk := fs.String("new-key", "", "a new key file made with gated keygen, readable by the daemon")
			if _, err := positional(fs, args); err != nil {
				return err
			}
			if *nk == "" {
				return usageError{"--new-key is required"}
			}
			abs, err := filepath.Abs(*nk)
			if err != nil {
				return err
			}
			r, err := cf.client().RotateKey(e.ctx, abs)
			if err != nil {
				return err
			}
			if *cf.json {
				return writeJSON(e.stdout, r)
			}
			if r.Warning != "" {
				fmt.Fprintf(e.stderr, "warning: %s\n", r.Warning)
			}
			fmt.Fprintf(e.stdout, "rotated %s -> %s\nnow move %s over the configured key file (device.key_file) before the daemon restarts\n", r.Old, r.New, abs)
			return nil
		},
	})
}

func runBackup(e *env, args []string) error {
	if len(args) > 0 && args[0] == "list" {
		return backupList(e, args[1:])
	}
	fs := newFlags(e, "backup", "--out FILE | list")
	cf := addClientFlags(e, fs)
	out := fs.String("out", "", "the backup file to create (mode 0600; still encrypted)")
	if _, err := positional(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := cf.client().Backup(e.ctx, f); err != nil {
		f.Close()
		os.Remove(*out)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var size int64
	if st, err := os.Stat(*out); err == nil {
		size = st.Size()
	}
	if size < 4096 { // a store is at least a few pages
		os.Remove(*out)
		return fmt.Errorf("the daemon sent no whole backup (%d bytes): nothing was written", size)
	}
	fmt.Fprintf(e.stdout, "backup written to %s (%d bytes, encrypted under the gate's key)\n", *out, size)
	return nil
}

func runRestore(e *env, args []string) error {
	fs := newFlags(e, "restore", "FILE | --backup NAME|newest")
	cf := addClientFlags(e, fs)
	auto := fs.String("backup", "", `restore one of the gate's own automatic backups (gated backup list), or "newest": the newest that verifies`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *auto != "" {
		if fs.NArg() != 0 {
			return usageError{"give a FILE or --backup, not both"}
		}
		if err := cf.client().RestoreBackup(e.ctx, *auto); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup %s accepted (it verifies with the gate's key); the gate restarts on it now\n", *auto)
		return nil
	}
	pos, err := positional(fs, args, "FILE")
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	if err := cf.client().Restore(e.ctx, f); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup accepted (it opens with the gate's key); the gate restarts on it now\n")
	return nil
}

// backupList lists the gate's own automatic backups (in its data
// directory, where only the daemon may read them).
func backupList(e *env, args []string) error {
	fs := newFlags(e, "backup list", "[--json]")
	cf := addClientFlags(e, fs)
	if _, err := positional(fs, args); err != nil {
		return err
	}
	bs, err := cf.client().Backups(e.ctx)
	if err != nil {
		return err
	}
	if *cf.json {
		return writeJSON(e.stdout, bs)
	}
	if len(bs) == 0 {
		fmt.Fprintln(e.stdout, "no automatic backups yet (the gate takes one at start and every store.backup_every)")
		return nil
	}
	for _, b := range bs {
		fmt.Fprintf(e.stdout, "%s  %-9s  %s  %d bytes\n", b.Name, b.Kind, when(b.Taken), b.Size)
	}
	return nil
}
