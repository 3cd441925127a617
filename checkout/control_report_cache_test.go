package checkout

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCachedSales: the report's read of a drop's orders is kept while
// nothing changed, and read again after a new order, a refund, or
// reportMaxAge (a payment confirmed at an edge).
func TestCachedSales(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := &testClock{t: time.Now()}
			ctl, err := NewControl(ControlParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(), Store: s,
				Now: clock.now, Payment: NewTestProvider(PaymentConfig{})})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateDrop(ctx, testDrop("c1", 10, 1)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "c1", StateOpen); err != nil {
				t.Fatal(err)
			}
			sold := sellN2(t, s, "c1", "a", 2)
			read := func() []Order {
				t.Helper()
				_, orders, err := ctl.CachedSales(ctx, "c1")
				if err != nil {
					t.Fatal(err)
				}
				return orders
			}
			first := read()
			if again := read(); len(first) != 2 || &again[0] != &first[0] {
				t.Fatalf("second read of unchanged orders was not the cached one (%d orders)", len(first))
			}
			sellN2(t, s, "c1", "b", 1)
			if got := read(); len(got) != 3 {
				t.Fatalf("after a new order: %d orders, want 3", len(got))
			}
			if _, err := ctl.RefundOrder(ctx, sold[0].ID, true); err != nil {
				t.Fatal(err)
			}
			got := read()
			if o := got[0]; o.ID != sold[0].ID || (o.Status != StatusRefunded && o.Status != StatusCancelled) {
				t.Fatalf("after the refund the first order is %s %s", o.ID, o.Status)
			}
			if _, err := s.ConfirmPayment(ctx, sold[1].ID); err != nil {
				t.Fatal(err)
			}
			if read()[1].Status == StatusPaid {
				t.Fatal("cache re-read before reportMaxAge without a new order")
			}
			clock.set(clock.now().Add(reportMaxAge))
			if read()[1].Status != StatusPaid {
				t.Fatal("a payment confirmed at an edge is not seen after reportMaxAge")
			}
		})
	}
}
