package wallet

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
)

// TestWalletBidsHoldAtWin: with checkout.auction.hold_at_win, wallet bids
// hold nothing while bidding (the balance reads as topped up); when the
// lot ends the winner's price is held and settled from the wallet and the
// loser keeps everything. A winner whose balance no longer covers the
// price at the win (spent elsewhere meanwhile) is not retried for ever:
// the order is cancelled (payment_declined), the lot closes unsold, no
// one's wallet changes, and settling again changes nothing.
func TestWalletBidsHoldAtWin(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			reg := prometheus.NewRegistry()
			cm, err := auction.NewCloserMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			r := newBidRig(t, s, auction.HoldOnWin, cm, []string{"w1", "w2"}, map[string]int64{"ann": 5000, "bob": 3000, "cat": 3000})
			lots, orders, e, closer := r.lots, r.orders, r.edge, r.closer
			bid := func(lot, who, key string, maxCents int64, want auction.Result) {
				t.Helper()
				a, err := e.Bid(ctx, auction.BidRequest{Lot: lot, Key: key, Pay: checkout.PayWallet, Bid: auction.Bid{Buyer: who, MaxCents: maxCents}})
				if err != nil || a.Result != want {
					t.Fatalf("%s bids %d on %s: %+v %v, want %s", who, maxCents, lot, a, err, want)
				}
			}
			wallet := func(who string, bal, held int64) {
				t.Helper()
				st, err := s.Statement(ctx, who, 1)
				if err != nil {
					t.Fatal(err)
				}
				if st.Balances["EUR"] != bal || st.Held["EUR"] != held {
					t.Errorf("%s: balance %d held %d, want %d and %d", who, st.Balances["EUR"], st.Held["EUR"], bal, held)
				}
			}
			counter := func(name string) float64 {
				t.Helper()
				mfs, err := reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, mf := range mfs {
					if mf.GetName() == name {
						return mf.GetMetric()[0].GetCounter().GetValue()
					}
				}
				return 0
			}

			// Bidding holds nothing.
			bid("w1", "ann", "a1", 4000, auction.Accepted)
			bid("w1", "bob", "b1", 2500, auction.Outbid)
			bid("w2", "cat", "c1", 2800, auction.Accepted)
			bid("w2", "bob", "b2", 2000, auction.Outbid)
			wallet("ann", 5000, 0)
			wallet("bob", 3000, 0)
			wallet("cat", 3000, 0)
			// Cat spends most of the wallet elsewhere before w2 ends.
			if _, _, err := HoldFor(ctx, s, "elsewhere", "cat", 2500, "EUR", time.Now()); err != nil {
				t.Fatal(err)
			}

			r.advance(2 * time.Minute)
			for _, id := range []string{"w1", "w2"} {
				if err := closer.Settle(ctx, id); err != nil {
					t.Fatalf("settle %s: %v", id, err)
				}
			}
			// w1: ann's price held and settled at the win.
			o, err := orders.Order(ctx, auction.HoldID("w1", "ann"))
			if err != nil || o.Status != checkout.StatusPaid || o.Pay != checkout.PayWallet || o.TotalCents <= 2500 || o.TotalCents > 4000 {
				t.Fatalf("w1's order: %+v %v, want paid from the wallet above 2500", o, err)
			}
			wallet("ann", 5000-o.TotalCents, 0)
			// w2: cat's 5.00 left do not cover the price: cancelled, unsold.
			o2, err := orders.Order(ctx, auction.HoldID("w2", "cat"))
			if err != nil || o2.Status != checkout.StatusCancelled || o2.Reason != auction.ReasonPaymentDeclined {
				t.Fatalf("w2's order: %+v %v, want cancelled, payment_declined", o2, err)
			}
			if snap, err := lots.Lot(ctx, "w2"); err != nil || !snap.Closed {
				t.Fatalf("w2 after the declined payment: %+v %v, want closed", snap, err)
			}
			wallet("cat", 500, 2500) // the other hold untouched, nothing taken for w2
			wallet("bob", 3000, 0)
			if won, unsold := counter("livedrop_auction_lots_won_total"), counter("livedrop_auction_lots_unsold_total"); won != 1 || unsold != 1 {
				t.Errorf("lots won %v, unsold %v: want 1 and 1", won, unsold)
			}
			// Settling again (a retry after a crash) changes nothing.
			if err := closer.Settle(ctx, "w2"); err != nil {
				t.Fatal(err)
			}
			wallet("cat", 500, 2500)
			if unsold := counter("livedrop_auction_lots_unsold_total"); unsold != 1 {
				t.Errorf("lots unsold %v after settling again, want 1", unsold)
			}
			checkLedger(t, s)
		})
	}
}
