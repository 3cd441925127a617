package pickup_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
)

// TestPastDayListsOrdersOpenThatDay: a past day's pickup list holds every
// pickup order that was open or collected that day. An order made on day
// 1 and collected on day 3 is on the lists of days 1, 2 and 3, not day 4;
// one collected on the day it was made is on that day's list only; one
// still open is on every day from its creation. Both stores.
func TestPastDayListsOrdersOpenThatDay(t *testing.T) {
	day := func(n int) time.Time { return time.Date(2026, 12, n, 0, 0, 0, 0, time.UTC) }
	orders := fakeOrders{
		{ID: "d1.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: day(1).Add(10 * time.Hour)},
		{ID: "d1.bbbbbbbbbbbbbbbbbbbbbbbb", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: day(1).Add(9 * time.Hour)},
		{ID: "d1.cccccccccccccccccccccccc", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: day(2).Add(15 * time.Hour)},
	}
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			codes := testCodes(t)
			var now time.Time
			d, err := pickup.NewDesks(pickup.Params{Orders: orders, Codes: codes, Store: st, Now: func() time.Time { return now },
				Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			a, b, c := codes.Code(orders[0].ID), codes.Code(orders[1].ID), codes.Code(orders[2].ID)
			collect := func(code string, at time.Time) {
				t.Helper()
				now = at
				res, err := d.Sync(ctx, []pickup.Collection{{Code: code, Desk: "desk-a", At: at}})
				if err != nil || res[0].Status != "collected" {
					t.Fatalf("sync at %v: %+v %v", at, res, err)
				}
			}
			collect(b, day(1).Add(12*time.Hour)) // b on the day it was made
			collect(a, day(3).Add(11*time.Hour)) // a two days later
			now = day(4).Add(9 * time.Hour)
			want := map[int][]string{1: {b, a}, 2: {a, c}, 3: {a, c}, 4: {c}}
			for n := 1; n <= 4; n++ {
				l, err := d.List(ctx, day(n))
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range l.Items {
					got = append(got, it.Code)
				}
				if !slices.Equal(got, want[n]) {
					t.Errorf("list of %s: %v, want %v (a=%s b=%s c=%s)", l.Day, got, want[n], a, b, c)
				}
			}
		})
	}
}

// TestIndexAfterCollection: a code collected before its order was indexed
// is still listed on every day from the order's creation to the
// collection. Both stores.
func TestIndexAfterCollection(t *testing.T) {
	day := func(n int) time.Time { return time.Date(2026, 12, n, 0, 0, 0, 0, time.UTC) }
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := st.Collect(ctx, pickup.Collection{Code: "QRSTUVWX", Desk: "desk-a", At: day(3).Add(time.Hour), Order: "d1.x"}); err != nil {
				t.Fatal(err)
			}
			if err := st.Index(ctx, []pickup.IndexEntry{{Code: "QRSTUVWX", Order: "d1.x", Created: day(1).Add(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 4; n++ {
				codes, err := st.DayCodes(ctx, day(n))
				if err != nil {
					t.Fatal(err)
				}
				if got := slices.Contains(codes, "QRSTUVWX"); got != (n <= 3) {
					t.Errorf("day %d lists the code: %v, want %v", n, got, n <= 3)
				}
			}
		})
	}
}
