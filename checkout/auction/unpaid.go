package auction

import (
	"context"
	"fmt"

	"github.com/livedrop/livedrop/checkout"
)

// A won lot whose payment is declined at the win: with hold_at_win a
// wallet bid holds nothing while bidding, so the winner's balance may no
// longer cover the price when the lot ends (a card may be declined the
// same way). The closer does not retry that payment for ever (the lot
// would never close and the losers' holds never go back): the winner's
// order is cancelled with reason payment_declined, anything still held
// for it is given back, and the lot closes unsold (counted in
// livedrop_auction_lots_unsold_total) with no order recorded on it, so
// the report counts it unsold too. The seller can run the lot again.

// ReasonPaymentDeclined is the cancel reason of a won lot's order whose
// payment was declined at the win.
const ReasonPaymentDeclined = "payment_declined"

// unpaid cancels o, the order of a won lot whose payment declined with
// declined, and gives back the winner's hold auth (when there is one).
func (c *Closer) unpaid(ctx context.Context, o checkout.Order, auth string, declined error) (checkout.Order, error) {
	cancelled, err := c.p.Orders.Cancel(ctx, o.ID, ReasonPaymentDeclined)
	if err != nil {
		return o, fmt.Errorf("lot %s: cancel the unpaid order (%v): %w", o.SKU, declined, err)
	}
	if auth != "" {
		if err := c.p.Payments.Refund(ctx, auth); err != nil {
			c.logger.Warn("unpaid lot's hold not released", "lot", o.SKU, "err", err)
		}
	}
	return cancelled, nil
}
