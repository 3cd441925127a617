package overlay

import (
	"context"
	"testing"

	"github.com/livedrop/livedrop/checkout"
)

// pricedStock is a stock source whose edge has a price for its region.
type pricedStock struct {
	fakeStock
	prices map[string]checkout.RegionalPrice // sku -> price
}

func (p *pricedStock) RegionalPrice(_ context.Context, drop, sku string) (checkout.RegionalPrice, bool) {
	v, ok := p.prices[sku]
	return v, ok && drop == "d1"
}

// TestEdgeShowsRegionalPrice: a SKU with a price for this edge's region is
// shown at it (not converted, no member price); one without is converted
// as before.
func TestEdgeShowsRegionalPrice(t *testing.T) {
	cfg := testConfig()
	cfg.Currency, cfg.Rates = "USD", map[string]float64{"EUR": 1.08}
	stock := &pricedStock{prices: map[string]checkout.RegionalPrice{"tee": {Currency: "USD", Cents: 2900}}}
	h := newEdge(t, cfg, stock, nil, nil)
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)
	in := goldenProduct
	in.MemberPriceCents = 2000
	ingest(t, h, "cam1", encodeState(4, []Overlay{in}))
	st := recv(t, msgs)
	if got := st.Overlays[0]; got.PriceCents != 2900 || got.Currency != "USD" || got.MemberPriceCents != 0 {
		t.Fatalf("regional: %+v", got)
	}
	stock.prices = nil
	ingest(t, h, "cam1", encodeState(5, []Overlay{goldenProduct}))
	st = recv(t, msgs)
	if got := st.Overlays[0]; got.PriceCents != 2700 || got.Currency != "USD" {
		t.Fatalf("converted: %+v", got)
	}
}
