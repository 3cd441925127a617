package buyer

import (
	"fmt"
	"testing"
	"time"
)

// TestGuestLimitsBoundedKeepBuckets: past max addresses the oldest
// generation goes, but an address in use keeps its (empty) bucket.
func TestGuestLimitsBoundedKeepBuckets(t *testing.T) {
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	g := newGuestLimits(0.001, 1, func() time.Time { return at })
	g.max = 10
	if ok, _ := g.allow("busy"); !ok {
		t.Fatal("first guest refused")
	}
	for i := range 1000 {
		g.allow(fmt.Sprint("a", i))
		if ok, _ := g.allow("busy"); ok {
			t.Fatalf("after %d other addresses the busy address's bucket was reset", i+1)
		}
	}
	if n := len(g.cur) + len(g.prev); n > 2*g.max {
		t.Fatalf("%d buckets held, want at most %d", n, 2*g.max)
	}
}
