package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/chrometest"
)

var leftRE = regexp.MustCompile(`^(\d+) left$`)

// TestShoppableOverlayEndToEnd runs the demo and drives it as its users
// do: the seller pins a product through the API; two viewers in headless
// Chromium see the card with its price and stock; one taps Buy and gets a
// confirmation; the other's counter drops; the drop's totals agree; the
// seller unpins and the cards go.
func TestShoppableOverlayEndToEnd(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP

	// Wrong token and malformed pins are refused.
	call(t, "POST", ctl+"/v1/streams/demo/overlays", "wrong-token-0123456789", `{"type":"product","drop":"demo-drop","sku":"tee"}`, 401)
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"demo-drop"`, 400)
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"demo-drop","sku":"nope"}`, 404)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	open := func() *chrometest.Page {
		t.Helper()
		p, err := b.Open(ctx, edgeURL+"/watch/demo")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if err := p.SetViewport(ctx, 360, 740); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 30*time.Second); err != nil {
			t.Fatalf("viewer page not playing: %v (console %v)", err, p.Console())
		}
		return p
	}
	buyer := open()

	body := call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"demo-drop","sku":"tee"}`, 201)
	var pinned struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &pinned); err != nil || pinned.ID == "" {
		t.Fatalf("pin answer %s (%v)", body, err)
	}
	cardShown := `(() => { const c = document.querySelector('[data-testid="product-card"]');
		return !!c && c.getBoundingClientRect().height > 0 && /\d+ left/.test(c.querySelector('[data-testid="stock-left"]').textContent) })()`
	if err := buyer.WaitFor(ctx, cardShown, 15*time.Second); err != nil {
		t.Fatalf("card never shown: %v (console %v)", err, buyer.Console())
	}
	// A viewer who arrives after the pin sees the card at once.
	watcher := open()
	if err := watcher.WaitFor(ctx, cardShown, 10*time.Second); err != nil {
		t.Fatalf("late viewer has no card: %v", err)
	}
	if price, _ := buyer.Text(ctx, `[data-testid="price"]`); !strings.Contains(price, "25.00") || !strings.Contains(price, "€") {
		t.Fatalf("price reads %q, want €25.00", price)
	}
	stockOf := func(p *chrometest.Page) int {
		t.Helper()
		txt, err := p.Text(ctx, `[data-testid="stock-left"]`)
		m := leftRE.FindStringSubmatch(strings.TrimSpace(txt))
		if err != nil || m == nil {
			t.Fatalf("stock reads %q (%v)", txt, err)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before := stockOf(watcher)

	if err := buyer.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	// The sign-in step: this buyer continues as a guest.
	if err := buyer.WaitFor(ctx, `!document.querySelector('[data-testid="signin"]').hidden`, 10*time.Second); err != nil {
		t.Fatalf("no sign-in step before the first purchase: %v", err)
	}
	if err := buyer.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	if err := buyer.WaitFor(ctx, `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`, 15*time.Second); err != nil {
		st, _ := buyer.Text(ctx, `[data-testid="order-status"]`)
		t.Fatalf("no confirmation: status %q: %v", st, err)
	}
	waitFor(t, 15*time.Second, "the other viewer's counter to drop", func() bool { return stockOf(watcher) < before })

	if err := buyer.Screenshot(ctx, filepath.Join(t.TempDir(), "watch-card.png")); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("LIVEDROP_ARTIFACTS"); dir != "" {
		_ = buyer.Screenshot(ctx, filepath.Join(dir, "viewer-card.png"))
	}

	var totals struct {
		SKUs []struct {
			SKU  string `json:"sku"`
			Sold int    `json:"sold"`
		} `json:"skus"`
	}
	waitFor(t, 10*time.Second, "the drop's totals to count the order", func() bool {
		_ = json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/"+app.SampleDropID, demoToken, "", 200)), &totals)
		for _, s := range totals.SKUs {
			if s.SKU == "tee" {
				return s.Sold == 1
			}
		}
		return false
	})

	call(t, "DELETE", ctl+"/v1/streams/demo/overlays/"+pinned.ID, demoToken, "", 204)
	gone := `!document.querySelector('[data-testid="product-card"]')`
	for _, p := range []*chrometest.Page{buyer, watcher} {
		if err := p.WaitFor(ctx, gone, 10*time.Second); err != nil {
			t.Fatal("card still shown after unpin")
		}
	}
}
