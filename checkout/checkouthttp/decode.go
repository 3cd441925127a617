package checkouthttp

import (
	"fmt"
	"io"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 4 << 10

// MaxDropBodyBytes bounds a drop definition (up to checkout.MaxSKUs SKUs).
const MaxDropBodyBytes = 64 << 10

// OrderBody is the JSON body of POST /v1/drops/{drop}/orders.
type OrderBody struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
	// Buyer is accepted and ignored: the buyer is the one of the
	// request's session (older pages still send a name here).
	Buyer string `json:"buyer,omitempty"`
	// RSVP is an RSVP token: the order buys the unit reserved for it.
	RSVP string `json:"rsvp,omitempty"`
	// Channel is where the buyer came from (the watch page's ?ch=, kept
	// across sign-in); anything but a valid token is "direct".
	Channel string `json:"channel,omitempty"`
	// Fulfilment is "" or "pickup" (at the stall, with a pickup code).
	Fulfilment string `json:"fulfilment,omitempty"`
	// Pay is the payment method: empty for card, "wallet" to pay from
	// the buyer's prepaid balance.
	Pay string `json:"pay,omitempty"`
}

// DecodeOrder reads an order body and checks its fields; errors wrap
// checkout.ErrInvalid.
func DecodeOrder(r io.Reader) (OrderBody, error) {
	var b OrderBody
	if err := jsonhttp.DecodeStrict(r, MaxBodyBytes, &b); err != nil {
		return OrderBody{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	switch {
	case !checkout.ValidID(b.SKU):
		return OrderBody{}, fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9_-]", checkout.ErrInvalid, checkout.MaxIDLen)
	case b.Qty < 1 || b.Qty > checkout.MaxQty:
		return OrderBody{}, fmt.Errorf("%w: qty must be 1-%d", checkout.ErrInvalid, checkout.MaxQty)
	case len(b.RSVP) > checkout.MaxRSVPTokenLen:
		return OrderBody{}, fmt.Errorf("%w: rsvp token longer than %d", checkout.ErrRSVPInvalid, checkout.MaxRSVPTokenLen)
	case !checkout.ValidFulfilment(b.Fulfilment):
		return OrderBody{}, fmt.Errorf("%w: fulfilment must be empty or %q", checkout.ErrInvalid, checkout.FulfilmentPickup)
	case b.Pay != "" && b.Pay != checkout.PayWallet:
		return OrderBody{}, fmt.Errorf("%w: pay must be empty (card) or %q", checkout.ErrInvalid, checkout.PayWallet)
	}
	b.Buyer = "" // never used: the session names the buyer
	return b, nil
}

// DecodeDrop reads a drop definition and validates it; errors wrap
// checkout.ErrInvalid.
func DecodeDrop(r io.Reader) (checkout.Drop, error) {
	var d checkout.Drop
	if err := jsonhttp.DecodeStrict(r, MaxDropBodyBytes, &d); err != nil {
		return checkout.Drop{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	if d.State != "" {
		return checkout.Drop{}, fmt.Errorf("%w: state is set by open and close, not on create", checkout.ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return checkout.Drop{}, err
	}
	return d, nil
}
