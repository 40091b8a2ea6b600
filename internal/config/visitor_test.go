package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/config"
)

func TestVisitor(t *testing.T) {
	c, err := config.Parse("gated.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Visitor; v.MaxValidity() != 24*time.Hour || v.MaxUses() != 5 || v.PerDay() != 3 {
		t.Errorf("[visitor] defaults = %v, %d, %d; want 24h, 5, 3", v.MaxValidity(), v.MaxUses(), v.PerDay())
	}
	c, err = config.Parse("gated.toml", []byte(minimal+"[visitor]\nkiosk_max_validity = \"8h\"\nkiosk_max_uses = 2\nkiosk_per_day = 1\n"))
	if err != nil {
		t.Fatalf("Parse([visitor] set) = %v, want nil", err)
	}
	if v := c.Visitor; v.MaxValidity() != 8*time.Hour || v.MaxUses() != 2 || v.PerDay() != 1 {
		t.Errorf("[visitor] = %v, %d, %d; want 8h, 2, 1", v.MaxValidity(), v.MaxUses(), v.PerDay())
	}
	for _, tt := range []struct{ name, file, want string }{
		{"validity too long", "kiosk_max_validity = \"30d\"\n", "visitor.kiosk_max_validity: 720h0m0s; use 10m to 7d"},
		{"validity too short", "kiosk_max_validity = \"1m\"\n", "visitor.kiosk_max_validity"},
		{"negative uses", "kiosk_max_uses = -1\n", "visitor.kiosk_max_uses: -1"},
		{"too many uses", "kiosk_max_uses = 1000\n", "visitor.kiosk_max_uses: 1000"},
		{"negative per day", "kiosk_per_day = -2\n", "visitor.kiosk_per_day: -2"},
		{"misspelt", "kiosk_per_days = 2\n", "visitor.kiosk_per_days: unknown setting"},
	} {
		_, err := config.Parse("gated.toml", []byte(minimal+"[visitor]\n"+tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
