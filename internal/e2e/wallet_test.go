package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestWalletTopUpAndPayInChromium drives the viewer page of the demo in
// headless Chromium: a guest turns on "Pay with wallet" on the card and
// taps Buy with an empty wallet (the card says the balance is too low and
// nothing is charged), tops up with the bar's button and taps Buy again; the order is paid
// from the balance (the wallet reads 50.00 - 25.00), the origin's
// liability says the same, and the seller's refund puts it back at once.
func TestWalletTopUpAndPayInChromium(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"`+app.SampleDropID+`","sku":"tee"}`, 201)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, err := b.Open(ctx, edgeURL+"/watch/demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	wait := func(what, cond string) {
		t.Helper()
		if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
			bal, _ := p.Text(ctx, `[data-testid="wallet-balance"]`)
			st, _ := p.Text(ctx, `[data-testid="order-status"]`)
			t.Fatalf("%s: %v (wallet %q, order status %q, console %v)", what, err, bal, st, p.Console())
		}
	}
	wait("the card with its wallet switch", `!!document.querySelector('[data-testid="product-card"] [data-testid="pay-wallet"]')`)
	if err := p.Eval(ctx, `(window.livedrop.signIn(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the sign-in dialog", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	wait("the signed-in guest", `window.livedrop.buyer() !== ''`)
	if err := p.Eval(ctx, `window.livedropWallet.refresh().then(() => true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the wallet in the bar", `!document.querySelector('[data-testid="wallet"]').hidden`)
	// An empty wallet: the tap is taken, then cancelled, and the card says why.
	if err := p.Click(ctx, `[data-testid="pay-wallet"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the refusal", `/Wallet balance too low/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	if err := p.Click(ctx, `[data-testid="wallet-topup"]`); err != nil {
		t.Fatal(err)
	}
	wait("the topped-up balance", `/50[.,]00/.test(document.querySelector('[data-testid="wallet-balance"]').textContent)`)
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the confirmation", `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	wait("the balance after paying", `/25[.,]00/.test(document.querySelector('[data-testid="wallet-balance"]').textContent)`)
	wait("paid from the wallet", `/Paid from wallet/.test(document.querySelector('[data-testid="order-status"]').textContent)`)

	var sess struct{ Session string }
	if err := p.Eval(ctx, `window.livedrop.buyerSession()`, &sess); err != nil {
		t.Fatal(err)
	}
	var orderID string
	if err := p.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &orderID); err != nil || orderID == "" {
		t.Fatalf("order id on the card: %q %v", orderID, err)
	}
	type statement struct {
		Balances map[string]int64
		Entries  []struct{ Kind, Order string }
	}
	mine := func() statement {
		t.Helper()
		req, _ := http.NewRequest("GET", edgeURL+"/v1/me/wallet", nil)
		req.Header.Set("Authorization", "Bearer "+sess.Session)
		var st statement
		if err := json.Unmarshal([]byte(do(t, req, 200)), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := mine(); st.Balances["EUR"] != 2500 || len(st.Entries) != 2 || st.Entries[0].Kind != "spend" || st.Entries[0].Order != orderID {
		t.Fatalf("wallet after the order: %+v", st)
	}
	var o struct{ ID, Status, Pay string }
	waitFor(t, 10*time.Second, "the order paid", func() bool {
		var mo struct {
			Orders []struct{ ID, Status, Pay string }
		}
		_ = json.Unmarshal([]byte(call(t, "GET", edgeURL+"/v1/me/orders", sess.Session, "", 200)), &mo)
		for _, x := range mo.Orders {
			if x.ID == orderID {
				o = x
			}
		}
		return o.ID == orderID && o.Status == "paid"
	})
	if o.Pay != "wallet" {
		t.Errorf("order pay %q, want wallet", o.Pay)
	}
	if l := call(t, "GET", ctl+"/v1/wallet/liability", demoToken, "", 200); !strings.Contains(l, `"EUR":2500`) {
		t.Errorf("liability %s, want EUR 2500", l)
	}
	call(t, "POST", ctl+"/v1/orders/"+orderID+"/refund", demoToken, `{}`, 200)
	if st := mine(); st.Balances["EUR"] != 5000 || st.Entries[0].Kind != "refund" {
		t.Fatalf("wallet right after the seller's refund: %+v", st)
	}
	if m := call(t, "GET", edgeURL+"/metrics", "", "", 200); !strings.Contains(m, `livedrop_wallet_spends_total{result="paid"} 1`) {
		t.Errorf("edge /metrics lacks livedrop_wallet_spends_total{result=\"paid\"} 1")
	}
	if m := call(t, "GET", ctl+"/metrics", "", "", 200); !strings.Contains(m, `livedrop_wallet_liability_cents{currency="EUR"} 5000`) {
		t.Errorf("origin /metrics lacks livedrop_wallet_liability_cents{currency=\"EUR\"} 5000")
	}
}
