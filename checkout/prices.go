package checkout

import (
	"context"
	"fmt"
	"slices"
)

// Prices per region: a SKU may carry a price in the currency of each edge
// region it sells in; an edge sells at its region's price, and the order
// records that price and currency.

// RegionalPrice is one region's price of a SKU, in Currency's minor units
// (internal/money).
type RegionalPrice struct {
	Currency string `json:"currency"`
	Cents    int64  `json:"cents"`
}

// MaxRegions bounds the regional prices of one SKU.
const MaxRegions = 50

func (d *Drop) validatePrices() error {
	for i, k := range d.SKUs {
		if len(k.Prices) > MaxRegions {
			return fmt.Errorf("%w: skus[%d].prices must hold at most %d regions", ErrInvalid, i, MaxRegions)
		}
		regions := make([]string, 0, len(k.Prices))
		for r := range k.Prices {
			regions = append(regions, r)
		}
		slices.Sort(regions) // the first bad region named, always the same
		for _, r := range regions {
			p := k.Prices[r]
			switch {
			case !ValidID(r):
				return fmt.Errorf("%w: skus[%d].prices: region %q must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, i, r, MaxIDLen)
			case !validCurrency(p.Currency):
				return fmt.Errorf("%w: skus[%d].prices.%s.currency must be 3 upper-case letters", ErrInvalid, i, r)
			case p.Cents < 0 || p.Cents > MaxPriceCent:
				return fmt.Errorf("%w: skus[%d].prices.%s.cents out of range", ErrInvalid, i, r)
			}
		}
	}
	return nil
}

// regionalTerms is the unit price and currency an edge of region sells def
// at: its region's price when it has one, else price (the base or member
// price memberTerms gave) in def's currency. A regional price applies to
// members too (the member price is in the base currency).
func regionalTerms(def SKU, region string, price int64) (int64, string) {
	if p, ok := def.Prices[region]; ok {
		return p.Cents, p.Currency
	}
	return price, def.Currency
}

// RegionalPrice is the price and currency this edge sells drop's SKU at,
// if the SKU has a price for its region (the overlay shows it on the
// product card); false when it has none or the drop cannot be read. A
// drop this edge has not seen yet is read from the store once.
func (e *Edge) RegionalPrice(ctx context.Context, drop, sku string) (RegionalPrice, bool) {
	if !ValidID(drop) {
		return RegionalPrice{}, false
	}
	ed, err := e.dropFor(ctx, drop)
	if err != nil {
		return RegionalPrice{}, false
	}
	_, sk := ed.stateAndSKU(sku)
	if sk == nil {
		return RegionalPrice{}, false
	}
	p, ok := sk.definition().Prices[e.region]
	return p, ok
}
