package config

import (
	"fmt"
	"time"
)

// Visitor is what residents may do with visitor passes ([visitor]): at the
// resident screen (3#, after their card and PIN) they issue passes within
// these limits. Staff passes (gated visitor add) are not limited by them.
// Every field is optional: zero means its default.
type Visitor struct {
	// KioskMaxValidity is how long a pass issued at the screen is valid
	// at most, from the moment it is issued (default 24 h).
	KioskMaxValidity Duration `toml:"kiosk_max_validity"`
	// KioskMaxUses is how many visits a pass issued at the screen allows
	// at most (default 5): the screen offers one visit or this many.
	KioskMaxUses int `toml:"kiosk_max_uses"`
	// KioskPerDay is how many passes one resident may issue at the
	// screen per local day, from midnight (default 3).
	KioskPerDay int `toml:"kiosk_per_day"`
}

// Defaults of [visitor].
const (
	DefaultKioskPassValidity = 24 * time.Hour
	DefaultKioskPassUses     = 5
	DefaultKioskPassesPerDay = 3
)

// MaxValidity is visitor.kiosk_max_validity, or its default.
func (v Visitor) MaxValidity() time.Duration {
	if v.KioskMaxValidity.Duration == 0 {
		return DefaultKioskPassValidity
	}
	return v.KioskMaxValidity.Duration
}

// MaxUses is visitor.kiosk_max_uses, or its default.
func (v Visitor) MaxUses() int {
	if v.KioskMaxUses == 0 {
		return DefaultKioskPassUses
	}
	return v.KioskMaxUses
}

// PerDay is visitor.kiosk_per_day, or its default.
func (v Visitor) PerDay() int {
	if v.KioskPerDay == 0 {
		return DefaultKioskPassesPerDay
	}
	return v.KioskPerDay
}

func (c *Config) checkVisitor() []error {
	var errs []error
	bad := func(field, problem, fix string) { errs = append(errs, fieldErr(c.path, field, problem, fix)) }
	v := c.Visitor
	if d := v.KioskMaxValidity.Duration; d != 0 && (d < 10*time.Minute || d > 7*24*time.Hour) {
		bad("visitor.kiosk_max_validity", v.KioskMaxValidity.String(), `use 10m to 7d, e.g. "24h"`)
	}
	if v.KioskMaxUses < 0 || v.KioskMaxUses > 100 {
		bad("visitor.kiosk_max_uses", fmt.Sprint(v.KioskMaxUses), "use 1-100 visits per pass, e.g. 5")
	}
	if v.KioskPerDay < 0 || v.KioskPerDay > 50 {
		bad("visitor.kiosk_per_day", fmt.Sprint(v.KioskPerDay), "use 1-50 passes per resident per day, e.g. 3")
	}
	return errs
}
