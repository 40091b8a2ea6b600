package nir

import (
	"errors"
	"fmt"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// Store is where the registration is kept (*store.DB): a sealed setting,
// its change audited by the store with the actor.
type Store interface {
	Setting(name string) ([]byte, error)
	SetSetting(actor, name string, value []byte) error
}

// ErrNotRegistered is Load's error when staff never registered the camera.
var ErrNotRegistered = errors.New("nir: the NIR camera is not registered")

// Load reads the stored registration: ErrNotRegistered when there is none,
// else an error saying whether it could not be read or does not decode.
func Load(st Store) (Registration, error) {
	b, err := st.Setting(Setting)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Registration{}, ErrNotRegistered
	case err != nil:
		return Registration{}, fmt.Errorf("nir: the registration cannot be read: %w", err)
	}
	reg, err := Decode(b)
	if err != nil {
		return Registration{}, fmt.Errorf("nir: the registration is unusable: %w", err)
	}
	return reg, nil
}

// Save stores reg as made by actor at now, and returns it so stamped.
func Save(st Store, actor string, now time.Time, reg Registration) (Registration, error) {
	reg.At, reg.By = now.UTC(), actor
	b, err := Encode(reg)
	if err != nil {
		return Registration{}, err
	}
	if err := st.SetSetting(actor, Setting, b); err != nil {
		return Registration{}, fmt.Errorf("nir: store the registration: %w", err)
	}
	return reg, nil
}
