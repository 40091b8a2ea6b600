package nir

import (
	"errors"
	"image"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// TestLoadSave: on a real store, no registration is ErrNotRegistered; a
// saved one reads back stamped with who and when, its change audited by
// the store; a damaged one is refused as unusable, not used.
func TestLoadSave(t *testing.T) {
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Load(st); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Load of a store without one: %v, want ErrNotRegistered", err)
	}
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	reg := Registration{Version: 1, Map: known, Pairs: 6, Colour: image.Pt(640, 480), NIR: image.Pt(640, 480)}
	saved, err := Save(st, "alice", at, reg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(st)
	if err != nil || got.By != "alice" || !got.At.Equal(at) || got.Map != known || got != saved {
		t.Fatalf("Load after Save = %+v, %v; want %+v", got, err, saved)
	}
	if err := st.SetSetting("mallory", Setting, []byte("not a registration")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(st); err == nil || errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("Load of a damaged registration: %v, want it refused as unusable", err)
	}
}
