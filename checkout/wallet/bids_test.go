package wallet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
)

// TestWalletBids: bids with pay=wallet hold their ceiling on the balance
// before the store takes them: a bid the balance does not cover is refused
// up front (insufficient_balance, no bid, no hold), a raise holds the
// difference, a bid that does not lead gives back what it raised; when
// the lot ends the winner's order is paid from the wallet at the price
// (the rest of the hold goes back) and the loser's hold is released. The
// ledger sums to the balances at the end.
func TestWalletBids(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			r := newBidRig(t, s, auction.HoldOnBid, nil, []string{"g1"}, map[string]int64{"ann": 5000, "bob": 3000, "cat": 500})
			lots, orders, e, closer := r.lots, r.orders, r.edge, r.closer
			bid := func(who, key string, maxCents int64) (auction.Answer, error) {
				return e.Bid(ctx, auction.BidRequest{Lot: "g1", Key: key, Pay: checkout.PayWallet, Bid: auction.Bid{Buyer: who, MaxCents: maxCents}})
			}
			wallet := func(who string) (bal, held int64) {
				st, err := s.Statement(ctx, who, 1)
				if err != nil {
					t.Fatal(err)
				}
				return st.Balances["EUR"], st.Held["EUR"]
			}
			// Too little in the wallet: refused before the store sees it.
			_, err := bid("cat", "c1", 1000)
			if pr, ok := errors.AsType[*checkout.PaymentRefusal](err); !ok || pr.Code != "insufficient_balance" || pr.BalanceCents != 500 {
				t.Fatalf("a bid over the balance: %v", err)
			}
			if snap, _ := lots.Lot(ctx, "g1"); snap.State.Leader != "" {
				t.Fatalf("a refused bid leads: %+v", snap.State)
			}
			for _, c := range []struct {
				who, key string
				max      int64
				want     auction.Result
				bal      int64
				held     int64
			}{
				{"ann", "a1", 2000, auction.Accepted, 3000, 2000},
				{"ann", "a1", 2000, auction.Accepted, 3000, 2000}, // a retry holds once
				{"bob", "b1", 2500, auction.Accepted, 500, 2500},
				{"ann", "a2", 4000, auction.Accepted, 1000, 4000}, // a raise holds the difference
				{"bob", "b2", 2800, auction.Outbid, 500, 2500},    // not leading: the raise goes back
			} {
				a, err := bid(c.who, c.key, c.max)
				if err != nil || a.Result != c.want {
					t.Fatalf("%s bids %d: %+v %v, want %s", c.who, c.max, a, err, c.want)
				}
				if bal, held := wallet(c.who); bal != c.bal || held != c.held {
					t.Errorf("%s after bidding %d: balance %d held %d, want %d and %d", c.who, c.max, bal, held, c.bal, c.held)
				}
			}
			r.advance(2 * time.Minute)
			if err := closer.Settle(ctx, "g1"); err != nil {
				t.Fatal(err)
			}
			o, err := orders.Order(ctx, auction.HoldID("g1", "ann"))
			if err != nil || o.Status != checkout.StatusPaid || o.Pay != checkout.PayWallet || o.TotalCents <= 2500 || o.TotalCents > 4000 {
				t.Fatalf("the won lot's order: %+v %v", o, err)
			}
			if bal, held := wallet("ann"); bal != 5000-o.TotalCents || held != 0 {
				t.Errorf("winner: balance %d held %d, want %d and 0", bal, held, 5000-o.TotalCents)
			}
			if bal, held := wallet("bob"); bal != 3000 || held != 0 {
				t.Errorf("loser: balance %d held %d, want 3000 and 0", bal, held)
			}
			if bal, held := wallet("cat"); bal != 500 || held != 0 {
				t.Errorf("refused: balance %d held %d", bal, held)
			}
			checkLedger(t, s)
		})
	}
}
