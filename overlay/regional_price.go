package overlay

import (
	"context"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// PriceSource is what a stock source also offers when a SKU can carry
// prices per region (*checkout.Edge does): the price this edge sells at.
type PriceSource interface {
	RegionalPrice(ctx context.Context, drop, sku string) (checkout.RegionalPrice, bool)
}

// priceReadTimeout bounds the one store read of a drop this edge had not
// seen, when its product card arrives.
const priceReadTimeout = 500 * time.Millisecond

// regionalPrice gives a product overlay the seller's price for this edge's
// region, when the SKU has one: the card then shows what the edge sells at
// (no conversion, no member price: those are of the base price).
func (h *EdgeHub) regionalPrice(o Overlay) (Overlay, bool) {
	ps, ok := h.stock.(PriceSource)
	if !ok || o.Drop == "" || o.SKU == "" {
		return o, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), priceReadTimeout)
	defer cancel()
	p, ok := ps.RegionalPrice(ctx, o.Drop, o.SKU)
	if !ok {
		return o, false
	}
	o.PriceCents, o.Currency, o.MemberPriceCents = p.Cents, p.Currency, 0
	return o, true
}
