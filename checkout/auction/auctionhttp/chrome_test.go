package auctionhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/webui"
)

// TestAuctionCardInChromium opens the viewer page with ?lot= in headless
// Chromium: the card shows the lot and its countdown, one tap bids the
// going minimum with the buyer's session, another buyer's bid reaches the
// card live, and the hammer ends it.
func TestAuctionCardInChromium(t *testing.T) {
	lots := auction.NewMemStore(nil)
	orders, err := checkout.OpenMemStore(t.TempDir()+"/store.journal", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	closer, _ := auction.NewCloser(auction.CloserParams{Store: lots, Orders: orders, Payments: checkout.NewTestProvider(checkout.PaymentConfig{})})
	g, _ := guard.New(guard.Params{Config: guard.Defaults()})
	ctl, _ := NewControlAPI(lots, closer, token, g, nil)
	e, _ := auction.NewEdge(auction.EdgeParams{Store: lots})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	buyers := buyertest.New(t, "")
	api, _ := NewEdgeAPI(e, buyers.Sessions(), nil)
	ui, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.Register(mux)
	ctl.Register(mux)
	api.Register(mux)
	mux.HandleFunc("/whep/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no stream in this test", http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	l := auction.Lot{ID: "g1", Title: "Guitar", Currency: "EUR", StartCents: 1000, DurationMS: 120_000}
	l.Normalize()
	if err := lots.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := lots.Start(ctx, "g1"); err != nil {
		t.Fatal(err)
	}

	b := chrometest.Start(t)
	page, err := b.Open(ctx, srv.URL+"/watch/shop1")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	sess, _ := json.Marshal(map[string]string{"session": buyers.Token("alice"), "buyer": buyers.ID("alice"), "kind": "guest",
		"device": "test-device-0", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	var ok bool
	if err := page.Eval(ctx, `localStorage.setItem('livedrop.session', `+string(mustJSON(string(sess)))+`), true`, &ok); err != nil {
		t.Fatal(err)
	}
	if err := page.Navigate(ctx, srv.URL+"/watch/shop1?lot=g1"); err != nil {
		t.Fatal(err)
	}
	card := `document.querySelector('[data-testid="auction"]')`
	text := func(name string) string {
		return `document.querySelector('[data-testid="auction-` + name + `"]').textContent`
	}
	if err := page.WaitFor(ctx, `!`+card+`.hidden && `+text("price")+` === 'No bids yet' && /^\d+ s$/.test(`+text("timer")+`)`, 10*time.Second); err != nil {
		t.Fatalf("the card: %v; console: %v", err, page.Console())
	}
	if err := page.Click(ctx, `[data-testid="auction-bid"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, text("status")+` === 'You lead' && `+text("price")+`.includes('10') && `+text("leader")+` === 'leading: `+auction.Mask(buyers.ID("alice"))+`'`, 10*time.Second); err != nil {
		var got string
		_ = page.Eval(ctx, `[`+text("status")+`, `+text("price")+`, `+text("leader")+`, localStorage.getItem('livedrop.session')].join(' | ')`, &got)
		t.Fatalf("after one tap: %v; the card: %s", err, got)
	}
	// Bob outbids from elsewhere: the card follows live.
	if a, err := e.Bid(ctx, auction.BidRequest{Lot: "g1", Key: "b", Bid: auction.Bid{Buyer: buyers.ID("bob"), AmountCents: 2500}}); err != nil || a.Result != auction.Accepted {
		t.Fatalf("bob: %+v %v", a, err)
	}
	t0 := time.Now()
	if err := page.WaitFor(ctx, text("price")+`.includes('25') && `+text("leader")+` === 'leading: `+auction.Mask(buyers.ID("bob"))+`'`, 5*time.Second); err != nil {
		t.Fatalf("bob's bid on the card: %v", err)
	}
	t.Logf("another buyer's bid on the card after %v", time.Since(t0).Round(time.Millisecond))
	if _, err := lots.End(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, text("timer")+` === 'ended' && document.querySelector('[data-testid="auction-bid"]').disabled`, 5*time.Second); err != nil {
		t.Fatalf("after the hammer: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
