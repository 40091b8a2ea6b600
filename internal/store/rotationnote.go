package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// RotationNoteFile is the note, in the data dir, of the key file of the
// last rotation, kept until the configured key file is that key: a restart
// between `gated keys rotate` and moving the new key into place must not
// lock the gate out.
const RotationNoteFile = "rotated-key"

// RotationNote is that note for one data dir.
type RotationNote struct{ path string }

// NewRotationNote returns the note of the data dir dataDir.
func NewRotationNote(dataDir string) RotationNote {
	return RotationNote{path: filepath.Join(dataDir, RotationNoteFile)}
}

// Load loads the key the note names; keyPath is "" without a note. A weak
// key is usable here (the configured key's alarm says the rest).
func (n RotationNote) Load() (keyPath string, k KEK, err error) {
	b, err := os.ReadFile(n.path)
	if err != nil {
		return "", KEK{}, nil
	}
	keyPath = strings.TrimSpace(string(b))
	k, err = LoadKEKFile(keyPath)
	if errors.Is(err, ErrWeakKey) {
		err = nil
	}
	return keyPath, k, err
}

// Begin notes the new key's file, synced, before the store is sealed with
// it. It refuses while an earlier note stands: the store may be sealed with
// that key, which is not in place yet, and a second rotation would lose
// the way to it (red team 3, F2).
func (n RotationNote) Begin(keyPath string) error {
	before, err := os.ReadFile(n.path)
	switch {
	case err == nil:
		return fmt.Errorf("the last rotation is not finished: move %s over the configured key file (device.key_file), restart gated, then rotate again", strings.TrimSpace(string(before)))
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the note of the last rotation's key cannot be read: %w", err)
	}
	if err := replaceFileSync(n.path, []byte(keyPath+"\n")); err != nil {
		return fmt.Errorf("the new key's file cannot be noted in the data dir (a restart during the rotation would not open the store): %w", err)
	}
	return nil
}

// Remove removes the note: the configured key is the store's again, or
// the rotation did not happen.
func (n RotationNote) Remove() error {
	if err := os.Remove(n.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// replaceFileSync replaces name with data, mode 0600, through a synced
// temporary file (name + ".tmp") and a rename: a power cut leaves the old
// file or the new one, never a torn one.
func replaceFileSync(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}
