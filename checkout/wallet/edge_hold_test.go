package wallet

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/redistest"
)

// backing is a checkout store and the wallet store beside it, as a node
// builds them (internal/app/wallet.go).
type backing struct {
	name   string
	orders checkout.Store
	wallet Store
}

func backings(t *testing.T) []backing {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	srv := redistest.Start(t, redistest.Options{})
	rs, err := checkout.OpenRedisStore(context.Background(), srv.URL(), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return []backing{{"embedded", ms, NewMemStore()}, {"redis", rs, NewRedisStore(rs.Client())}}
}

// runFor runs f until the test ends.
func runFor(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEdgeRefusesAWalletOrderUpFront: an order paid from a wallet that
// does not cover it is refused before it is accepted (insufficient_balance
// with the balance; no stock, no limit allowance and no money taken). The
// buyer tops up and buys up to the per-buyer limit; a retried order holds
// once; an order over the limit is refused and its hold given back; every
// accepted order is paid from its hold, and the ledger sums to the
// balances.
func TestEdgeRefusesAWalletOrderUpFront(t *testing.T) {
	for _, b := range backings(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			logger := slog.New(slog.DiscardHandler)
			cfg := fastCheckout()
			ctl, err := checkout.NewControl(checkout.ControlParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg, Store: b.orders})
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, ctl.Run)
			drop := checkout.Drop{ID: "wh", Stream: "cam1", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: 10, MaxPerBuyer: 3}}}
			if _, err := ctl.CreateDrop(ctx, drop); err != nil {
				t.Fatal(err)
			}
			if err := ctl.Open(ctx, drop.ID); err != nil {
				t.Fatal(err)
			}
			m, _ := NewMetrics(nil)
			card := checkout.NewTestProvider(cfg.Payment)
			pay := NewPayments(card, b.wallet, m, time.Now, logger)
			e, err := checkout.NewEdge(checkout.EdgeParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg,
				DataDir: t.TempDir(), EdgeID: "e1", Store: b.orders, Payment: pay})
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, e.Run)
			<-e.Ready()
			const who = "e-aaaaaaaaaaaaaaaaaaaaaaaaaa"
			order := func(key string, qty int) (checkout.Order, error) {
				return e.PlaceOrder(ctx, checkout.OrderRequest{Drop: drop.ID, SKU: "tee", Qty: qty, Buyer: who, IdempotencyKey: key, Pay: checkout.PayWallet})
			}
			w := NewWallets(b.wallet, card, m, time.Now)

			// An empty wallet: refused up front, with the balance.
			_, err = order("k1", 2)
			pr, ok := errors.AsType[*checkout.PaymentRefusal](err)
			if !ok || pr.Code != "insufficient_balance" || pr.BalanceCents != 0 || pr.Currency != "EUR" {
				t.Fatalf("order over an empty wallet: %v (%+v)", err, pr)
			}
			if want := "Wallet balance too low: 0.00 EUR left, this order costs 50.00 EUR. Top up and tap again."; err.Error() != want {
				t.Errorf("refusal %q, want %q", err.Error(), want)
			}
			if led, _ := b.wallet.Ledger(ctx); len(led) != 0 {
				t.Errorf("a refused order wrote %d ledger entries", len(led))
			}

			// Topped up for exactly the limit: the limit is all there.
			if _, err := w.TopUp(ctx, who, "t1", 3*2500, "EUR"); err != nil {
				t.Fatal(err)
			}
			o1, err := order("k1", 2) // the same key, now covered
			if err != nil {
				t.Fatalf("order after the top-up: %v", err)
			}
			if again, err := order("k1", 2); err != nil || again.ID != o1.ID {
				t.Fatalf("retried order: %+v %v", again, err)
			}
			o2, err := order("k2", 1)
			if err != nil {
				t.Fatalf("the last unit of the limit: %v", err)
			}
			st, _ := w.Statement(ctx, who)
			if st.Balances["EUR"] != 0 { // held or already settled

				t.Errorf("wallet after two orders: balance %v held %v", st.Balances, st.Held)
			}
			// Over the limit (money to spare): refused, and its hold given back.
			if _, err := w.TopUp(ctx, who, "t2", 2500, "EUR"); err != nil {
				t.Fatal(err)
			}
			if _, err := order("k3", 1); checkout.ClassOf(err) != checkout.ClassLimit {
				t.Fatalf("order over the limit: %v", err)
			}
			waitUntil(t, 10*time.Second, "both orders paid", func() bool {
				a, err1 := b.orders.Order(ctx, o1.ID)
				c, err2 := b.orders.Order(ctx, o2.ID)
				return err1 == nil && err2 == nil && a.Status == checkout.StatusPaid && c.Status == checkout.StatusPaid
			})
			st, _ = w.Statement(ctx, who)
			if st.Balances["EUR"] != 2500 || st.Held["EUR"] != 0 {
				t.Errorf("wallet at the end: balance %v held %v, want 2500 and none", st.Balances, st.Held)
			}
			checkLedger(t, b.wallet)
			led, _ := b.wallet.Ledger(ctx)
			var holds, captures, releases int
			for _, e := range led {
				switch e.Kind {
				case KindHold:
					holds++
				case KindCapture:
					captures++
				case KindRelease:
					releases++
				}
			}
			if holds != 3 || captures != 2 || releases != 1 {
				t.Errorf("ledger: %d holds, %d captures, %d releases, want 3, 2, 1", holds, captures, releases)
			}
		})
	}
}

// fastCheckout is checkout's defaults with quick syncs and reaps and no
// per-buyer rate limit, for tests that buy in a tight loop.
func fastCheckout() checkout.Config {
	cfg := checkout.Defaults()
	cfg.SyncInterval, cfg.ReapInterval, cfg.RateLimitPerBuyer = 20*time.Millisecond, 50*time.Millisecond, 0
	return cfg
}
