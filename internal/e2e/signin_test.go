package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestEmailSignInThenBuyInChromium runs the demo with a real SMTP relay
// (go-smtp, in the test) and drives the viewer page in headless Chromium:
// Buy asks to sign in; the buyer enters their email, the code arrives by
// mail and is typed into the page, and the purchase goes through as that
// email buyer. GET /v1/me/orders lists the order for them; another buyer
// (a guest) sees none of it, and the order id alone reads nothing. The
// viewer came from ?ch=qr: the order, placed after sign-in, is booked to qr.
func TestEmailSignInThenBuyInChromium(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	addrs, _ := startDemo(t, map[string]string{
		"LIVEDROP_BUYER_SMTP_ADDR": mail.Addr(), "LIVEDROP_BUYER_SMTP_TLS": "none",
		"LIVEDROP_BUYER_SMTP_FROM": "Shop <codes@shop.example>",
	})
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"`+app.SampleDropID+`","sku":"cap"}`, 201)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, err := b.Open(ctx, edgeURL+"/watch/demo?ch=qr") // came from the QR sign
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	wait := func(what, cond string) {
		t.Helper()
		if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
			st, _ := p.Text(ctx, `[data-testid="signin-status"]`)
			t.Fatalf("%s: %v (sign-in status %q, console %v)", what, err, st, p.Console())
		}
	}
	wait("the card", `!!document.querySelector('[data-testid="product-card"] [data-testid="buy"]')`)
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the sign-in step", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-email"]`, "Ann.Buyer@Example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-marketing"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-send"]`); err != nil {
		t.Fatal(err)
	}
	code, err := mail.Code("ann.buyer@example.com", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wait("the code step", `!document.querySelector('[data-testid="signin-code-step"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-code"]`, code); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-verify"]`); err != nil {
		t.Fatal(err)
	}
	wait("the confirmation", `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	if acct, _ := p.Text(ctx, `[data-testid="account"]`); acct != "Ann.Buyer@Example.com" {
		t.Errorf("account pill reads %q", acct)
	}

	var sess struct {
		Session string `json:"session"`
		Buyer   string `json:"buyer"`
		Kind    string `json:"kind"`
	}
	if err := p.Eval(ctx, `window.livedrop.buyerSession()`, &sess); err != nil {
		t.Fatal(err)
	}
	var orderID string
	if err := p.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &orderID); err != nil || orderID == "" {
		t.Fatalf("order id on the card: %q %v", orderID, err)
	}
	if sess.Kind != "email" || !strings.HasPrefix(sess.Buyer, "e-") || sess.Session == "" {
		t.Fatalf("page's session %+v, want an email buyer", sess)
	}

	// The buyer's own orders list it, booked to the email buyer.
	type myOrders struct {
		Buyer  string `json:"buyer"`
		Orders []struct {
			ID, Buyer, SKU, Token, Channel string
		} `json:"orders"`
	}
	mine := func(token string) myOrders {
		t.Helper()
		req, _ := http.NewRequest("GET", edgeURL+"/v1/me/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		var m myOrders
		if err := json.Unmarshal([]byte(do(t, req, 200)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var got myOrders
	waitFor(t, 10*time.Second, "the order in /v1/me/orders", func() bool { got = mine(sess.Session); return len(got.Orders) == 1 })
	if o := got.Orders[0]; got.Buyer != sess.Buyer || o.ID != orderID || o.Buyer != sess.Buyer || o.SKU != "cap" || o.Token == "" || o.Channel != "qr" {
		t.Fatalf("my orders %+v, want order %s of buyer %s", got, orderID, sess.Buyer)
	}
	call(t, "GET", edgeURL+"/v1/orders/"+orderID+"?token="+got.Orders[0].Token, "", "", 200)

	// Another buyer signs in (a guest) and cannot read it.
	guest := call(t, "POST", edgeURL+"/v1/signin/guest", "", `{"device":"d-other-device-0001"}`, 200)
	var g struct {
		Session, Buyer string
	}
	if err := json.Unmarshal([]byte(guest), &g); err != nil || g.Session == "" || g.Buyer == sess.Buyer {
		t.Fatalf("guest sign-in %s (%v)", guest, err)
	}
	if other := mine(g.Session); other.Buyer != g.Buyer || len(other.Orders) != 0 {
		t.Fatalf("another buyer's /v1/me/orders: %+v", other)
	}
	call(t, "GET", edgeURL+"/v1/orders/"+orderID, g.Session, "", 403) // a session is not the order's token
	// The edge counts it.
	metrics := call(t, "GET", edgeURL+"/metrics", "", "", 200)
	for _, want := range []string{`livedrop_buyer_signins_total{method="email",result="ok"} 1`, `livedrop_buyer_signins_total{method="guest",result="ok"} 1`,
		`livedrop_buyer_codes_sent_total{result="sent"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("edge /metrics lacks %s", want)
		}
	}
	// The order counts for its channel in the event KPIs.
	qrCounted := false
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "livedrop_event_orders_total{") && strings.Contains(line, `channel="qr"`) && strings.HasSuffix(line, " 1") {
			qrCounted = true
		}
	}
	if !qrCounted {
		t.Errorf("edge /metrics lacks livedrop_event_orders_total{channel=\"qr\",...} 1")
	}
	// The mail: to the buyer, from the configured sender, with the code.
	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].From != "codes@shop.example" || !strings.Contains(msgs[0].Data, code) {
		t.Fatalf("mails %+v", msgs)
	}
	// The consent ticked at sign-in counts in the event report for the
	// page's channel and the edge's region (the demo's edge is "local").
	type consents struct {
		NewConsents int `json:"new_consents"`
	}
	var rep struct {
		Total     consents            `json:"total"`
		ByChannel map[string]consents `json:"by_channel"`
		ByRegion  map[string]consents `json:"by_region"`
	}
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/"+app.SampleDropID+"/report?from="+from, demoToken, "", 200)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.NewConsents != 1 || rep.ByChannel["qr"].NewConsents != 1 || rep.ByRegion["local"].NewConsents != 1 {
		t.Errorf("report's new consents: total %d, by channel %v, by region %v; want 1 of qr, local", rep.Total.NewConsents, rep.ByChannel, rep.ByRegion)
	}
}
