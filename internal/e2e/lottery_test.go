package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestLotteryInLineInChromium drives an opening lottery as its viewers see
// it: a drop of one unit opens with a draw; two viewers in headless
// Chromium, each signed in as their own guest, tap Buy inside the window
// and read "You're in line"; after the draw one page reads "You won! Order
// confirmed" with the order the drop sold, the other "Sold out" with
// waitlist place 1.
func TestLotteryInLineInChromium(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	const windowMs = 20000 // two tabs open and tap on a shared, slow machine
	opens := time.Now().UTC().Add(500 * time.Millisecond).Format(time.RFC3339Nano)
	call(t, "POST", ctl+"/v1/drops", demoToken, fmt.Sprintf(`{"id":"lotweb","stream":"demo","opens_at":%q,
		"lottery":{"window_ms":%d},"skus":[{"sku":"tee","name":"Lottery Tee","price_cents":2500,"currency":"EUR","stock":1}]}`,
		opens, windowMs), 201)
	type dropView struct {
		State string `json:"state"`
		SKUs  []struct {
			Sold int `json:"sold"`
		} `json:"skus"`
	}
	view := func() dropView {
		var v dropView
		if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/lotweb", demoToken, "", 200)), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	waitFor(t, 15*time.Second, "the lottery window", func() bool { return view().State == "drawing" })
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"lotweb","sku":"tee"}`, 201)
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
		if err := p.SetViewport(ctx, 360, 740); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, `!!document.querySelector('[data-testid="product-card"] [data-testid="buy"]')`, 20*time.Second); err != nil {
			t.Fatalf("%s: no card: %v (console %v)", name, err, p.Console())
		}
		// Tabs share the profile's storage: the second viewer signs the
		// first out (the account button) and signs in as its own guest.
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
	for i, p := range pages {
		if st, _ := p.Text(ctx, `[data-testid="order-status"]`); !strings.Contains(st, "You're in line") {
			t.Fatalf("viewer %d reads %q in the window, want You're in line", i, st)
		}
	}

	waitFor(t, time.Until(windowEnds)+30*time.Second, "the draw", func() bool { return view().State == "open" })
	var won, lost []string
	for i, p := range pages {
		if err := p.WaitFor(ctx, `!/You're in line/.test(`+status+`)`, 30*time.Second); err != nil {
			t.Fatalf("viewer %d still in line after the draw: %v (console %v)", i, err, p.Console())
		}
		st, _ := p.Text(ctx, `[data-testid="order-status"]`)
		switch {
		case strings.HasPrefix(st, "You won! Order confirmed · #"):
			var id string
			if err := p.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &id); err != nil || id == "" {
				t.Fatalf("viewer %d won without an order id on the card: %q %v", i, id, err)
			}
			if !strings.HasSuffix(st, strings.ToUpper(id[len(id)-6:])) {
				t.Fatalf("viewer %d reads %q, want the order %s", i, st, id)
			}
			won = append(won, id)
		case st == "Sold out · you are #1 on the waitlist":
			lost = append(lost, st)
		default:
			t.Fatalf("viewer %d reads %q after the draw, want won or sold out with a waitlist place", i, st)
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("won %v, lost %v: want one of each for one unit and two entries", won, lost)
	}
	if v := view(); len(v.SKUs) != 1 || v.SKUs[0].Sold != 1 {
		t.Fatalf("drop after the draw: %+v, want one sold", v)
	}
}

// TestRSVPLinkShowsReservedUntil: a viewer who opens the page from an RSVP
// link (?rsvp=TOKEN) reads "1 reserved for you until HH:MM" on the card of
// the token's SKU, at the token's deadline in the viewer's local time, and
// nothing on another SKU's card.
func TestRSVPLinkShowsReservedUntil(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"`+app.SampleDropID+`","sku":"tee"}`, 201)
	deadline := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	// The page reads the token's fields in the clear (the edge verifies its
	// MAC at the order); this one is never sent.
	tok := fmt.Sprintf("r1.%s.tee.b1.1.%d.k1.mac", app.SampleDropID, deadline.Unix())
	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := b.Open(ctx, edgeURL+"/watch/demo?rsvp="+tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	want := "1 reserved for you until " + deadline.Local().Format("15:04")
	cond := fmt.Sprintf(`(() => { const c = document.querySelector('[data-testid="product-card"]');
		return !!c && c.querySelector('[data-testid="rsvp-reserved"]').textContent === %q })()`, want)
	if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
		got, _ := p.Text(ctx, `[data-testid="rsvp-reserved"]`)
		t.Fatalf("card reads %q, want %q: %v (console %v)", got, want, err, p.Console())
	}
}
