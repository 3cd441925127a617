package checkout

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLotteryEntryKeepsItsPrice: an entry made at an edge of a region with
// its own price is drawn at that price and currency, as the card there
// showed it; an entry at an edge of a region without one pays the base
// price. Both stores.
func TestLotteryEntryKeepsItsPrice(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			clock := &testClock{t: t0}
			ctl := newControlAt(t, s, clock)
			run(t, ctl.Run)
			us, jp := regionEdge(t, s, "e-us", "us"), regionEdge(t, s, "e-jp", "jp")
			d := lotteryDrop("lotp", 10, 1, t0.Add(time.Second))
			d.SKUs[0].Prices = map[string]RegionalPrice{"us": {Currency: "USD", Cents: 2900}}
			if _, err := ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			clock.set(t0.Add(time.Second))
			eventually(t, 10*time.Second, "the window to open", func() bool { return dropState(t, s, d.ID) == StateDrawing })
			ids := map[string]string{}
			for buyer, e := range map[string]*Edge{"ann": us, "bob": jp} {
				_, err := buy(e, d.ID, buyer, 1)
				var ee *EntryError
				if !errors.As(err, &ee) || ClassOf(err) != ClassInLine {
					t.Fatalf("%s: %v, want in line", buyer, err)
				}
				ids[buyer] = ee.Entry.ID
			}
			clock.set(t0.Add(3 * time.Second))
			eventually(t, 20*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
			for buyer, want := range map[string]struct {
				cents int64
				cur   string
			}{"ann": {2900, "USD"}, "bob": {d.SKUs[0].PriceCents, d.SKUs[0].Currency}} {
				o, err := s.Order(ctx, ids[buyer])
				if err != nil {
					t.Fatalf("%s's order: %v", buyer, err)
				}
				if o.PriceCents != want.cents || o.Currency != want.cur || o.TotalCents != want.cents {
					t.Fatalf("%s's drawn order: %d %s (total %d), want %d %s", buyer, o.PriceCents, o.Currency, o.TotalCents, want.cents, want.cur)
				}
			}
		})
	}
}
