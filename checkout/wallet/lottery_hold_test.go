package wallet

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// TestWalletLotteryEntryHeld: an opening lottery's entry paid from the
// wallet holds its price at entry (a retry holds once, a balance too low is
// refused up front with no entry), the origin's reconciler leaves the holds
// of entries in line alone, and the draw gives back every loser's hold: the
// winner's money is there and pays the won order, the loser's balance is
// whole again. The ledger sums to the balances.
func TestWalletLotteryEntryHeld(t *testing.T) {
	for _, b := range backings(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			logger := slog.New(slog.DiscardHandler)
			cfg := fastCheckout()
			m, _ := NewMetrics(nil)
			card := checkout.NewTestProvider(cfg.Payment)
			pay := NewPayments(card, b.wallet, m, time.Now, logger)
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			var mu sync.Mutex
			clock := t0
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
			ctl, err := checkout.NewControl(checkout.ControlParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg,
				Store: b.orders, Payment: pay, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, ctl.Run)
			drop := checkout.Drop{ID: "wl", Stream: "cam1", OpensAt: t0.Add(time.Second), Lottery: &checkout.Lottery{WindowMs: 2000},
				SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: 1, MaxPerBuyer: 1}}}
			if _, err := ctl.CreateDrop(ctx, drop); err != nil {
				t.Fatal(err)
			}
			e, err := checkout.NewEdge(checkout.EdgeParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg,
				DataDir: t.TempDir(), EdgeID: "e1", Store: b.orders, Payment: pay})
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, e.Run)
			<-e.Ready()
			const ann, bob, cat = "e-aaaaaaaaaaaaaaaaaaaaaaaaaa", "e-bbbbbbbbbbbbbbbbbbbbbbbbbb", "e-cccccccccccccccccccccccccc"
			w := NewWallets(b.wallet, card, m, time.Now)
			for who, cents := range map[string]int64{ann: 5000, bob: 5000, cat: 1000} {
				if _, err := w.TopUp(ctx, who, "t1", cents, "EUR"); err != nil {
					t.Fatal(err)
				}
			}
			enter := func(who string) (checkout.Order, error) {
				return e.PlaceOrder(ctx, checkout.OrderRequest{Drop: drop.ID, SKU: "tee", Qty: 1, Buyer: who, IdempotencyKey: "k-" + who, Pay: checkout.PayWallet})
			}
			wallet := func(who string, bal, held int64) {
				t.Helper()
				st, err := w.Statement(ctx, who)
				if err != nil {
					t.Fatal(err)
				}
				if st.Balances["EUR"] != bal || st.Held["EUR"] != held {
					t.Errorf("%s: balance %d held %d, want %d and %d", who[:3]+who[len(who)-3:], st.Balances["EUR"], st.Held["EUR"], bal, held)
				}
			}

			set(t0.Add(time.Second))
			waitUntil(t, 10*time.Second, "the lottery window", func() bool {
				d, err := b.orders.Drop(ctx, drop.ID)
				return err == nil && d.State == checkout.StateDrawing
			})
			waitUntil(t, 10*time.Second, "the edge to see the window", func() bool {
				_, err := enter(ann)
				return checkout.ClassOf(err) == checkout.ClassInLine
			})
			ids := map[string]string{}
			for _, who := range []string{ann, bob, ann} { // ann's retry holds once
				_, err := enter(who)
				var ee *checkout.EntryError
				if !errors.As(err, &ee) || checkout.ClassOf(err) != checkout.ClassInLine {
					t.Fatalf("entry: %v, want in line", err)
				}
				ids[who] = ee.Entry.ID
			}
			wallet(ann, 2500, 2500)
			wallet(bob, 2500, 2500)
			// Cat's 10.00 do not cover the entry: refused, no entry.
			_, err = enter(cat)
			if pr, ok := errors.AsType[*checkout.PaymentRefusal](err); !ok || pr.Code != "insufficient_balance" || pr.BalanceCents != 1000 {
				t.Fatalf("an entry over the balance: %v", err)
			}
			wallet(cat, 1000, 0)
			if es, err := b.orders.Entries(ctx, drop.ID); err != nil || len(es) != 2 {
				t.Fatalf("entries %+v %v, want ann's and bob's", es, err)
			}
			// The origin's reconciler leaves the holds of entries in line.
			if n, err := NewReconciler(b.wallet, b.orders, 0, time.Hour, nil, m, logger).Pass(ctx); err != nil || n != 0 {
				t.Fatalf("reconciler in the window: released %d, %v; want none", n, err)
			}
			wallet(ann, 2500, 2500)

			set(t0.Add(4 * time.Second))
			waitUntil(t, 10*time.Second, "the draw", func() bool {
				d, err := b.orders.Drop(ctx, drop.ID)
				return err == nil && d.State == checkout.StateOpen
			})
			winner, loser := "", ""
			for who, id := range ids {
				en, err := b.orders.Entry(ctx, drop.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if en.Result == checkout.EntryWon {
					winner = who
				} else {
					loser = who
				}
			}
			if winner == "" || loser == "" {
				t.Fatalf("the draw: winner %q loser %q", winner, loser)
			}
			wallet(loser, 5000, 0)     // given back at the draw
			wallet(winner, 2500, 2500) // still held for the won order
			o, err := enter(winner)    // the winner's page asks again: the won order, paid from the hold
			if err != nil || o.ID != ids[winner] {
				t.Fatalf("the winner's order: %+v %v", o, err)
			}
			waitUntil(t, 10*time.Second, "the won order paid", func() bool {
				got, err := b.orders.Order(ctx, o.ID)
				return err == nil && got.Status == checkout.StatusPaid
			})
			wallet(winner, 2500, 0)
			wallet(loser, 5000, 0)
			checkLedger(t, b.wallet)
		})
	}
}
