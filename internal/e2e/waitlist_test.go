package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestWaitlistUnitCameFreeInChromium: a one-unit lottery drop, two
// viewers in headless Chromium enter in the window; after the draw one has
// won, the other reads "Sold out · you are #1 on the waitlist". The seller
// refunds the winner's order with its stock returned: the waitlisted page,
// still reading its entry, says "A unit came free for you (waitlist #1):
// order confirmed" with the order the drop then holds for that buyer.
func TestWaitlistUnitCameFreeInChromium(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	const windowMs = 20000 // two tabs open and tap on a shared, slow machine
	opens := time.Now().UTC().Add(500 * time.Millisecond).Format(time.RFC3339Nano)
	call(t, "POST", ctl+"/v1/drops", demoToken, fmt.Sprintf(`{"id":"wlweb","stream":"demo","opens_at":%q,
		"lottery":{"window_ms":%d},"skus":[{"sku":"tee","name":"Waitlist Tee","price_cents":2500,"currency":"EUR","stock":1}]}`,
		opens, windowMs), 201)
	state := func() string {
		var v struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/wlweb", demoToken, "", 200)), &v); err != nil {
			t.Fatal(err)
		}
		return v.State
	}
	waitFor(t, 15*time.Second, "the lottery window", func() bool { return state() == "drawing" })
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"wlweb","sku":"tee"}`, 201)
	windowEnds := time.Now().Add(windowMs * time.Millisecond)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	status := `document.querySelector('[data-testid="order-status"]').textContent`
	tap := func(name string) *chrometest.Page {
		t.Helper()
		p, err := b.Open(ctx, edgeURL+"/watch/demo")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if err := p.WaitFor(ctx, `!!document.querySelector('[data-testid="product-card"] [data-testid="buy"]')`, 20*time.Second); err != nil {
			t.Fatalf("%s: no card: %v (console %v)", name, err, p.Console())
		}
		// Tabs share the profile's storage: each viewer is its own guest.
		var signedOut bool
		if err := p.Eval(ctx, `document.querySelector('[data-testid="account"]').hidden`, &signedOut); err != nil {
			t.Fatal(err)
		}
		if !signedOut {
			if err := p.Click(ctx, `[data-testid="account"]`); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, `!document.querySelector('[data-testid="signin"]').hidden`, 10*time.Second); err != nil {
			t.Fatalf("%s: no sign-in step: %v", name, err)
		}
		if err := p.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, `/You're in line/.test(`+status+`)`, 20*time.Second); err != nil {
			st, _ := p.Text(ctx, `[data-testid="order-status"]`)
			t.Fatalf("%s: status %q, want You're in line: %v (console %v)", name, st, err, p.Console())
		}
		return p
	}
	pages := []*chrometest.Page{tap("first viewer"), tap("second viewer")}
	if time.Now().After(windowEnds) {
		t.Fatalf("the taps outlasted the %d ms window: the test proves nothing on this machine", windowMs)
	}
	waitFor(t, time.Until(windowEnds)+30*time.Second, "the draw", func() bool { return state() == "open" })
	var winner string
	var waiting *chrometest.Page
	for i, p := range pages {
		if err := p.WaitFor(ctx, `!/You're in line/.test(`+status+`)`, 30*time.Second); err != nil {
			t.Fatalf("viewer %d still in line after the draw: %v (console %v)", i, err, p.Console())
		}
		st, _ := p.Text(ctx, `[data-testid="order-status"]`)
		switch {
		case strings.HasPrefix(st, "You won!"):
			if err := p.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &winner); err != nil || winner == "" {
				t.Fatalf("viewer %d won without an order id: %v", i, err)
			}
		case st == "Sold out · you are #1 on the waitlist":
			waiting = p
		default:
			t.Fatalf("viewer %d reads %q after the draw", i, st)
		}
	}
	if winner == "" || waiting == nil {
		t.Fatal("want one winner and one waitlisted viewer")
	}

	call(t, "POST", ctl+"/v1/orders/"+winner+"/refund", demoToken, `{"restock":true}`, 200)
	if err := waiting.WaitFor(ctx, `/^A unit came free for you \(waitlist #1\): order confirmed · #/.test(`+status+`)`, 30*time.Second); err != nil {
		st, _ := waiting.Text(ctx, `[data-testid="order-status"]`)
		t.Fatalf("the waitlisted page reads %q: %v (console %v)", st, err, waiting.Console())
	}
	var offered string
	if err := waiting.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &offered); err != nil || offered == "" || offered == winner {
		t.Fatalf("the offered order on the card: %q %v", offered, err)
	}
	var page struct {
		Orders []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"orders"`
	}
	if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/wlweb/orders", demoToken, "", 200)), &page); err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, o := range page.Orders {
		if o.Status == "pending" || o.Status == "paid" {
			live++
			if o.ID != offered {
				t.Fatalf("live order %s, want only the waitlisted buyer's %s", o.ID, offered)
			}
		}
	}
	if live != 1 {
		t.Fatalf("the drop's orders %+v, want the offered one live", page.Orders)
	}
}
