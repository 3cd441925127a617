package wallethttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
)

// runUntilCleanup runs f until the test ends.
func runUntilCleanup(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestWalletOrderRefusals: over HTTP, a guest's wallet order is 403
// email_required (its card order is taken), a signed-in buyer's order over
// the balance is 402 insufficient_balance with the balance and words a
// buyer can act on, and after a top-up the same tap is 201. Each refusal
// counts in livedrop_wallet_refused_total by its reason.
func TestWalletOrderRefusals(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	cfg := checkout.Defaults()
	cfg.SyncInterval, cfg.RateLimitPerBuyer = 20*time.Millisecond, 0
	store, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, ctl.Run)
	drop := checkout.Drop{ID: "wo", Stream: "cam1", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: 10}}}
	if _, err := ctl.CreateDrop(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Open(ctx, drop.ID); err != nil {
		t.Fatal(err)
	}
	ws := wallet.NewMemStore()
	reg := prometheus.NewRegistry()
	m, err := wallet.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	card := checkout.NewTestProvider(cfg.Payment)
	e, err := checkout.NewEdge(checkout.EdgeParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg,
		DataDir: t.TempDir(), EdgeID: "e1", Store: store, Payment: wallet.NewPayments(card, ws, m, time.Now, logger)})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, e.Run)
	<-e.Ready()
	buyers := buyertest.New(t, "")
	tokens, err := checkouthttp.NewOrderTokens([]byte("wallet-orders-test-token-key"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := checkouthttp.NewEdgeAPI(checkouthttp.EdgeParams{Edge: e, Tokens: tokens, Sessions: buyers.Sessions(), Orders: e, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	NewEdgeAPI(wallet.NewWallets(ws, card, m, time.Now), buyers.Sessions(), time.Second, logger).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	orders := srv.URL + "/v1/drops/wo/orders"

	var refused checkouthttp.OrderError
	code, body := call(t, "POST", orders, buyers.Bearer("gus"), "g1", `{"sku":"tee","qty":1,"pay":"wallet"}`)
	if code != http.StatusForbidden || json.Unmarshal([]byte(body), &refused) != nil || refused.Code != "email_required" {
		t.Errorf("a guest's wallet order: %d %s, want 403 email_required", code, body)
	}
	if got := refusedTotal(t, reg, "email_required"); got != 1 {
		t.Errorf(`livedrop_wallet_refused_total{reason="email_required"} = %v after a guest's wallet order, want 1`, got)
	}
	if code, body := call(t, "POST", orders, buyers.Bearer("gus"), "g2", `{"sku":"tee","qty":1}`); code != http.StatusCreated {
		t.Errorf("a guest's card order: %d %s", code, body)
	}

	ann := buyers.EmailBearer("ann")
	code, body = call(t, "POST", orders, ann, "a1", `{"sku":"tee","qty":1,"pay":"wallet"}`)
	refused = checkouthttp.OrderError{}
	if code != http.StatusPaymentRequired || json.Unmarshal([]byte(body), &refused) != nil || refused.Code != "insufficient_balance" ||
		refused.BalanceCents == nil || *refused.BalanceCents != 0 || refused.Currency != "EUR" ||
		refused.Error != "Wallet balance too low: 0.00 EUR left, this order costs 25.00 EUR. Top up and tap again." {
		t.Fatalf("an order over the balance: %d %s, want 402 insufficient_balance", code, body)
	}
	if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", ann, "t1", `{"amount_cents":1000,"currency":"EUR"}`); code != http.StatusCreated {
		t.Fatalf("top-up: %d %s", code, body)
	}
	code, body = call(t, "POST", orders, ann, "a1", `{"sku":"tee","qty":1,"pay":"wallet"}`)
	if code != http.StatusPaymentRequired || json.Unmarshal([]byte(body), &refused) != nil || *refused.BalanceCents != 1000 {
		t.Fatalf("an order over a balance of 10.00: %d %s, want 402 with the balance", code, body)
	}
	if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", ann, "t2", `{"amount_cents":1500,"currency":"EUR"}`); code != http.StatusCreated {
		t.Fatalf("top-up: %d %s", code, body)
	}
	if code, body := call(t, "POST", orders, ann, "a1", `{"sku":"tee","qty":1,"pay":"wallet"}`); code != http.StatusCreated {
		t.Fatalf("the same tap after the top-up: %d %s", code, body)
	}
	if tot, err := store.Totals(ctx, "wo"); err != nil || tot.SKUs[0].Orders > 2 {
		t.Errorf("totals %+v %v: the refused taps ordered nothing", tot, err)
	}
	if e, i := refusedTotal(t, reg, "email_required"), refusedTotal(t, reg, "insufficient_balance"); e != 1 || i != 2 {
		t.Errorf("livedrop_wallet_refused_total: email_required %v, insufficient_balance %v; want 1 and 2", e, i)
	}
}

// refusedTotal reads livedrop_wallet_refused_total{reason} from reg as a
// scrape would (0 when never counted).
func refusedTotal(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "livedrop_wallet_refused_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return mm.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
