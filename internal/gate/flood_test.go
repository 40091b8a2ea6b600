package gate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gated-dev/gated/internal/gate"
)

// TestRefusalFloodIsCounted (red team, issue 15): a burst of refusals that
// name nobody (unknown cards, fake QR codes) is audited one by one up to 30
// a minute per reader and method, the rest as one counted entry; a
// resident's refusal is always itemised, and nothing is lost.
func TestRefusalFloodIsCounted(t *testing.T) {
	fx := setup(t, gate.Config{})
	for i := range 100 {
		if d := decide(t, fx.g, card(fmt.Sprint(7000+i))); d.Outcome != gate.Denied {
			t.Fatalf("unknown card %d: %+v", i, d)
		}
	}
	decide(t, fx.g, at("back", card("6999")))
	unknown := func() (itemised, counted int) {
		for _, e := range accessEntries(fx.audit(t)) {
			switch {
			case strings.Contains(e.Detail, "reason=unknown card") && strings.Contains(e.Detail, "reader=front"):
				itemised++
			case strings.Contains(e.Detail, "not recorded one by one"):
				if !strings.Contains(e.Detail, "method=card front refusals=70 ") {
					t.Errorf("summary %q, want 70 refusals of method card at front", e.Detail)
				}
				counted++
			}
		}
		return itemised, counted
	}
	if it, c := unknown(); it != 30 || c != 0 {
		t.Errorf("100 unknown cards at front: %d itemised and %d summaries before the flush, want 30 and 0", it, c)
	}
	n := 0
	for _, e := range accessEntries(fx.audit(t)) {
		if strings.Contains(e.Detail, "reader=back") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the back reader's one refusal: %d entries, want 1 (counted apart)", n)
	}
	fx.g.FlushRefusals(true)
	if it, c := unknown(); it != 30 || c != 1 {
		t.Errorf("after the flush: %d itemised and %d summaries, want 30 and 1", it, c)
	}
}
