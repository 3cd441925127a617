package wallet

import (
	"context"
	"errors"

	"github.com/livedrop/livedrop/checkout"
)

// Bids paid from the wallet: an auction bid with pay=wallet holds its
// ceiling on the buyer's balance before the bid is taken (one hold per
// buyer and lot, raised as the buyer bids higher), the closer settles the
// winner's at the price and releases the losers'.

// HoldBid implements auction.BidHolder: buyer's hold for the lot (the
// order id req names) becomes at least req's amount; before is what it
// held until now (0: nothing). A balance too low is a
// *checkout.PaymentRefusal and changes nothing.
func (p *Payments) HoldBid(ctx context.Context, req checkout.PaymentRequest) (before int64, err error) {
	raw, err := p.store.HoldOf(ctx, req.OrderID)
	if err != nil {
		return 0, err
	}
	if cur, err := decodeHold(raw); err != nil {
		return 0, err
	} else if cur.State == HoldHeld {
		before = cur.AmountCents
	}
	_, changed, err := raiseHold(ctx, p.store, req.OrderID, req.Buyer, req.AmountCents, req.Currency, p.now(), true)
	switch {
	case errors.Is(err, ErrInsufficient):
		p.m.refuse("insufficient_balance")
		return 0, p.refusal(ctx, req, err, bidNeeds(req, before))
	case err != nil:
		p.m.hold("error")
		return 0, err
	case changed:
		p.m.hold("held")
	default:
		p.m.hold("replayed")
	}
	return before, nil
}

// UnholdBid implements auction.BidHolder: a bid refused gives back what
// its HoldBid raised (to before; 0 releases the hold), unless another
// bid of the buyer changed the hold since.
func (p *Payments) UnholdBid(ctx context.Context, req checkout.PaymentRequest, before int64) error {
	err := undoRaise(ctx, p.store, req.OrderID, req.AmountCents, before, p.now())
	if err == nil {
		p.m.hold("released")
	}
	return err
}

// bidNeeds says in words what a wallet bid refused for its balance holds:
// its ceiling, and what the buyer's earlier bids on the lot hold of it
// (a raise needs only the difference on top of the balance).
func bidNeeds(req checkout.PaymentRequest, before int64) string {
	s := "this bid holds " + Money(req.AmountCents, req.Currency)
	if before > 0 {
		s += " (" + Money(before, req.Currency) + " of it already held for your earlier bid)"
	}
	return s
}
