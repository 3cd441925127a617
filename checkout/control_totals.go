package checkout

import "context"

// A drop's revenue per currency in its live totals: with regional prices
// one SKU sells in several currencies, and the store's revenue counter of
// a SKU adds every order's total whatever its currency. Totals never add
// EUR to USD: a SKU's RevenueCents is its own currency's, and
// Totals.RevenueByCurrency and SKURevenueByCurrency hold each currency's.

// splitRevenue fills t's revenue per currency from d's orders when d sells
// in a currency other than a SKU's own (a regional price), else from the
// store's counters. Counted like the counter: accepted orders not
// cancelled or refunded. The orders are the report's cached read
// (CachedSales: a status changed at an edge shows within reportMaxAge).
func (c *Control) splitRevenue(ctx context.Context, d Drop, t *Totals) error {
	t.RevenueByCurrency, t.SKURevenueByCurrency = map[string]int64{}, map[string]map[string]int64{}
	if !foreignPrices(d) {
		for _, s := range t.SKUs {
			t.SKURevenueByCurrency[s.SKU] = map[string]int64{s.Currency: s.RevenueCents}
			t.RevenueByCurrency[s.Currency] += s.RevenueCents
		}
		return nil
	}
	_, orders, err := c.CachedSales(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, s := range t.SKUs {
		t.SKURevenueByCurrency[s.SKU] = map[string]int64{s.Currency: 0}
	}
	for _, o := range orders {
		m := t.SKURevenueByCurrency[o.SKU]
		if o.Status == StatusCancelled || o.Status == StatusRefunded || m == nil {
			continue
		}
		m[o.Currency] += o.TotalCents
		t.RevenueByCurrency[o.Currency] += o.TotalCents
	}
	for i := range t.SKUs {
		s := &t.SKUs[i]
		s.RevenueCents = t.SKURevenueByCurrency[s.SKU][s.Currency]
	}
	return nil
}

// foreignPrices reports whether a SKU of d has a regional price in another
// currency than its own.
func foreignPrices(d Drop) bool {
	for _, k := range d.SKUs {
		for _, p := range k.Prices {
			if p.Currency != k.Currency {
				return true
			}
		}
	}
	return false
}
