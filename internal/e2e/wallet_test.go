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

// TestWalletTopUpAndPayInChromium drives the viewer page of the demo in
// headless Chromium: a guest turns on "Pay with wallet" on the card and
// taps Buy (the card says the wallet is for signed-in buyers, the bar has
// no top-up); signed in with an email, the same tap with an empty wallet
// is refused up front (the card says the balance is too low, with it, and
// nothing is ordered or charged); the buyer tops up with the bar's button
// and taps Buy again: the order is paid from the balance (the wallet reads
// 50.00 - 25.00), the origin's liability says the same, and the seller's
// refund puts it back at once.
func TestWalletTopUpAndPayInChromium(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	addrs, _ := startDemo(t, map[string]string{
		"LIVEDROP_BUYER_SMTP_ADDR": mail.Addr(), "LIVEDROP_BUYER_SMTP_TLS": "none",
	})
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
	wait("the guest's wallet bar", `!document.querySelector('[data-testid="wallet"]').hidden &&
		/sign in with your email/.test(document.querySelector('[data-testid="wallet-balance"]').textContent) &&
		document.querySelector('[data-testid="wallet-topup"]').hidden`)
	// A guest's wallet order: refused, and the card says why.
	if err := p.Click(ctx, `[data-testid="pay-wallet"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the guest's refusal", `/The wallet is for signed-in buyers/.test(document.querySelector('[data-testid="order-status"]').textContent)`)

	// Signed in with an email: the wallet is there, empty.
	if err := p.Eval(ctx, `(window.livedrop.signOut(), window.livedrop.signIn(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the sign-in dialog again", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-email"]`, "wes@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-send"]`); err != nil {
		t.Fatal(err)
	}
	code, err := mail.Code("wes@example.com", 15*time.Second)
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
	wait("the email buyer", `(window.livedrop.buyerSession() || {}).kind === 'email'`)
	if err := p.Eval(ctx, `window.livedropWallet.refresh().then(() => true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the empty wallet in the bar", `/Wallet \D*0[.,]00/.test(document.querySelector('[data-testid="wallet-balance"]').textContent) &&
		!document.querySelector('[data-testid="wallet-topup"]').hidden`)
	// An empty wallet: the tap is refused up front, and the card says why.
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the refusal", `/Wallet balance too low: 0[.,]00 EUR left, this order costs 25[.,]00 EUR/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	var signed struct{ Session string }
	if err := p.Eval(ctx, `window.livedrop.buyerSession()`, &signed); err != nil {
		t.Fatal(err)
	}
	var mine0 struct{ Orders []struct{ ID string } }
	if err := json.Unmarshal([]byte(call(t, "GET", edgeURL+"/v1/me/orders", signed.Session, "", 200)), &mine0); err != nil || len(mine0.Orders) != 0 {
		t.Fatalf("orders after the refusal: %+v %v, want none", mine0, err)
	}
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
	// top-up, then the order's hold and its capture (settled to the seller)
	if st := mine(); st.Balances["EUR"] != 2500 || len(st.Entries) != 3 || st.Entries[0].Kind != "capture" || st.Entries[0].Order != orderID ||
		st.Entries[1].Kind != "hold" {
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
	if m := call(t, "GET", edgeURL+"/metrics", "", "", 200); !strings.Contains(m, `livedrop_wallet_refused_total{reason="insufficient_balance"} 1`) ||
		!strings.Contains(m, `livedrop_wallet_holds_total{result="held"} 1`) {
		t.Errorf("edge /metrics lacks the refusal and the hold")
	}
	if m := call(t, "GET", ctl+"/metrics", "", "", 200); !strings.Contains(m, `livedrop_wallet_liability_cents{currency="EUR"} 5000`) {
		t.Errorf("origin /metrics lacks livedrop_wallet_liability_cents{currency=\"EUR\"} 5000")
	}
}
