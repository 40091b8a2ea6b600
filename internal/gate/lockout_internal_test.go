package gate

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gated-dev/gated/internal/store"
)

// One card's PIN is checked at one reader at a time: a second check of the
// same card while one is under way (at another reader) is turned away, so
// readers side by side do not multiply a guesser's attempts (the red
// team's F11: two keypads at once got two guesses per lock-out window).
func TestOneCardOneCheckAtATime(t *testing.T) {
	kek, _ := store.GenerateKEK()
	st, err := store.Open(filepath.Join(t.TempDir(), "gated.db"), kek, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newLockout(LockoutPolicy{Free: 2}, st, time.Now, nil)
	ctx := context.Background()
	w, release, err := l.begin(ctx, "42", "front")
	if err != nil || w != 0 || release == nil {
		t.Fatalf("first begin = %v, %v", w, err)
	}
	if w, r2, _ := l.begin(ctx, "42", "back"); w == 0 || r2 != nil {
		t.Fatalf("a second check of the same card while the first runs: wait %v; want turned away", w)
	}
	if w, r3, _ := l.begin(ctx, "43", "back"); w != 0 || r3 == nil {
		t.Fatalf("another card at another reader: wait %v; want checked", w)
	} else {
		r3(checkPassed)
	}
	release(checkFailed)
	if w, r4, _ := l.begin(ctx, "42", "back"); w != 0 || r4 == nil {
		t.Fatalf("after the first check ended: wait %v; want checked", w)
	} else {
		r4(checkFailed)
	}
	// Both checks counted: the card is locked (Free = 2).
	if w, _, _ := l.begin(ctx, "42", "front"); w == 0 {
		t.Errorf("after 2 failures (Free 2) the card was not locked")
	}
}
