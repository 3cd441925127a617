package checkout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegionalPrices: an edge sells at its region's price and the order
// records it; an edge of a region without one sells at the base price;
// a bad regional price is refused naming the field. Both stores.
func TestRegionalPrices(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarnessOn(t, testConfig(), s)
			edge := func(id, region string) *Edge { return regionEdge(t, s, id, region) }
			d := testDrop("rp", 10, 0)
			d.SKUs[0].Prices = map[string]RegionalPrice{"eu": {Currency: "EUR", Cents: 2400}, "us": {Currency: "USD", Cents: 2900}}
			h.open(t, d)
			for _, tc := range []struct {
				region, cur string
				cents       int64
			}{{"eu", "EUR", 2400}, {"us", "USD", 2900}, {"jp", "EUR", 2500}} {
				e := edge("e-"+tc.region, tc.region)
				o, err := e.PlaceOrder(ctx, OrderRequest{Drop: "rp", SKU: "tee", Qty: 2, Buyer: "b-" + tc.region, IdempotencyKey: "k"})
				if err != nil {
					t.Fatalf("%s: %v", tc.region, err)
				}
				if o.PriceCents != tc.cents || o.Currency != tc.cur || o.TotalCents != 2*tc.cents || o.Region != tc.region {
					t.Fatalf("%s: order %+v, want %d %s each", tc.region, o, tc.cents, tc.cur)
				}
				p, ok := e.RegionalPrice(ctx, "rp", "tee")
				if want := tc.region != "jp"; ok != want || ok && (p.Cents != tc.cents || p.Currency != tc.cur) {
					t.Fatalf("%s: RegionalPrice = %+v %v", tc.region, p, ok)
				}
				eventually(t, 10*time.Second, "the order in the store", func() bool {
					got, err := s.Order(ctx, o.ID)
					return err == nil && got.PriceCents == tc.cents && got.Currency == tc.cur
				})
			}
			bad := testDrop("bad", 1, 0)
			bad.SKUs[0].Prices = map[string]RegionalPrice{"us": {Currency: "usd", Cents: 1}}
			if _, err := h.ctl.CreateDrop(ctx, bad); ClassOf(err) != ClassInvalid || !strings.Contains(err.Error(), "skus[0].prices.us.currency") {
				t.Fatalf("bad regional price: %v", err)
			}
			bad.SKUs[0].Prices = map[string]RegionalPrice{"u s": {Currency: "USD", Cents: 1}}
			if _, err := h.ctl.CreateDrop(ctx, bad); ClassOf(err) != ClassInvalid || !strings.Contains(err.Error(), "skus[0].prices: region") {
				t.Fatalf("bad region: %v", err)
			}
		})
	}
}

// regionEdge runs an edge of region on s, ready.
func regionEdge(t *testing.T, s Store, id, region string) *Edge {
	t.Helper()
	e, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(),
		DataDir: t.TempDir(), EdgeID: id, Region: region, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.Run)
	<-e.Ready()
	return e
}
