package auction

import (
	"context"
	"fmt"
	"strings"

	"github.com/livedrop/livedrop/checkout"
)

// Bids paid from the wallet: a bid with pay=wallet holds its ceiling on
// the buyer's balance before the store takes it (at the first bid, raised
// with each higher one; with hold_at_win nothing is held until the win),
// a bid the store refuses gives back what it raised, the lot's record of
// the buyer's hold says "wallet" so the closer settles the winner's order
// from the wallet at the price and releases the losers'.

// BidHolder is a payment provider that holds bids up front (a
// *wallet.Payments). Both calls are idempotent by the hold's order id.
type BidHolder interface {
	// HoldBid makes the hold of req.OrderID at least req.AmountCents and
	// says what it held before (0: nothing); a balance too low is a
	// *checkout.PaymentRefusal.
	HoldBid(ctx context.Context, req checkout.PaymentRequest) (before int64, err error)
	// UnholdBid takes a hold HoldBid raised to req.AmountCents back to
	// before (0 releases it).
	UnholdBid(ctx context.Context, req checkout.PaymentRequest, before int64) error
}

// walletAuth is the lot's record of a buyer whose bids the wallet pays:
// the hold's order id after the method, as the wallet names its
// authorizations.
func walletAuth(lot, buyer string) string { return checkout.PayWallet + ":" + HoldID(lot, buyer) }

// payOf is the payment method of a recorded hold.
func payOf(auth string) string {
	if strings.HasPrefix(auth, checkout.PayWallet+":") {
		return checkout.PayWallet
	}
	return ""
}

// bidHold is the wallet hold a bid raised, to undo if the bid is refused.
type bidHold struct {
	req    checkout.PaymentRequest
	before int64
	holder BidHolder
}

// holdBid holds a wallet bid's ceiling before the bid is taken (nil for a
// card bid, or a wallet bid with hold_at_win).
func (e *Edge) holdBid(ctx context.Context, req BidRequest) (*bidHold, error) {
	if req.Pay == "" {
		return nil, nil
	}
	if req.Pay != checkout.PayWallet {
		return nil, fmt.Errorf("pay must be empty (card) or %q: %w", checkout.PayWallet, ErrInvalid)
	}
	bh, ok := e.pay.(BidHolder)
	if !ok {
		return nil, fmt.Errorf("this edge takes no wallet bids: %w", ErrInvalid)
	}
	if err := req.Bid.Validate(); err != nil {
		return nil, err
	}
	if e.holdOn != HoldOnBid {
		return nil, nil
	}
	l, err := e.Def(ctx, req.Lot)
	if err != nil {
		return nil, err
	}
	h := &bidHold{holder: bh, req: checkout.PaymentRequest{OrderID: HoldID(req.Lot, req.Bid.Buyer), Buyer: req.Bid.Buyer,
		AmountCents: max(req.Bid.AmountCents, req.Bid.MaxCents), Currency: l.Currency, Method: checkout.PayWallet}}
	if h.before, err = bh.HoldBid(ctx, h.req); err != nil {
		return nil, err
	}
	return h, nil
}

// settleBidHold records a taken wallet bid on the lot (the closer then
// settles or releases it from the wallet) and gives back what a refused
// bid raised. A store that did not answer may have taken the bid: the
// hold stays for the closer.
func (e *Edge) settleBidHold(ctx context.Context, req BidRequest, h *bidHold, a Answer, err error) {
	if req.Pay != checkout.PayWallet || err != nil {
		return
	}
	if a.Result == Accepted || a.Result == Outbid { // a valid bid: the buyer bids on the lot
		if serr := e.store.SetHold(ctx, req.Lot, req.Bid.Buyer, walletAuth(req.Lot, req.Bid.Buyer)); serr != nil {
			e.logger.Warn("wallet bid not recorded on the lot", "lot", req.Lot, "err", serr)
		}
	}
	// A bid that does not lead cannot win at its ceiling: what it raised
	// goes back (a higher bid later holds again).
	if h != nil && a.Result != Accepted {
		if uerr := h.holder.UnholdBid(ctx, h.req, h.before); uerr != nil {
			e.logger.Warn("wallet bid hold not given back", "lot", req.Lot, "err", uerr)
		}
	}
}

// RefusedGuest counts a guest's wallet bid refused at the HTTP layer (a
// guest has no wallet), if the edge's payments count such refusals.
func (e *Edge) RefusedGuest() {
	if c, ok := e.pay.(checkout.GuestRefusals); ok {
		c.RefusedGuest()
	}
}
