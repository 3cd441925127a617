package chrometest_test

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/webui"
)

// TestConsoleLiveOrders: the console, on a real control API and store,
// shows an order in its live feed within a second of the store recording
// it, refunds it with its unit back on sale, and shows it refunded.
func TestConsoleLiveOrders(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: checkout.Defaults(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	api, err := checkouthttp.NewControlAPI(ctl, consoleToken, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	apiDone := make(chan struct{})
	go func() { _ = api.Run(actx); close(apiDone) }()
	defer func() { acancel(); <-apiDone }()
	u, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterConsole(mux)
	api.Register(mux)
	mux.HandleFunc("POST /whep/{stream}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "stream not found", http.StatusNotFound)
	})
	base := serve(t, mux).URL

	if _, err := ctl.CreateDrop(ctx, checkout.Drop{ID: "d1", Stream: "demo", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee",
		PriceCents: 2500, Currency: "EUR", Stock: 5, MaxPerBuyer: 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Open(ctx, "d1"); err != nil {
		t.Fatal(err)
	}

	b := chrometest.Start(t)
	p, err := b.Open(ctx, base+"/console")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)
	if err := p.Type(ctx, tid("token"), consoleToken); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	// The console picks d1 (no drop list here: its default).
	mustWait(ctx, t, p, `window.livedropOrders && window.livedropOrders.live()`, 15*time.Second)
	// The drop panel links its report and its printable sign.
	mustWait(ctx, t, p, `document.querySelector('[data-testid="report-link"]').getAttribute('href') === '/report/d1' &&
		document.querySelector('[data-testid="sign-link"]').getAttribute('href') === '/sign/d1?ch=qr'`, 5*time.Second)

	// A viewer buys (the edge's sale, straight into the store).
	o := checkout.Order{ID: checkout.OrderID("d1", "viewer1", "k1"), Drop: "d1", SKU: "tee", Qty: 1, Buyer: "viewer1",
		PriceCents: 2500, Currency: "EUR", TotalCents: 2500, Status: checkout.StatusPending, Edge: "e1", CreatedAt: time.Now().UTC()}
	r, err := st.SellDirect(ctx, checkout.ShipItem{Order: o, Hold: time.Minute})
	if err != nil || r.Outcome != checkout.OutcomeCreated {
		t.Fatalf("sale: %+v %v", r, err)
	}
	if _, err := st.ConfirmPayment(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	row := `document.querySelector('[data-testid="order-` + o.ID + `"]')`
	sold := time.Now()
	mustWait(ctx, t, p, row+` !== null`, time.Second)
	t.Logf("order in the console %v after the store recorded it", time.Since(sold))
	if tt, _ := st.Totals(ctx, "d1"); tt.SKUs[0].Free != 4 {
		t.Fatalf("free before the refund: %+v", tt.SKUs[0])
	}

	// Refund it, its unit back on sale (the box is ticked by default).
	if err := p.Click(ctx, tid("order-"+o.ID)+` [data-testid="order-refund"]`); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, row+`.querySelector('[data-testid="order-status"]').textContent === 'refunded'`, 10*time.Second)
	got, err := st.Order(ctx, o.ID)
	if err != nil || got.Status != checkout.StatusRefunded {
		t.Fatalf("order after the refund: %+v %v", got, err)
	}
	tt, _ := st.Totals(ctx, "d1")
	if s := tt.SKUs[0]; s.Free != 5 || s.Sold != 0 || s.Refunded != 1 {
		t.Fatalf("totals after the refund: %+v", s)
	}
}
