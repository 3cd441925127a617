package checkout

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTotalsRevenueByCurrency: a drop sold at regional prices in EUR and
// USD keeps its revenue per currency in the live totals, never added
// together; a refunded order leaves them. By hand: eu 2 x 24.00 EUR, jp
// 1 x 25.00 EUR (the base price), us 1 x 29.00 USD, and a us order of
// 1 x 29.00 USD refunded: EUR 73.00, USD 29.00; the SKU's revenue_cents is
// its EUR only. A drop in one currency reads it from the counters. Both
// stores.
func TestTotalsRevenueByCurrency(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarnessOn(t, testConfig(), s)
			edges := map[string]*Edge{}
			for _, region := range []string{"eu", "us", "jp"} {
				e, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(),
					DataDir: t.TempDir(), EdgeID: "e-" + region, Region: region, Store: s})
				if err != nil {
					t.Fatal(err)
				}
				run(t, e.Run)
				<-e.Ready()
				edges[region] = e
			}
			d := testDrop("rc", 20, 0)
			d.SKUs[0].Prices = map[string]RegionalPrice{"eu": {Currency: "EUR", Cents: 2400}, "us": {Currency: "USD", Cents: 2900}}
			h.open(t, d)
			var refund string
			for i, b := range []struct {
				region string
				qty    int
			}{{"eu", 2}, {"jp", 1}, {"us", 1}, {"us", 1}} {
				o, err := edges[b.region].PlaceOrder(ctx, OrderRequest{Drop: "rc", SKU: "tee", Qty: b.qty, Buyer: "b" + string(rune('a'+i)), IdempotencyKey: "k" + string(rune('a'+i))})
				if err != nil {
					t.Fatalf("order %d: %v", i, err)
				}
				eventually(t, 10*time.Second, "the order in the store", func() bool { _, err := s.Order(ctx, o.ID); return err == nil })
				refund = o.ID
			}
			if _, err := h.ctl.RefundOrder(ctx, refund, true); err != nil {
				t.Fatal(err)
			}
			tt, err := h.ctl.Totals(ctx, "rc")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]int64{"EUR": 7300, "USD": 2900}; !maps.Equal(tt.RevenueByCurrency, want) || !maps.Equal(tt.SKURevenueByCurrency["tee"], want) {
				t.Fatalf("revenue by currency %v, SKU %v, want %v", tt.RevenueByCurrency, tt.SKURevenueByCurrency, want)
			}
			if tt.SKUs[0].RevenueCents != 7300 || tt.SKUs[0].Currency != "EUR" {
				t.Fatalf("SKU revenue %d %s, want 7300 EUR only", tt.SKUs[0].RevenueCents, tt.SKUs[0].Currency)
			}

			h.open(t, testDrop("one", 5, 0))
			if _, err := edges["us"].PlaceOrder(ctx, OrderRequest{Drop: "one", SKU: "tee", Qty: 2, Buyer: "bz", IdempotencyKey: "kz"}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the order counted", func() bool {
				tt, err := h.ctl.Totals(ctx, "one")
				return err == nil && maps.Equal(tt.RevenueByCurrency, map[string]int64{"EUR": 5000}) && tt.SKUs[0].RevenueCents == 5000
			})
		})
	}
}
