package checkouthttp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// BenchmarkReport10kOrders is the event report of a drop of 10 000 orders
// as the live KPI screen asks it, once a second: "reread" reads every
// order from the store each time (the report before its cache), "cached"
// is GET /v1/drops/{id}/report with the drop's orders unchanged since the
// last read.
//
//	go test -run '^$' -bench Report10kOrders -benchmem ./checkout/checkouthttp/
func BenchmarkReport10kOrders(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenMemStore(filepath.Join(b.TempDir(), "journal"), nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n = 10_000
	d := checkout.Drop{ID: "big", Stream: "demo", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: n}}}
	if err := st.CreateDrop(ctx, d); err != nil {
		b.Fatal(err)
	}
	if err := st.SetState(ctx, "big", checkout.StateOpen); err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	for i := range n {
		buyer := fmt.Sprintf("b%d", i%3000)
		o := checkout.Order{ID: checkout.OrderID("big", buyer, fmt.Sprint(i)), Drop: "big", SKU: "tee", Qty: 1, Buyer: buyer,
			PriceCents: 2500, Currency: "EUR", TotalCents: 2500, Status: checkout.StatusPending, Edge: "e1",
			CreatedAt: start.Add(time.Duration(i) * 300 * time.Millisecond), Channel: []string{"qr", "social", "direct"}[i%3], Region: "eu"}
		if r, err := st.SellDirect(ctx, checkout.ShipItem{Order: o}); err != nil || r.Outcome != checkout.OutcomeCreated {
			b.Fatalf("order %d: %+v %v", i, r, err)
		}
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: checkout.Defaults(), Store: st})
	if err != nil {
		b.Fatal(err)
	}
	api, err := NewControlAPI(ctl, "bench-token-0123456789", log, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/drops/big/report", nil)
	req.SetPathValue("id", "big")
	b.Run("reread", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, orders, err := ctl.Sales(ctx, "big")
			if err != nil || len(orders) != n {
				b.Fatalf("%d orders, %v", len(orders), err)
			}
			if _, err := api.reportOf(req, d, orders); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			api.report(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("report: %d %s", w.Code, w.Body)
			}
		}
	})
}
