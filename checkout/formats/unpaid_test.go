package formats_test

import (
	"context"
	"testing"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/formats"
)

// TestReportUnpaidLotIsUnsold: a lot won with hold_at_win whose payment
// is declined at the win (the card declines here; a wallet too low does
// the same) closes with its order cancelled and none recorded on it: the
// report counts it unsold, as livedrop_auction_lots_unsold_total does.
func TestReportUnpaidLotIsUnsold(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			pay := checkout.NewTestProvider(checkout.PaymentConfig{Decline: true})
			closer, err := auction.NewCloser(auction.CloserParams{Store: b.lots, Orders: b.orders, Payments: pay, HoldOn: auction.HoldOnWin})
			if err != nil {
				t.Fatal(err)
			}
			l := auction.Lot{ID: "unpaid", Title: "Clock", Currency: "EUR", StartCents: 1000, DurationMS: 60_000}
			l.Normalize()
			if err := b.lots.Create(ctx, l); err != nil {
				t.Fatal(err)
			}
			if _, err := b.lots.Start(ctx, l.ID); err != nil {
				t.Fatal(err)
			}
			if a, err := b.lots.Bid(ctx, auction.BidRequest{Lot: l.ID, Key: "k1", Bid: auction.Bid{Buyer: "amy", AmountCents: 1200}}); err != nil || a.Result != auction.Accepted {
				t.Fatalf("bid: %+v %v", a, err)
			}
			if _, err := b.lots.End(ctx, l.ID); err != nil {
				t.Fatal(err)
			}
			if err := closer.Settle(ctx, l.ID); err != nil {
				t.Fatalf("settle: %v", err)
			}
			snap, err := b.lots.Lot(ctx, l.ID)
			if err != nil || !snap.Closed || snap.OrderID != "" {
				t.Fatalf("the unpaid lot: %+v %v, want closed with no order", snap, err)
			}
			if o, err := b.orders.Order(ctx, auction.HoldID(l.ID, "amy")); err != nil || o.Status != checkout.StatusCancelled || o.Reason != auction.ReasonPaymentDeclined {
				t.Fatalf("the unpaid lot's order: %+v %v, want cancelled payment_declined", o, err)
			}
			ev, err := formats.New(formats.Params{Lots: b.lots}).Events(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Lots) != 1 || ev.Lots[0].Won {
				t.Fatalf("report lots %+v, want the one lot, not won", ev.Lots)
			}
		})
	}
}
