package notice_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/notice"
)

var facts = notice.Facts{Gate: "north", Controller: "Acme Property", Contact: "office 1", Version: "2026-11", Retention: 365 * 24 * time.Hour}

func TestRender(t *testing.T) {
	for _, tt := range []struct{ lang, wantLang, want string }{
		{"", "zh-CN", "自您同意之日起 365 天"},
		{"zh", "zh-CN", "处理者：Acme Property（联系方式：office 1）"},
		{"en", "en", "Retention: 365 days from your consent"},
	} {
		n, err := notice.Render(facts, tt.lang)
		if err != nil {
			t.Fatalf("Render(%q) = %v", tt.lang, err)
		}
		if n.Language != tt.wantLang || n.Version != "2026-11" || !strings.Contains(n.Text, tt.want) || !strings.Contains(n.Text, "north") {
			t.Errorf("Render(%q) = %+v, want language %s and text with %q", tt.lang, n, tt.wantLang, tt.want)
		}
		sum := sha256.Sum256([]byte(n.Text))
		if n.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Render(%q).SHA256 = %s, not the hash of its text", tt.lang, n.SHA256)
		}
	}
	if _, err := notice.Render(facts, "fr"); err == nil {
		t.Errorf("Render(fr) = nil error, want no notice in that language")
	}
	// A changed fact changes the hash: a consent names the words agreed to.
	a, _ := notice.Render(facts, "en")
	f2 := facts
	f2.Retention = 30 * 24 * time.Hour
	b, _ := notice.Render(f2, "en")
	if a.SHA256 == b.SHA256 {
		t.Errorf("notices with different retention have the same hash")
	}
}
