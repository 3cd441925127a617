package auction

import (
	"context"
	"slices"
	"testing"
)

// TestStoreListsLotsAndKeepsTheirStart: the event report's reads, on both
// stores: every lot's id (settled ones too) and when a lot was started.
func TestStoreListsLotsAndKeepsTheirStart(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		before, _ := s.Now(ctx)
		a := testLot()
		a.ID = "la"
		snap := createLive(t, s, a)
		after, _ := s.Now(ctx)
		b := testLot()
		b.ID = "lb"
		b.Normalize()
		if err := s.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		if snap.StartedMS < before.UnixMilli() || snap.StartedMS > after.UnixMilli() ||
			snap.State.EndsMS != snap.StartedMS+a.DurationMS {
			t.Fatalf("started at %d, ends %d: want between %d and %d, ending a duration later", snap.StartedMS, snap.State.EndsMS,
				before.UnixMilli(), after.UnixMilli())
		}
		if got, _ := s.Lot(ctx, "la"); got.StartedMS != snap.StartedMS {
			t.Fatalf("read back started %d, want %d", got.StartedMS, snap.StartedMS)
		}
		if got, _ := s.Lot(ctx, "lb"); got.StartedMS != 0 {
			t.Fatalf("a lot not started says it started at %d", got.StartedMS)
		}
		if _, err := s.Close(ctx, "la"); err != nil { // settled: no longer open, still listed
			t.Fatal(err)
		}
		ids, err := s.Lots(ctx)
		if err != nil || !slices.Equal(ids, []string{"la", "lb"}) {
			t.Fatalf("lots %v %v, want [la lb]", ids, err)
		}
		if open, _ := s.Open(ctx); slices.Contains(open, "la") {
			t.Fatalf("open lots %v still hold the settled one", open)
		}
	})
}
