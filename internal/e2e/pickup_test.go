package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestPickupOrderInChromium runs the demo with a real SMTP relay: a viewer
// ticks "pick up at the stall", buys as an email buyer, and sees a pickup
// code with its QR on the confirmation; the same code arrives by email; the
// origin's pickup list has the order, and the seller's desk page (GET /desk)
// finds the typed code and marks it collected at the origin.
func TestPickupOrderInChromium(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	addrs, _ := startDemo(t, map[string]string{
		"LIVEDROP_BUYER_SMTP_ADDR": mail.Addr(), "LIVEDROP_BUYER_SMTP_TLS": "none",
	})
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"`+app.SampleDropID+`","sku":"cap"}`, 201)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	p, err := b.Open(ctx, edgeURL+"/watch/demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	wait := func(p *chrometest.Page, what, cond string) {
		t.Helper()
		if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
			t.Fatalf("%s: %v (console %v)", what, err, p.Console())
		}
	}
	wait(p, "the card", `!!document.querySelector('[data-testid="product-card"] [data-testid="pickup-choice"]')`)
	if err := p.Click(ctx, `[data-testid="pickup-choice"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait(p, "the sign-in step", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-email"]`, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-send"]`); err != nil {
		t.Fatal(err)
	}
	code, err := mail.Code("pat@example.com", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wait(p, "the code step", `!document.querySelector('[data-testid="signin-code-step"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-code"]`, code); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-verify"]`); err != nil {
		t.Fatal(err)
	}
	wait(p, "the pickup code on the confirmation", `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent) &&
		/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/.test((document.querySelector('[data-testid="pickup-code-text"]') || {}).textContent || '') &&
		(document.querySelector('[data-testid="pickup-code"] img') || {}).naturalWidth > 0`)
	shown, err := p.Text(ctx, `[data-testid="pickup-code-text"]`)
	if err != nil {
		t.Fatal(err)
	}

	// The same code by email.
	re := regexp.MustCompile(`Your pickup code is ([2-9A-Z]{4}-[2-9A-Z]{4})\.`)
	var mailed string
	waitFor(t, 15*time.Second, "the pickup email", func() bool {
		for _, m := range mail.Messages() {
			if g := re.FindStringSubmatch(m.Data); g != nil && len(m.To) == 1 && m.To[0] == "pat@example.com" {
				mailed = g[1]
				return true
			}
		}
		return false
	})
	if mailed != shown {
		t.Fatalf("page shows %s, email says %s", shown, mailed)
	}

	// The origin's pickup list has it; the desk collects it.
	var list struct {
		Items []struct {
			Display   string          `json:"display"`
			Collected json.RawMessage `json:"collected"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/pickups", demoToken, "", 200)), &list); err != nil || len(list.Items) != 1 || list.Items[0].Display != shown {
		t.Fatalf("pickup list %+v (%v), want the order with code %s", list, err, shown)
	}
	d, err := b.Open(ctx, ctl+"/desk?desk=stall")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.Type(ctx, `[data-testid="desk-token"]`, demoToken); err != nil {
		t.Fatal(err)
	}
	if err := d.Click(ctx, `[data-testid="desk-open"]`); err != nil {
		t.Fatal(err)
	}
	wait(d, "the desk's list", `window.livedropDesk && window.livedropDesk.listed() === 1`)
	if err := d.Type(ctx, `[data-testid="desk-code"]`, strings.ToLower(shown)+"\r"); err != nil {
		t.Fatal(err)
	}
	wait(d, "the order on the desk", `!document.querySelector('[data-testid="desk-collect"]').hidden`)
	if err := d.Click(ctx, `[data-testid="desk-collect"]`); err != nil {
		t.Fatal(err)
	}
	wait(d, "collected", `window.livedropDesk.unsynced() === 0 && window.livedropDesk.state('`+shown+`') === 'collected'`)
	got := call(t, "GET", ctl+"/v1/pickups/"+shown, demoToken, "", 200)
	if !strings.Contains(got, `"desk":"stall"`) {
		t.Fatalf("origin's read of %s: %s", shown, got)
	}
	if m := call(t, "GET", ctl+"/metrics", "", "", 200); !strings.Contains(m, "livedrop_pickup_collected_total 1") {
		t.Error("origin /metrics lacks livedrop_pickup_collected_total 1")
	}
	if m := call(t, "GET", edgeURL+"/metrics", "", "", 200); !strings.Contains(m, `livedrop_pickup_notices_total{result="sent"} 1`) {
		t.Error(`edge /metrics lacks livedrop_pickup_notices_total{result="sent"} 1`)
	}
}
